"""`python -m app.migrate`: bring the inventory database's schema up to date (the migration Job)."""

from pathlib import Path

from micromart_runtime import migrate

if __name__ == "__main__":
    raise SystemExit(migrate.main(Path(__file__).with_name("migrations"), "inventory"))

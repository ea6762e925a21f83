-- Units available per SKU.
CREATE TABLE stock (
    sku text PRIMARY KEY CHECK (sku ~ '^[A-Z0-9][A-Z0-9-]{0,31}$'),
    available integer NOT NULL CHECK (available >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO stock (sku, available) VALUES ('MM-1001', 42), ('MM-1002', 7), ('MM-1003', 0)
ON CONFLICT (sku) DO NOTHING;

"""`python -m benchmarks` (the Makefile's `make bench`)."""

import sys

from benchmarks.cli import main

sys.exit(main())

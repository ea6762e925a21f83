"""MicroMart inventory service."""

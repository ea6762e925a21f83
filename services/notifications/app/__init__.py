"""MicroMart notifications service."""

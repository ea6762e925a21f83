"""MicroMart gateway service."""

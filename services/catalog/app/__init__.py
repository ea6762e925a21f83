"""MicroMart catalog service."""

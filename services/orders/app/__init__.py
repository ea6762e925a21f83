"""MicroMart orders service."""

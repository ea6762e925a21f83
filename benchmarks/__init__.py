"""`make bench`: program evaluation speed and scaling, deploy critical path, blast radius.

Benchmarks report numbers; they assert nothing about them. Every timed run happens in a fresh
interpreter (`benchmarks.worker`) so import cost and peak memory are isolated and comparable.
"""

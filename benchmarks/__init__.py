"""`make bench`: the full user path's speed and scaling, deploy critical path, blast radius.

Benchmarks report numbers; they assert nothing about them. Every timed run is a fresh command as a
user types it (`benchmarks.measure`); compared runs are paired (`benchmarks.paired`).
"""

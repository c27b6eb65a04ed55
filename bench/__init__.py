"""Benchmarks: ``python -m bench.NAME``; each prints its figures as key=value on its last line."""

"""Benchmarks (not tests). Each `bench/<name>.py` has `main() -> None`, prints a table and
writes `bench/results/<name>.json` through `bench._report.report`.

Run one with `python -m bench.<name>`, all with `make bench` (`python -m bench`).
"""

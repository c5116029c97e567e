"""Benchmarks for the image service: `python -m bench` (or `make bench`) writes bench/results/."""

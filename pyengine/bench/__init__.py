"""Benchmarks of pyengine's stages (``python -m pyengine.bench.build``...)."""

"""Benchmarks of batchcreate; each module is runnable as a script (see its docstring)."""

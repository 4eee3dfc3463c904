"""Benchmarks of the registry against a peer (Datasette + SQLite FTS5): `python -m bench`, see
docs/benchmarks.md. generate.py makes the synthetic records; build.py the instances; latency.py,
mapping.py the measurements; servers.py runs the processes; report.py the tables and goals.
(load_test.py, a separate load test under an import, is not part of `python -m bench`.)"""

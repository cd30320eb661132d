"""Benchmarks of the overlay and query engine (``python -m benchmarks``, or ``./dev bench``).

Every figure is a ratio against the plain geopandas / shapely / DuckDB way, measured side by
side in the same run on the same data; see ``docs/performance.md``.
"""

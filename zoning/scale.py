"""Scale out: run site queries and point assignment partition by partition on dask.

``engine="dask"`` in :func:`zoning.query` / :func:`zoning.assign` (or passing a
``dask_geopandas.GeoDataFrame``) sends each partition of the sites through the same in-memory
code with the same plan index, so results are identical to the in-memory path; only memory
and parallelism change. Uses whatever dask scheduler is active: threads by default, or a
``distributed`` cluster (``Client(LocalCluster())``).
"""

from __future__ import annotations

from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd

from ._errors import CRSError, DependencyError
from .inputs import prepare

#: Default sites per partition when an in-memory frame is split for ``engine="dask"``.
ROWS_PER_PARTITION = 50_000


def _dask_geopandas():
    try:
        import dask_geopandas
    except ImportError as exc:  # pragma: no cover - the 'scale' extra is part of dev installs
        raise DependencyError("engine='dask' needs the 'scale' extra: "
                              "pip install 'zoning[scale]'") from exc
    return dask_geopandas


def is_dask(data) -> bool:
    """Whether ``data`` is a dask(-geopandas) collection."""
    return type(data).__module__.startswith(("dask_geopandas", "dask."))


def _as_dask(data, crs, npartitions: int | None, what: str):
    dgpd = _dask_geopandas()
    if is_dask(data):
        if data.crs is None:
            raise CRSError(f"{what} has no CRS; set one first, e.g. ddf.set_crs('EPSG:4326')")
        return data
    gdf = prepare(data, crs=crs, what=what)
    n = npartitions or max(2, -(-len(gdf) // ROWS_PER_PARTITION))
    return dgpd.from_geopandas(gdf, npartitions=min(n, len(gdf)))


def _shared(obj):
    """Put a large read-only object in the graph once (one key, shipped once per worker)."""
    import dask

    return dask.delayed(obj, pure=True, traverse=False)


def map_sites(func: Callable, sites, index, *, crs=None, npartitions=None,
              what: str = "sites"):
    """``func(prepared_partition, index)`` over every partition of ``sites``.

    Returns a computed GeoDataFrame for in-memory input, a lazy dask frame for dask input.
    """
    ddf = _as_dask(sites, crs, npartitions, what)
    if hasattr(index, "warm"):
        index.warm()
    meta = func(ddf._meta, index)

    ready = not is_dask(sites)      # an in-memory frame was prepared whole by _as_dask

    def run(part: gpd.GeoDataFrame, shared) -> gpd.GeoDataFrame:
        if len(part) == 0:
            return meta
        return func(part if ready else prepare(part, what=what), shared)

    out = ddf.map_partitions(run, _shared(index), meta=meta, align_dataframes=False)
    return out if is_dask(sites) else out.compute()


def map_assign(assign: Callable, points, grid, values: np.ndarray, *, predicate: str,
               crs=None, npartitions=None):
    """``assign(prepared_partition, grid, values, predicate)`` (the in-memory
    :func:`zoning.query.assign_prepared`) over every partition of ``points``."""
    ddf = _as_dask(points, crs, npartitions, "points")
    meta = pd.Series(pd.array(values)[:0], index=ddf._meta.index)

    ready = not is_dask(points)     # an in-memory frame was prepared whole by _as_dask

    def run(part: gpd.GeoDataFrame, shared) -> pd.Series:
        if len(part) == 0:
            return meta
        g, v = shared
        return assign(part if ready else prepare(part, what="points"), g, v, predicate)

    out = ddf.map_partitions(run, _shared((grid, values)), meta=meta, align_dataframes=False)
    return out if is_dask(points) else out.compute()

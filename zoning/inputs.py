"""Preparing user input (sites, projects, parcels, authoritative layers) for the library.

One place decides what bad input means: a missing CRS is an error, another CRS is reprojected,
invalid geometries are repaired with a warning or rejected, empty and null geometries are
rejected — each with a message naming the row and the problem.
"""

from __future__ import annotations

import warnings
from functools import cache
from typing import Literal

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from ._errors import CRSError, GeometryInputError
from .model import CRS


class GeometryRepairWarning(UserWarning):
    """Invalid input geometries were repaired with ``shapely.make_valid``."""


def as_geodataframe(data, crs=None) -> gpd.GeoDataFrame:
    """Accept a GeoDataFrame, GeoSeries, shapely geometry or list of geometries.

    Bare shapely geometries carry no CRS, so ``crs`` must be given for them.
    """
    if isinstance(data, gpd.GeoDataFrame):
        return data
    if isinstance(data, gpd.GeoSeries):
        return gpd.GeoDataFrame(geometry=data)
    if isinstance(data, shapely.Geometry):
        data = [data]
    if isinstance(data, (list, tuple, np.ndarray)) and all(
            isinstance(g, shapely.Geometry) for g in data):
        if crs is None:
            raise CRSError("shapely geometries carry no CRS: pass crs= (e.g. crs='EPSG:4326')")
        return gpd.GeoDataFrame(geometry=list(data), crs=crs)
    raise GeometryInputError(f"expected a GeoDataFrame, GeoSeries or shapely geometry, "
                             f"got {type(data).__name__}")


@cache
def _wgs84() -> pyproj.CRS:
    return pyproj.CRS.from_user_input(CRS)


def prepare(data, *, crs=None, invalid: Literal["repair", "raise"] = "repair",
            what: str = "input") -> gpd.GeoDataFrame:
    """Validate and normalise user geometry to EPSG:4326; never mutates ``data``.

    Parameters
    ----------
    data : GeoDataFrame, GeoSeries, shapely geometry or list of geometries
    crs : optional
        CRS of bare shapely geometries (GeoDataFrames must carry their own).
    invalid : {"repair", "raise"}
        What to do with invalid geometries: repair them with ``shapely.make_valid`` and warn
        (:class:`GeometryRepairWarning`), or raise :class:`GeometryInputError`.
    what : str
        How to call the input in messages (e.g. ``"projects"``).

    Returns
    -------
    GeoDataFrame
        A copy in EPSG:4326 with the input's index, every geometry valid and non-empty.

    Examples
    --------
    >>> import shapely
    >>> prepare(shapely.Point(110.44, 34.87), crs="EPSG:4326").crs.to_epsg()
    4326
    """
    # geopandas' accessors cost ~20 µs each: read the geometry and CRS once (a one-point
    # query is ~1 ms in all).
    gdf = as_geodataframe(data, crs=crs).copy(deep=False)
    source_crs = gdf.crs
    if source_crs is None:
        raise CRSError(f"{what} has no CRS; set one first, e.g. gdf.set_crs('EPSG:4326')")
    if len(gdf) == 0:
        raise GeometryInputError(f"{what} has no rows")
    geoms = gdf.geometry.values
    null = shapely.is_missing(geoms)
    if null.any():
        raise GeometryInputError(f"{what}: row(s) {list(gdf.index[null][:10])} have no geometry")
    empty = shapely.is_empty(geoms)
    if empty.any():
        raise GeometryInputError(f"{what}: row(s) {list(gdf.index[empty][:10])} have an empty "
                                 "geometry")
    coords = shapely.get_coordinates(geoms)
    if not np.isfinite(coords).all():
        bad = ~np.array([np.isfinite(shapely.get_coordinates(g)).all() for g in geoms])
        raise GeometryInputError(f"{what}: row(s) {list(gdf.index[bad][:10])} have NaN or "
                                 "infinite coordinates")
    if source_crs.is_geographic:
        outside = ((abs(coords[:, 0]) > 180) | (abs(coords[:, 1]) > 90)).any()
        if outside:
            raise GeometryInputError(
                f"{what}: coordinates outside longitude ±180° / latitude ±90° in a geographic "
                f"CRS ({source_crs}); are x and y swapped, or is the CRS wrong?")
    if not source_crs.equals(_wgs84()):
        gdf = gdf.to_crs(CRS)
        geoms = gdf.geometry.values
        if not np.isfinite(shapely.get_coordinates(geoms)).all():
            raise CRSError(f"{what} cannot be reprojected from {source_crs} to {CRS} "
                           "(coordinates outside the CRS's area of use?)")
    valid = shapely.is_valid(geoms)
    if not valid.all():
        gdf = gdf.copy()
        rows = list(gdf.index[~valid][:10])
        reasons = [shapely.is_valid_reason(g) for g in geoms[~valid][:3]]
        if invalid == "raise":
            raise GeometryInputError(f"{what}: invalid geometry in row(s) {rows}: "
                                     f"{'; '.join(reasons)}")
        warnings.warn(f"{what}: repaired invalid geometry in row(s) {rows} ({'; '.join(reasons)})",
                      GeometryRepairWarning, stacklevel=2)
        repaired = shapely.make_valid(geoms[~valid])
        gdf.loc[~valid, gdf.geometry.name] = repaired
        still_empty = shapely.is_empty(gdf.geometry.values)
        if still_empty.any():
            raise GeometryInputError(f"{what}: row(s) {list(gdf.index[still_empty][:10])} "
                                     "collapse to nothing when repaired")
    return gdf

"""Geometry recipes → shapes, plus the measurements every layer carries.

A recipe (see ``docs/layer-format.md``) names reference data; this module turns it into a
shapely geometry together with its ``geometry_basis``, a ``basis_detail`` listing exactly which
reference objects were used, and a positional ``accuracy_m``.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from . import reference
from ._errors import ReferenceLookupError
from .model import CRS, EQUAL_AREA_CRS, geometry_bases


@dataclass(frozen=True)
class Resolved:
    geometry: shapely.Geometry
    basis: str
    detail: str
    accuracy_m: float | None


def local_crs(geometry: shapely.Geometry) -> pyproj.CRS:
    """Azimuthal equidistant CRS centred on ``geometry`` (metres; good for buffers and Voronoi)."""
    c = geometry.centroid
    return pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={c.y:.6f} +lon_0={c.x:.6f} "
                                 "+datum=WGS84 +units=m +no_defs")


def _transformers(crs: pyproj.CRS):
    fwd = pyproj.Transformer.from_crs(CRS, crs, always_xy=True)
    inv = pyproj.Transformer.from_crs(crs, CRS, always_xy=True)
    return fwd, inv


def _project(geometry: shapely.Geometry, transformer: pyproj.Transformer) -> shapely.Geometry:
    return shapely.transform(geometry, lambda xy: np.column_stack(
        transformer.transform(xy[:, 0], xy[:, 1])))


def buffer_km(geometry: shapely.Geometry, km: float, around: shapely.Geometry | None = None
              ) -> shapely.Geometry:
    """Buffer a lon/lat geometry by ``km`` kilometres in a local equidistant projection."""
    crs = local_crs(around if around is not None else geometry)
    fwd, inv = _transformers(crs)
    projected = _project(geometry, fwd)
    return shapely.make_valid(_project(projected.buffer(km * 1000, quad_segs=16), inv))


def voronoi_cells(seeds: list[shapely.Point], within: shapely.Geometry) -> list[shapely.Geometry]:
    """Voronoi cells of ``seeds`` clipped to ``within``, in seed order, computed in metres.

    The cells tile ``within`` exactly: they are the intersections of one Voronoi diagram with it.
    """
    crs = local_crs(within)
    fwd, inv = _transformers(crs)
    area = _project(within, fwd)
    pts = [_project(p, fwd) for p in seeds]
    if len(pts) == 1:
        cells = [area]
    else:
        diagram = shapely.voronoi_polygons(shapely.MultiPoint(pts), extend_to=area)
        raw = list(diagram.geoms)
        tree = shapely.STRtree(raw)
        cells = []
        for p in pts:
            hits = [raw[i] for i in tree.query(p, predicate="intersects")]
            if not hits:
                raise ReferenceLookupError(f"seed {p.wkt} falls in no Voronoi cell")
            cells.append(shapely.intersection(hits[0], area))
    return [shapely.make_valid(_project(c, inv)) for c in cells]


def default_accuracy(basis: str) -> float | None:
    value = geometry_bases().at[basis, "default_accuracy_m"]
    return float(value) if value not in ("", None) else None


def area_km2(gdf: gpd.GeoSeries | gpd.GeoDataFrame) -> np.ndarray:
    """Area of each geometry in km², computed in the equal-area CRS (EASE-Grid 2.0)."""
    geoms = gdf.geometry if isinstance(gdf, gpd.GeoDataFrame) else gdf
    return geoms.to_crs(EQUAL_AREA_CRS).area.to_numpy() / 1e6


def length_km(gdf: gpd.GeoSeries | gpd.GeoDataFrame) -> np.ndarray:
    """Geodesic length of each geometry in km (WGS84 ellipsoid)."""
    geod = pyproj.Geod(ellps="WGS84")
    geoms = gdf.geometry if isinstance(gdf, gpd.GeoDataFrame) else gdf
    return np.array([geod.geometry_length(g) / 1000 if g is not None else np.nan for g in geoms])


def tiling_report(tiles: gpd.GeoDataFrame, extent: shapely.Geometry,
                  tolerance_km2: float = 1e-3) -> dict[str, float]:
    """Gaps and overlaps of a tiling layer against ``extent``, in km² (equal-area).

    XPlanung's area-closure test: the tiles must cover ``extent`` with no gap and no overlap.
    """
    eq = tiles.geometry.to_crs(EQUAL_AREA_CRS)
    ext = gpd.GeoSeries([extent], crs=CRS).to_crs(EQUAL_AREA_CRS).iloc[0]
    union = shapely.union_all(eq.values)
    gap = shapely.difference(ext, union).area / 1e6
    outside = shapely.difference(union, ext).area / 1e6
    overlap = (eq.area.sum() - union.area) / 1e6
    return {"extent_km2": ext.area / 1e6, "gap_km2": gap, "overlap_km2": max(overlap, 0.0),
            "outside_km2": outside,
            "ok": gap <= tolerance_km2 and overlap <= tolerance_km2 and outside <= tolerance_km2}


def as_multi(geometry: shapely.Geometry, geometry_type: str) -> shapely.Geometry:
    """Cast to the layer's Multi* type so every GeoPackage layer has one geometry type."""
    if geometry is None or geometry.is_empty:
        return geometry
    wanted = {"polygon": (shapely.Polygon, shapely.MultiPolygon),
              "line": (shapely.LineString, shapely.MultiLineString),
              "point": (shapely.Point, shapely.MultiPoint)}[geometry_type]
    single, multi = wanted
    if isinstance(geometry, multi):
        return geometry
    if isinstance(geometry, single):
        return multi([geometry])
    parts = [g for g in shapely.get_parts(geometry) if isinstance(g, (single, multi))]
    flat = []
    for g in parts:
        flat += list(g.geoms) if isinstance(g, multi) else [g]
    return multi(flat)

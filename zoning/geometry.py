"""The shape operations geometry recipes draw with, plus the measurements every layer carries.

A recipe (:mod:`zoning.recipes`, ``docs/layer-format.md``) names reference data and turns it
into a shapely geometry with these operations (buffers, Voronoi cells, elevation bands…),
together with its ``geometry_basis``, a ``basis_detail`` listing exactly which reference
objects were used, and a positional ``accuracy_m`` (:class:`Resolved`).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from ._errors import CRSError, ReferenceLookupError
from .model import CRS, EQUAL_AREA_CRS, geometry_bases


_DENSIFY_DEG = 0.01


@dataclass(frozen=True)
class Resolved:
    geometry: shapely.Geometry
    basis: str
    detail: str
    accuracy_m: float | None
    badge: str


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
    if len(seeds) == 1:
        return [within]
    crs = local_crs(within)
    fwd, inv = _transformers(crs)
    area = _project(within, fwd)
    pts = [_project(p, fwd) for p in seeds]
    # the diagram is made in metres, mapped back vertex by vertex (shared edges stay shared)
    # and only then clipped in lon/lat, so the cells tile ``within`` exactly
    frame = shapely.box(*area.buffer(0.25 * max(area.bounds[2] - area.bounds[0],
                                                 area.bounds[3] - area.bounds[1])).bounds)
    diagram = shapely.voronoi_polygons(shapely.MultiPoint(pts), extend_to=frame)
    raw = list(diagram.geoms)
    tree = shapely.STRtree(raw)
    cells = []
    for p, seed in zip(pts, seeds):
        hits = tree.query(p, predicate="intersects")
        if not len(hits):
            raise ReferenceLookupError(f"seed {seed.wkt} falls in no Voronoi cell")
        cell = _project(shapely.segmentize(raw[hits[0]], 2000), inv)
        cells.append(shapely.make_valid(shapely.intersection(cell, within)))
    return cells


def elevation_bands(path, breaks_m: list[float], within: shapely.Geometry,
                    sieve_px: int = 0) -> list[shapely.Geometry]:
    """The elevation bands of a DEM inside ``within``: band 0 lies below ``breaks_m[0]``,
    band *i* from ``breaks_m[i-1]`` up to ``breaks_m[i]``, the last band above the last break.

    The DEM (WGS 84) is read over the bounds of ``within``; cells without data (outside the
    clip's mask) are filled from their neighbours (GDAL FillNodata) so the bands reach the
    edge, patches smaller than ``sieve_px`` cells join their largest neighbour (GDAL sieve),
    and the cells of each band are polygonised and clipped to ``within``. The bands come from
    one classified grid, so they tile ``within`` exactly.
    """
    import rasterio
    from rasterio import features as rfeatures
    from rasterio.fill import fillnodata
    from rasterio.windows import Window, from_bounds

    with rasterio.open(path) as src:
        if src.crs is None or src.crs.to_epsg() != 4326:
            raise ReferenceLookupError(f"{path}: elevation bands need a WGS 84 (EPSG:4326) DEM")
        full = Window(0, 0, src.width, src.height)
        window = from_bounds(*within.bounds, transform=src.transform)
        window = Window(int(np.floor(window.col_off)) - 1, int(np.floor(window.row_off)) - 1,
                        int(np.ceil(window.width)) + 3, int(np.ceil(window.height)) + 3)
        window = window.intersection(full)
        dem = src.read(1, window=window, masked=True)
        transform = src.window_transform(window)
    footprint = shapely.box(*rasterio.transform.array_bounds(*dem.shape, transform))
    if not footprint.covers(within):
        raise ReferenceLookupError(f"{path}: the DEM does not cover the whole area "
                                   f"{tuple(round(b, 4) for b in within.bounds)}")
    valid = ~np.ma.getmaskarray(dem)
    if not valid.any():
        raise ReferenceLookupError(f"{path}: no elevation value inside the area")
    filled = fillnodata(dem.filled(0).astype("float32"), mask=valid.astype("uint8"),
                        max_search_distance=float(max(dem.shape)))
    classes = np.digitize(filled, np.asarray(breaks_m, dtype=float)).astype("int32")
    if sieve_px:
        classes = rfeatures.sieve(classes, size=int(sieve_px), connectivity=8)
    out = []
    for band in range(len(breaks_m) + 1):
        polys = [shapely.geometry.shape(g) for g, value in
                 rfeatures.shapes(classes, mask=classes == band, transform=transform)
                 if value == band]
        geom = shapely.union_all(polys) if polys else shapely.Polygon()
        out.append(shapely.make_valid(shapely.intersection(geom, within)))
    return out


def default_accuracy(basis: str) -> float | None:
    value = geometry_bases().at[basis, "default_accuracy_m"]
    return float(value) if value not in ("", None) else None


def area_km2(gdf: gpd.GeoSeries | gpd.GeoDataFrame) -> np.ndarray:
    """Area of each geometry in km², computed in the equal-area CRS (EASE-Grid 2.0).

    Edges are densified to 0.01° first: an edge that is straight in lon/lat is curved in the
    equal-area CRS, and projecting only its end points would misplace it (and turn shared,
    collinear boundaries into slivers of phantom area).
    """
    geoms = gdf.geometry if isinstance(gdf, gpd.GeoDataFrame) else gdf
    if geoms.crs is not None and geoms.crs.is_geographic:
        geoms = gpd.GeoSeries(shapely.segmentize(geoms.values, _DENSIFY_DEG), index=geoms.index,
                              crs=geoms.crs)
    return geoms.to_crs(EQUAL_AREA_CRS).area.to_numpy() / 1e6


#: The CGCS2000 ellipsoid (same a as GRS 80; 1/f 298.257222101).
CGCS2000_GEOD = pyproj.Geod(a=6378137.0, rf=298.257222101)
_DENSIFY_M = 50.0


def ellipsoid_area_m2(geoms: gpd.GeoSeries) -> np.ndarray:
    """Area of each polygon on the CGCS2000 ellipsoid in m² (geodesic, not a planar area).

    Lines and points have no area (0); of a collection only the polygons count.

    Edges are densified where they are straight (0.01° in a geographic CRS, 50 m in a
    projected one) so that a Gauss–Krüger file and its geographic twin give the same area.
    """
    if geoms.crs is None:
        raise CRSError("ellipsoid_area_m2 needs a CRS")
    step = _DENSIFY_DEG if geoms.crs.is_geographic else _DENSIFY_M
    dense = gpd.GeoSeries(shapely.segmentize(geoms.values, step), crs=geoms.crs).to_crs(4490)
    out = np.zeros(len(dense))
    for i, geom in enumerate(dense.values):
        if geom is None or geom.is_empty:
            continue
        polygons = [q for p in shapely.get_parts(geom) for q in shapely.get_parts(p)
                    if isinstance(q, shapely.Polygon)]
        out[i] = sum(abs(CGCS2000_GEOD.geometry_area_perimeter(shapely.orient_polygons(p))[0])
                     for p in polygons)
    return out


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
    # topology in the data's own CRS, measurement in the equal-area CRS: reprojecting the tiles
    # and the extent separately would bend shared edges apart and invent slivers
    geoms = tiles.geometry.to_crs(CRS).values
    union = shapely.union_all(geoms)
    pieces = gpd.GeoSeries([extent, shapely.difference(extent, union),
                            shapely.difference(union, extent), union], crs=CRS)
    ext_area, gap, outside, union_area = area_km2(pieces)
    overlap = area_km2(gpd.GeoSeries(geoms, crs=CRS)).sum() - union_area
    return {"extent_km2": float(ext_area), "gap_km2": float(gap),
            "overlap_km2": max(float(overlap), 0.0), "outside_km2": float(outside),
            "ok": gap <= tolerance_km2 and overlap <= tolerance_km2 and outside <= tolerance_km2}


#: Rings narrower than this on average (2·area / perimeter, degrees; ≈ 0.1 mm) are numerical
#: noise: the holes left where separately clipped cells meet in a union are ~1e-14° wide.
SLIVER_WIDTH_DEG = 1e-9


def drop_slivers(geometry: shapely.Geometry) -> shapely.Geometry:
    """The geometry without zero-width holes and parts (floating-point leftovers of unions).

    Only polygon rings whose mean width is below :data:`SLIVER_WIDTH_DEG` go; every real
    hole (an enclave) and every real part stays. Other geometry types pass unchanged.
    """
    if geometry is None or geometry.is_empty or geometry.geom_type not in (
            "Polygon", "MultiPolygon", "GeometryCollection"):
        return geometry

    def wide(ring) -> bool:
        poly = shapely.Polygon(ring)
        return poly.length > 0 and 2 * poly.area / poly.length >= SLIVER_WIDTH_DEG

    parts, changed = [], False
    for part in shapely.get_parts(geometry):
        if not isinstance(part, shapely.Polygon):
            parts.append(part)
            continue
        if not wide(part.exterior):
            changed = True
            continue
        holes = [h for h in part.interiors if wide(h)]
        changed |= len(holes) != len(part.interiors)
        parts.append(shapely.Polygon(part.exterior, holes) if changed else part)
    if not changed or not parts:          # never turn a feature into nothing
        return geometry
    if all(isinstance(p, shapely.Polygon) for p in parts):
        return shapely.MultiPolygon(parts) if len(parts) != 1 else parts[0]
    return shapely.GeometryCollection(parts)


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

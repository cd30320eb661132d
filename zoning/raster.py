"""Rasters and zones: zonal statistics (exactextract) and zones burnt into a grid (rasterio).

Zonal statistics weight every cell by the fraction of it inside the zone (exactextract), and
on a geographic raster also by the cell's true area, so a statistic over a zone 40° north is
not biased toward its narrower northern cells.

Examples
--------
>>> from zoning.reference import elevation_path
>>> qom = zoning.load("ir-qom-1414")
>>> zonal_stats(qom["counties"], elevation_path("qom"), ["mean", "max"]).round()
     mean   max
0   859.0  1585
1  1384.0  2969
2  1567.0  3115
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from rasterio import features as rio_features

from ._errors import (CRSError, GeometryInputError, InputFileError, InvalidArgumentError,
                      UnknownColumnError)
from .inputs import prepare

#: Statistics :func:`zonal_stats` computes unless told otherwise.
DEFAULT_STATS = ("mean", "min", "max", "stdev", "median", "count")
#: exactextract operations that accept a per-cell weight (cell area on geographic rasters).
#: ``count`` and ``sum`` stay in cells: weighted, they would turn into m² and value·m².
_WEIGHTABLE = {"mean", "stdev", "variance", "median", "quantile", "majority", "minority",
               "frac", "coefficient_of_variation"}


def _raster_meta(raster: str | Path) -> dict:
    path = Path(raster)
    if not path.exists():
        raise InputFileError(f"no such raster: {path}")
    with rasterio.open(path) as src:
        if src.crs is None:
            raise CRSError(f"{path} has no CRS")
        return {"crs": src.crs, "transform": src.transform, "width": src.width,
                "height": src.height, "nodata": src.nodata, "dtype": src.dtypes[0],
                "geographic": src.crs.is_geographic}


def _zones_in(zones, raster_crs, crs) -> gpd.GeoDataFrame:
    gdf = prepare(zones, crs=crs, what="zones")
    kinds = gdf.geom_type.unique()
    if not set(kinds) <= {"Polygon", "MultiPolygon"}:
        raise GeometryInputError(f"zones must be polygons, got {sorted(kinds)}")
    return gdf.to_crs(raster_crs)


def _op(stat: str, area_weighted: bool) -> str:
    name = stat.split("(", 1)[0]
    if not area_weighted or name not in _WEIGHTABLE:
        return stat
    if "(" in stat:
        return stat[:-1] + ",coverage_weight=area_spherical_m2)"
    return f"{stat}(coverage_weight=area_spherical_m2)"


def zonal_stats(zones, raster: str | Path, stats: Sequence[str] = DEFAULT_STATS, *,
                crs=None, area_weighted: bool | None = None) -> pd.DataFrame:
    """Statistics of a raster over each zone (exactextract: partial cells count by coverage).

    Parameters
    ----------
    zones : GeoDataFrame or polygons
        Any CRS (reprojected to the raster's); without a CRS an error.
    raster : path
        Any single-band raster GDAL reads; its nodata cells are ignored.
    stats : sequence of str
        exactextract operations: ``mean``, ``min``, ``max``, ``stdev``, ``median``,
        ``quantile(q=0.9)``, ``count``, ``sum``, ``majority`` …
    area_weighted : bool, optional
        Weight cells by their true area (default: when the raster is in degrees).

    Returns
    -------
    DataFrame
        One row per zone, indexed like ``zones``, one column per statistic; ``count`` is in
        cells (or in m² when area-weighted).

    Examples
    --------
    >>> from zoning.reference import elevation_path
    >>> counties = zoning.load("ir-qom-1414")["counties"]
    >>> zonal_stats(counties, elevation_path("qom"), ["mean", "max"]).round().to_dict("list")
    {'mean': [859.0, 1384.0, 1567.0], 'max': [1585, 2969, 3115]}
    """
    from exactextract import exact_extract

    meta = _raster_meta(raster)
    gdf = _zones_in(zones, meta["crs"], crs)
    weighted = meta["geographic"] if area_weighted is None else area_weighted
    ops = [_op(s, weighted) for s in stats]
    frame = gpd.GeoDataFrame({"_zone": np.arange(len(gdf))}, geometry=gdf.geometry.values,
                             crs=gdf.crs)
    out = exact_extract(str(raster), frame, ops, include_cols=["_zone"], output="pandas")
    out = out.sort_values("_zone").drop(columns="_zone")
    out.columns = [s.split("(", 1)[0] if s.split("(", 1)[0] not in ("quantile",) else
                   s.replace("(q=", "_").rstrip(")") for s in stats]
    out.index = gdf.index
    return out


def share_above(zones, raster: str | Path, threshold: float, *, crs=None) -> pd.DataFrame:
    """Area and share of each zone where the raster exceeds ``threshold``.

    Cells count by the fraction of them inside the zone, times their area on geographic
    rasters; nodata cells count as neither above nor below. Areas are scaled to the zone's
    equal-area (EPSG:6933) area, like every area in the toolkit.

    Returns
    -------
    DataFrame
        ``share_above`` (of the zone's cells with data), ``area_above_km2``,
        ``valid_area_km2`` (area with data) and ``area_km2``, indexed like ``zones``.

    Examples
    --------
    >>> from zoning.reference import elevation_path
    >>> ardabil = zoning.load("ir-ardabil-1424")
    >>> above = share_above(ardabil["counties"], elevation_path("ardabil"), 2000)
    >>> above.share_above.round(2).tolist()
    [0.01, 0.0, 0.0, 0.0, 0.25, 0.01, 0.4, 0.42, 0.18, 0.35]
    """
    from exactextract import exact_extract

    from .geometry import area_km2

    meta = _raster_meta(raster)
    gdf = _zones_in(zones, meta["crs"], crs)
    nodata = meta["nodata"]
    fill = f"(default_value={nodata:g})" if nodata is not None else ""
    weight = ("coverage(coverage_weight=area_spherical_m2" + (
        f",default_value={nodata:g})" if nodata is not None else ")")
              if meta["geographic"] else "coverage" + fill)
    frame = gpd.GeoDataFrame({"_zone": np.arange(len(gdf))}, geometry=gdf.geometry.values,
                             crs=gdf.crs)
    out = exact_extract(str(raster), frame, ["values" + fill, weight], include_cols=["_zone"],
                        output="pandas").sort_values("_zone")
    above, valid = [], []
    for values, cover in zip(out["values"], out["coverage"]):
        values = np.asarray(values, dtype=float)
        cover = np.asarray(cover, dtype=float)
        total = cover.sum()
        has_data = values != nodata if nodata is not None else np.ones(len(values), bool)
        above.append(cover[has_data & (values > threshold)].sum() / total if total else np.nan)
        valid.append(cover[has_data].sum() / total if total else np.nan)
    zone_km2 = area_km2(gdf.to_crs("EPSG:4326"))
    result = pd.DataFrame({"area_above_km2": np.asarray(above) * zone_km2,
                           "valid_area_km2": np.asarray(valid) * zone_km2,
                           "area_km2": zone_km2}, index=gdf.index)
    result.insert(0, "share_above", result.area_above_km2 / result.valid_area_km2.where(
        result.valid_area_km2 > 0))
    return result


@dataclass(frozen=True)
class ZoneGrid:
    """Zones burnt into a grid: ``array`` of codes (0 = no zone), its ``transform`` and
    ``crs``, and ``labels`` mapping each code to the zone value it stands for."""

    array: np.ndarray
    transform: Affine
    crs: object
    labels: dict[int, object]

    def write(self, path: str | Path) -> Path:
        """Write a single-band GeoTIFF (atomic), labels in the band's metadata."""
        from .files import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp:
            with rasterio.open(tmp, "w", driver="GTiff", width=self.array.shape[1],
                               height=self.array.shape[0], count=1, dtype=self.array.dtype,
                               crs=self.crs, transform=self.transform, nodata=0,
                               compress="deflate") as dst:
                dst.write(self.array, 1)
                dst.update_tags(1, **{str(k): str(v) for k, v in self.labels.items()})
        return path


def rasterize_zones(zones, column: str = "zone_class", *, like: str | Path | None = None,
                    resolution: float | None = None, crs=None,
                    all_touched: bool = False) -> ZoneGrid:
    """Burn zones into a grid: each cell gets the code of the zone covering its centre.

    Parameters
    ----------
    zones : GeoDataFrame
        Polygons, any CRS; where they overlap, the later row wins.
    column : str
        Column whose values become the cell labels (codes 1..n in order of appearance).
    like : path, optional
        A raster whose grid (CRS, transform, size) to use.
    resolution : float, optional
        Cell size in the zones' CRS units (degrees for EPSG:4326) when ``like`` is not given;
        the grid covers the zones' bounds.
    all_touched : bool
        Burn every cell a zone touches, not only cells whose centre it covers.

    Examples
    --------
    >>> from zoning.reference import elevation_path
    >>> plan = zoning.load("ir-qom-1414")
    >>> grid = rasterize_zones(plan["counties"], "name_en", like=elevation_path("qom"))
    >>> grid.array.shape, grid.labels
    ((147, 233), {1: 'Qom County', 2: 'Jafarabad County', 3: 'Kahak County'})
    """
    gdf = prepare(zones, crs=crs, what="zones")
    if column not in gdf:
        raise UnknownColumnError(f"zones have no column {column!r}")
    if like is not None:
        meta = _raster_meta(like)
        gdf = gdf.to_crs(meta["crs"])
        shape, transform, out_crs = (meta["height"], meta["width"]), meta["transform"], meta["crs"]
    elif resolution:
        minx, miny, maxx, maxy = gdf.total_bounds
        width = max(1, int(np.ceil((maxx - minx) / resolution)))
        height = max(1, int(np.ceil((maxy - miny) / resolution)))
        shape = (height, width)
        transform = rasterio.transform.from_origin(minx, maxy, resolution, resolution)
        out_crs = gdf.crs
    else:
        raise InvalidArgumentError("give like= (a raster to match) or resolution=")
    values = pd.Series(gdf[column].to_numpy())
    codes, uniques = pd.factorize(values)
    array = rio_features.rasterize(
        ((geom, int(code) + 1) for geom, code in zip(gdf.geometry.values, codes)),
        out_shape=shape, transform=transform, fill=0, all_touched=all_touched,
        dtype="int32")
    return ZoneGrid(array, transform, out_crs, {i + 1: v for i, v in enumerate(uniques)})

"""Quality check of a Chinese territorial-planning database file, as a bureau runs it first.

:func:`qc` reads a GeoPackage, a folder of Shapefiles or a FileGDB and checks it against an
export profile (:mod:`zoning.profiles`): layer names, required fields, field types and
declared lengths, mandatory values, code-list values, 要素代码, 标识码 format and uniqueness,
administrative codes, area consistency (``MJ`` against the ellipsoidal area of the geometry),
overlaps between features of one layer, geometry validity, the CRS, and the not-for-submission
mark of files with schematic shapes. It returns one row per problem; an empty table means the
file passes.

>>> from zoning.export import export
>>> path = export(zoning.load("cn-yongji-2035"), tmp / "yongji-cn-mnr.gpkg", "cn-mnr")
>>> zoning.qc(path, profile="county")
Empty DataFrame
Columns: [layer, row, bsm, rule, field, message]
Index: []
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from .geometry import ellipsoid_area_m2
from .files import declared_lengths, package_layers
from .profiles import (CGCS2000, NOT_FOR_SUBMISSION, domain_codes, fits_zone, gk3_zone_of_epsg,
                       profile_fields, profile_layers)

COLUMNS = ("layer", "row", "bsm", "rule", "field", "message")
#: MJ may differ from the recomputed ellipsoidal area by this fraction (plus 1 m²): room for
#: another equal-area method, none for a wrong unit or a stale value.
MJ_RELATIVE_TOLERANCE = 1e-4
#: Overlaps smaller than this (m²) between two features of a layer are numerical noise.
OVERLAP_TOLERANCE_M2 = 1.0
_BSM_LENGTH = 18
_XZQDM_LENGTHS = (6, 9, 12)


def qc(path: str | Path, profile: str = "county") -> pd.DataFrame:
    """Check a cn-mnr file against ``profile``; one row per problem (empty: passes).

    Parameters
    ----------
    path : str or Path
        GeoPackage, folder of Shapefiles, or FileGDB.
    profile : str
        ``county``, ``city`` or ``sqsx``.

    Returns
    -------
    DataFrame
        Columns ``layer``, ``row`` (1-based feature number), ``bsm``, ``rule``, ``field``,
        ``message``.
    """
    layer_rows = profile_layers(profile)
    problems: list[dict] = []
    seen_bsm: dict[str, tuple[str, int]] = {}
    for name, (source, layer) in package_layers(path).items():
        def problem(rule, message, row=None, bsm=None, field=None, _layer=name):
            problems.append({"layer": _layer, "row": row, "bsm": bsm, "rule": rule,
                             "field": field, "message": message})

        if name not in layer_rows.index:
            problem("layer_name", f"layer {name!r} is not in the {profile} profile "
                                  f"(layers: {', '.join(layer_rows.index)})")
            continue
        try:
            gdf = pyogrio.read_dataframe(source, layer=layer)
        except Exception as exc:  # a damaged layer is a problem of the file, not of qc
            problem("read", f"cannot read the layer: {exc}")
            continue
        _check_crs(gdf, problem)
        _check_fields(gdf, profile, name, declared_lengths(source, layer), problem)
        _check_values(gdf, profile, name, layer_rows.at[name, "ysdm"], seen_bsm, problem)
        _check_geometry(gdf, problem)
    return pd.DataFrame(problems, columns=list(COLUMNS))


def _check_crs(gdf: gpd.GeoDataFrame, problem) -> None:
    if gdf.crs is None:
        problem("crs", "the layer has no CRS (expected CGCS2000: EPSG:4490 or a 3-degree "
                       "Gauss-Kruger zone, EPSG:4513-4533)")
        return
    epsg = gdf.crs.to_epsg()
    zone = gk3_zone_of_epsg(epsg)
    if epsg != CGCS2000 and zone is None:
        problem("crs", f"CRS {gdf.crs.to_string()} is neither CGCS2000 geographic (EPSG:4490) "
                       "nor a CGCS2000 3-degree Gauss-Kruger zone (EPSG:4513-4533)")
        return
    if zone is not None and len(gdf) and gdf.geometry.notna().any():
        lon = gdf.geometry.to_crs(CGCS2000).total_bounds[[0, 2]]
        if not fits_zone(lon[0], lon[1], zone):
            problem("crs", f"data spans longitudes {lon[0]:.2f}-{lon[1]:.2f}°E, outside 3-degree "
                           f"zone {zone} (central meridian {3 * zone}°E)")


def _check_fields(gdf, profile: str, layer: str, lengths: dict[str, int] | None, problem) -> None:
    fields = profile_fields(profile, layer)
    for name, spec in fields.iterrows():
        if name not in gdf.columns:
            if spec.required == "M":
                problem("required_field", f"mandatory field {name} ({spec.field_name_zh}) is "
                                          "missing", field=name)
            continue
        values = gdf[name]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if spec.type == "Text" and numeric:
            problem("type", f"{name} must be text, is {values.dtype}", field=name)
        elif spec.type in ("Double", "Int") and not numeric and values.notna().any():
            problem("type", f"{name} must be {spec.type}, is {values.dtype}", field=name)
        elif spec.type == "Int" and numeric and not pd.api.types.is_integer_dtype(values):
            problem("type", f"{name} must be an integer field, is {values.dtype}", field=name)
        if spec.type == "Text" and lengths is not None:
            declared = lengths.get(name)
            if declared is not None and declared != int(spec.length):
                problem("length", f"{name} is declared with length {declared or 'unlimited'}, "
                                  f"the profile says {spec.length}", field=name)


def _check_values(gdf, profile: str, layer: str, ysdm: str, seen_bsm: dict, problem) -> None:
    fields = profile_fields(profile, layer)
    bsm_values = gdf["BSM"].astype("string") if "BSM" in gdf else pd.Series(pd.NA, index=gdf.index)
    for i, (idx, row) in enumerate(gdf.iterrows(), start=1):
        bsm = None if pd.isna(bsm_values[idx]) else str(bsm_values[idx])

        def at(rule, message, field=None):
            problem(rule, message, row=i, bsm=bsm, field=field)

        for name, spec in fields.iterrows():
            if name not in gdf.columns:
                continue
            value = row[name]
            empty = value is None or (isinstance(value, float) and np.isnan(value)) or (
                isinstance(value, str) and not value.strip())
            if empty:
                if spec.required == "M":
                    at("mandatory", f"{name} ({spec.field_name_zh}) is empty", name)
                continue
            if spec.type == "Text" and len(str(value).encode("utf-8")) > int(spec.length):
                at("length", f"{name} value {str(value)[:40]!r} is longer than {spec.length} "
                             "bytes", name)
            if spec.type == "Double" and spec.decimals and isinstance(value, (int, float)) and (
                    abs(round(float(value), int(spec.decimals)) - float(value)) > 1e-9):
                at("decimals", f"{name} = {value} has more than {spec.decimals} decimals", name)
            if spec.domain and spec.fill == "domain_code":
                codes = domain_codes(spec.domain)
                if str(value) not in codes:
                    at("domain", f"{name} = {value!r} is not in code list {spec.domain} "
                                 f"({', '.join(codes)})", name)
            if spec.domain and spec.fill == "domain_name":
                code_field = fields.index[(fields.domain == spec.domain)
                                          & (fields.fill == "domain_code")]
                names = domain_codes(spec.domain)
                code = row.get(code_field[0]) if len(code_field) else None
                if str(value) not in names.values():
                    at("domain", f"{name} = {value!r} is not a name in code list {spec.domain}",
                       name)
                elif code in names and names[code] != value:
                    at("domain", f"{name} = {value!r} does not match code {code} "
                                 f"({names[code]})", name)
        if "YSDM" in gdf and isinstance(row["YSDM"], str) and row["YSDM"] != ysdm:
            at("ysdm", f"YSDM {row['YSDM']!r} is not the layer's 要素代码 {ysdm}", "YSDM")
        xzqdm = row.get("XZQDM")
        if isinstance(xzqdm, str) and xzqdm and not (xzqdm.isdigit()
                                                     and len(xzqdm) in _XZQDM_LENGTHS):
            at("xzqdm", f"XZQDM {xzqdm!r} is not one administrative code (6, 9 or 12 digits)",
               "XZQDM")
        if bsm:
            if not (bsm.isdigit() and len(bsm) == _BSM_LENGTH):
                at("bsm", f"BSM {bsm!r} is not {_BSM_LENGTH} digits", "BSM")
            elif isinstance(xzqdm, str) and xzqdm.isdigit() and not bsm.startswith(xzqdm[:6]):
                at("bsm", f"BSM {bsm} does not start with the county code {xzqdm[:6]}", "BSM")
            if bsm in seen_bsm:
                other_layer, other_row = seen_bsm[bsm]
                at("bsm_unique", f"BSM {bsm} is also used by {other_layer} row {other_row}",
                   "BSM")
            else:
                seen_bsm[bsm] = (layer, i)
        if isinstance(row.get("BZ"), str) and NOT_FOR_SUBMISSION in row["BZ"]:
            at("schematic", "the row is marked as a schematic shape, not for submission", "BZ")
    area_fields = [n for n, s in fields.iterrows() if s.fill == "area_m2" and n in gdf]
    if area_fields and gdf.crs is not None and len(gdf):
        geoms = gdf.geometry
        valid = geoms.notna() & ~geoms.is_empty
        area = np.full(len(gdf), np.nan)
        area[valid.to_numpy()] = ellipsoid_area_m2(geoms[valid])
        for name in area_fields:
            stated = pd.to_numeric(gdf[name], errors="coerce").to_numpy()
            off = np.abs(stated - area) > MJ_RELATIVE_TOLERANCE * area + 1.0
            for i in np.flatnonzero(off & ~np.isnan(stated) & ~np.isnan(area)):
                problem("area", f"{name} = {stated[i]:.2f} m², the geometry's ellipsoidal area is "
                                f"{area[i]:.2f} m²", row=i + 1,
                        bsm=None if pd.isna(bsm_values.iloc[i]) else str(bsm_values.iloc[i]),
                        field=name)


def _check_geometry(gdf: gpd.GeoDataFrame, problem) -> None:
    geoms = gdf.geometry.to_numpy()
    bad = [i for i, g in enumerate(geoms) if g is None or g.is_empty or not g.is_valid]
    for i in bad:
        reason = "empty" if geoms[i] is None or geoms[i].is_empty else shapely.is_valid_reason(
            geoms[i])
        problem("geometry", f"geometry is {reason}", row=i + 1)
    good = np.array([i for i in range(len(geoms)) if i not in set(bad)], dtype=int)
    if len(good) < 2 or gdf.crs is None:
        return
    tree = shapely.STRtree(geoms[good])
    left, right = tree.query(geoms[good], predicate="intersects")
    pairs = [(good[a], good[b]) for a, b in zip(left, right) if a < b]
    if not pairs:
        return
    inter = shapely.intersection(geoms[[a for a, _ in pairs]], geoms[[b for _, b in pairs]])
    area = ellipsoid_area_m2(gpd.GeoSeries(inter, crs=gdf.crs))
    for (a, b), m2 in zip(pairs, area):
        if m2 > OVERLAP_TOLERANCE_M2:
            problem("overlap", f"overlaps row {b + 1} by {m2:.1f} m²", row=a + 1)


def qc_report(problems: pd.DataFrame) -> str:
    """The problems as text, one line per problem (``layer row N [rule] field: message``)."""
    if problems.empty:
        return "no problems"
    lines = []
    for p in problems.itertuples():
        where = p.layer + (f" row {int(p.row)}" if pd.notna(p.row) else "")
        where += f" (BSM {p.bsm})" if isinstance(p.bsm, str) and p.bsm else ""
        lines.append(f"{where} [{p.rule}] " + (f"{p.field}: " if isinstance(p.field, str) else "") + p.message)
    return "\n".join(lines)


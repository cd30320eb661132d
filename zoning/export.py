"""Standard exports of a built plan: GeoPackage, GeoJSON, FlatGeobuf, GeoParquet, an INSPIRE
Planned Land Use flavoured GeoPackage, the Chinese territorial-planning database (profiles in
``layers/export_profiles/``, GeoPackage or Shapefile), and PostGIS.

Every file export is atomic (a temporary file or folder renamed over the target), so a
failing or killed export leaves the previous output intact. The class crosswalks are data:
``layers/crosswalk_exports.csv``; the mappings are documented in ``docs/exports.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import struct
import tempfile
from functools import cache
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from ._errors import ExportError, InvalidArgumentError, ZoningError
from .geometry import ellipsoid_area_m2
from .profiles import (NOT_FOR_SUBMISSION, choose_crs, domains,
                       layer_zone_classes, profile_fields, profile_layers, profiles)
from .io import TABLES, plan_table, write_gpkg
from .files import atomic_path, dbf_fields, remove_leftovers, replace_folder
from .settings import settings
from .model import CRS, FOOTPRINT_BADGES, LEVEL_OF_SPATIAL_PLAN, PROCESS_STEP, Plan

FORMATS = ("gpkg", "geojson", "fgb", "parquet", "inspire", "cn-mnr")
_FOLDER_FORMATS = {"geojson": ("GeoJSON", ".geojson"), "fgb": ("FlatGeobuf", ".fgb"),
                   "parquet": (None, ".parquet")}
CN_MNR_DRIVERS = ("gpkg", "shp")
INSPIRE = "http://inspire.ec.europa.eu/codelist/"


@cache
def crosswalk() -> pd.DataFrame:
    """Zone class → INSPIRE supplementary regulation (``layers/crosswalk_exports.csv``)."""
    return pd.read_csv(settings.layers_dir / "crosswalk_exports.csv", dtype=str,
                       keep_default_na=False).set_index("zone_class")


def export(plan: Plan, path: str | Path, fmt: str = "gpkg", **cn_mnr_options) -> Path:
    """Export ``plan`` to ``path`` in one of :data:`FORMATS`.

    Folder formats (``geojson``, ``fgb``, ``parquet``) write one file per layer plus the
    non-spatial tables and a ``plan.json``; the others write one GeoPackage. ``cn-mnr`` takes
    the options of :func:`write_cn_mnr` (``profile``, ``crs``, ``driver``, ``include_schematic``).

    Examples
    --------
    >>> out = export(zoning.load("cn-yongji-2035"), tmp / "yongji-fgb", "fgb")
    >>> sorted(p.name for p in out.iterdir())[:3]
    ['admin_units.fgb', 'agriculture.fgb', 'central_urban_area.fgb']
    """
    if fmt not in FORMATS:
        raise InvalidArgumentError(f"unknown export format {fmt!r}; choose one of "
                                   f"{', '.join(FORMATS)}")
    if cn_mnr_options and fmt != "cn-mnr":
        raise InvalidArgumentError(f"options {sorted(cn_mnr_options)} apply to the cn-mnr "
                                   "format only")
    path = Path(path)
    if fmt == "gpkg":
        return write_gpkg(plan, path)
    if fmt == "inspire":
        return _write_layers(inspire_layers(plan), path)
    if fmt == "cn-mnr":
        return write_cn_mnr(plan, path, **cn_mnr_options)
    return _write_folder(plan, path, fmt)


def _write_layers(layers: dict[str, pd.DataFrame], path: Path) -> Path:
    with atomic_path(path) as tmp:
        for name, df in layers.items():
            pyogrio.write_dataframe(df, tmp, layer=name, driver="GPKG")
    return path


@contextlib.contextmanager
def _staged_folder(path: Path):
    """A new folder next to ``path``, swapped in for it when the block succeeds; on any failure
    it is removed and the previous output is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp",
                                dir=path.parent))
    tmp.chmod(0o755)
    try:
        yield tmp
        replace_folder(tmp, path)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, (ZoningError, KeyboardInterrupt, SystemExit)):
            raise
        raise ExportError(f"export to {path} failed ({exc}); any previous output is intact") from exc


def _write_folder(plan: Plan, path: Path, fmt: str) -> Path:
    driver, suffix = _FOLDER_FORMATS[fmt]
    with _staged_folder(path) as tmp:
        for name, gdf in plan.layers.items():
            target = tmp / f"{name}{suffix}"
            if driver is None:
                gdf.to_parquet(target, index=False)
            else:
                pyogrio.write_dataframe(gdf, target, driver=driver)
        for name in TABLES:
            table = plan_table(plan) if name == "plan" else plan.tables[name]
            if driver is None:
                table.astype(str).where(table.notna(), None).to_parquet(tmp / f"{name}.parquet")
            else:
                table.to_csv(tmp / f"{name}.csv", index=False, encoding="utf-8")
        (tmp / "plan.json").write_text(json.dumps(
            {k: v for k, v in plan.meta.items() if k != "extent_wkt"}, ensure_ascii=False,
            indent=2, default=str), encoding="utf-8")
    return path


def inspire_layers(plan: Plan) -> dict[str, pd.DataFrame]:
    """The plan in INSPIRE PLU's flattened encoding (Esri/INSPIRE GeoPackage style).

    ``SpatialPlan`` (one row, the extent), ``ZoningElement`` (features of tiling layers),
    ``SupplementaryRegulation`` (features of overlay layers), ``OfficialDocumentation``
    (the rules with their text), and side tables for the multi-valued properties.
    """
    meta = plan.meta
    namespace = f"zoning/{plan.plan_id}"
    catalog = plan.tables["layer_catalog"].set_index("layer")
    feats = plan.features
    feats = feats.assign(family=feats.layer.map(catalog["family"]))
    walk = crosswalk()
    extent = shapely.from_wkt(meta["extent_wkt"])
    spatial_plan = gpd.GeoDataFrame([{
        "inspireId_localId": plan.plan_id, "inspireId_namespace": namespace,
        "officialTitle": meta["title"], "alternativeTitle": meta["title_en"],
        "levelOfSpatialPlan_href": INSPIRE + "LevelOfSpatialPlanValue/"
                                   + LEVEL_OF_SPATIAL_PLAN.get(meta["level"], "other"),
        "planTypeName": meta["plan_type"],
        "processStepGeneral_href": INSPIRE + "ProcessStepGeneralValue/"
                                   + PROCESS_STEP[meta["lifecycle"]],
        "validFrom": meta["approval_date"] or None,
        "ordinance_reference": f"{meta['issuer']} ({meta['issuer_en']})",
        "ordinance_date": meta["approval_date"] or None,
        "officialDocument": meta["source_document"],
    }], geometry=[shapely.MultiPolygon(list(getattr(extent, "geoms", [extent])))], crs=CRS)

    def common(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({
            "inspireId_localId": df.feature_id.values, "inspireId_namespace": namespace,
            "name": df["name"].values, "name_en": df.name_en.values,
            "regulationNature_href": INSPIRE + "RegulationNatureValue/" + df.regulation_nature.values,
            "processStepGeneral_href": (INSPIRE + "ProcessStepGeneralValue/"
                                        + df.lifecycle.map(PROCESS_STEP).values),
            "specificLandUse": df.zone_class.values,
            "plan_href": plan.plan_id, "officialDocument": df.source_lines.values,
            "geometryBasis": df.geometry_basis.values, "basisDetail": df.basis_detail.values,
            "basisBadge": df.basis_badge.values,
            "statedArea_km2": pd.to_numeric(df.get("stated_area_km2"), errors="coerce"),
            "drawnToStated": pd.to_numeric(df.get("drawn_to_stated"), errors="coerce"),
        })

    zones = feats[(feats.family == "tiling") & feats.geom_type.isin(["Polygon", "MultiPolygon"])]
    zoning_element = gpd.GeoDataFrame(common(zones), geometry=zones.geometry.values, crs=CRS)
    zoning_element["hilucsLandUse_href"] = [INSPIRE + "HILUCSValue/" + h if h else None
                                            for h in zones.hilucs]
    overlays = feats[feats.family != "tiling"]
    supplementary = gpd.GeoDataFrame(common(overlays), geometry=overlays.geometry.values, crs=CRS)
    codes = overlays.zone_class.map(walk["inspire_supplementary_regulation"]).fillna("")
    supplementary["supplementaryRegulation_href"] = [
        INSPIRE + "SupplementaryRegulationValue/" + c if c else None for c in codes]
    supplementary["specificSupplementaryRegulation"] = overlays.zone_class.values
    rules = plan.tables["rules"]
    documentation = pd.DataFrame({
        "inspireId_localId": rules.rule_id.map(lambda r: f"{plan.plan_id}/rule/{r}"),
        "inspireId_namespace": namespace,
        "regulationText": rules.text, "regulationText_en": rules.text_en,
        "legislationCitation_name": meta["title"],
        "legislationCitation_reference": "lines " + rules.source_lines.astype(str),
        "appliesToClasses": rules.zone_classes, "appliesToFeatures": rules.features,
        "effect": rules.effect, "activities": rules.activities,
    })
    hilucs = zoning_element[["inspireId_localId", "hilucsLandUse_href"]].dropna()
    return {"SpatialPlan": spatial_plan, "ZoningElement": zoning_element,
            "SupplementaryRegulation": supplementary, "OfficialDocumentation": documentation,
            "ZoningElement_hilucsLandUse": pd.DataFrame(hilucs)}


def china_mnr_layers(plan: Plan, profile: str = "county", crs: str | int = "auto",
                     include_schematic: bool = False) -> dict[str, gpd.GeoDataFrame]:
    """The plan in a Chinese territorial-planning database profile (layers as GeoDataFrames).

    Layer codes, 要素代码, fields, lengths and code lists come from the profile's data file
    (``layers/export_profiles/``, see :mod:`zoning.profiles`). Every feature carries one
    administrative unit: a feature spanning several counties is split into one row per
    county (``XZQDM`` the county's 6-digit code, ``XZQMC`` its name). ``BSM`` is
    ``XZQDM + "0000" + 8-digit sequence`` (18 characters), unique in the whole file. ``MJ`` is
    the area on the CGCS2000 ellipsoid in m², 2 decimals, of the geometry as written.

    Parameters
    ----------
    plan : Plan
    profile : str
        ``county``, ``city`` or ``sqsx`` (the 三区三线 handover layout).
    crs : str or int
        ``auto`` (the 3° Gauss–Krüger zone of the extent when it fits one zone, else CGCS2000
        geographic), ``geographic``, ``gk3`` or an EPSG code (4490, 4513–4533).
    include_schematic : bool
        Shapes whose badge is not authoritative/approximate (schematic, envelope …) are refused
        under official layer codes; with True they are written, and every row of the file says
        it is not for submission (``BZ``).

    Examples
    --------
    >>> layers = china_mnr_layers(zoning.load("cn-yongji-2035"))
    >>> layers["XZQ"].crs.to_epsg()
    4525
    """
    from .stats import admin_units

    layer_rows = profile_layers(profile)
    classes = layer_zone_classes(profile)
    feats = plan.features
    feats = feats[feats.geom_type.isin(["Polygon", "MultiPolygon"])]
    mapped = feats[feats.zone_class.isin([c for cs in classes.values() for c in cs])]
    unofficial = mapped[~mapped.basis_badge.isin(FOOTPRINT_BADGES)]
    if len(unofficial) and not include_schematic:
        listed = "; ".join(f"{f} ({b})" for f, b in zip(unofficial.feature_id,
                                                         unofficial.basis_badge))
        raise ExportError(
            f"{len(unofficial)} feature(s) of {plan.plan_id} are not official shapes and would "
            f"stand under official layer codes: {listed}. Swap in the official delineation "
            "(zoning adopt) or pass include_schematic=True (--include-schematic) for a file "
            "marked as not for submission")
    marked = bool(len(unofficial))
    extent = shapely.from_wkt(plan.meta["extent_wkt"])
    units = admin_units(plan)
    units = units[units.unit_id.str.startswith("CN:")]
    if units.empty:
        raise ExportError(f"{plan.plan_id} has no Chinese administrative units; the cn-mnr "
                          "profiles need XZQDM codes")
    units = units.assign(xzqdm=units.unit_id.str.removeprefix("CN:"),
                         geometry=shapely.intersection(units.geometry.values, extent))
    epsg = choose_crs(extent.bounds, crs)
    sequence: dict[str, int] = {}
    out: dict[str, gpd.GeoDataFrame] = {}
    for layer, row in layer_rows.iterrows():
        if classes[layer] == ["plan_extent"]:
            pieces = gpd.GeoDataFrame({
                "xzqdm": units.xzqdm.values, "xzqmc": units["name"].values, "name": units["name"].values,
                "zone_class": "plan_extent", "basis_badge": "approximate",
                "feature_id": plan.plan_id + "/extent", "source_lines": "",
            }, geometry=units.geometry.values, crs=CRS)
        else:
            pieces = _split_by_unit(feats[feats.zone_class.isin(classes[layer])], units)
        if pieces.empty:
            continue
        out[layer] = _profile_rows(pieces, profile, layer, row.ysdm, epsg, sequence, marked)
    return out


def _split_by_unit(feats: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One row per (feature, unit) with the part of the feature inside the unit."""
    rows, geoms = [], []
    tree = shapely.STRtree(units.geometry.values)
    for feat in feats.itertuples():
        for j in tree.query(feat.geometry, predicate="intersects"):
            piece = shapely.intersection(feat.geometry, units.geometry.values[j])
            parts = [p for p in shapely.get_parts(piece)
                     if isinstance(p, shapely.Polygon) and p.length > 0
                     and 2 * p.area / p.length >= _SPLIT_SLIVER_DEG]
            if not parts:
                continue
            rows.append({"xzqdm": units.xzqdm.values[j], "xzqmc": units["name"].values[j],
                         "name": feat.name, "zone_class": feat.zone_class,
                         "basis_badge": feat.basis_badge, "feature_id": feat.feature_id,
                         "source_lines": feat.source_lines})
            geoms.append(shapely.MultiPolygon(parts))
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=CRS) if rows else gpd.GeoDataFrame(
        geometry=[], crs=CRS)


#: Parts of a feature inside a unit narrower than this (mean width, degrees; about 1 m) are
#: where the feature and the unit share a boundary drawn from the same source, not content.
_SPLIT_SLIVER_DEG = 1e-5


def _fit_bytes(text: str, nbytes: int, encoding: str = "utf-8") -> str:
    """``text`` cut to at most ``nbytes`` bytes in ``encoding`` without splitting a character."""
    while len(text.encode(encoding)) > nbytes:
        text = text[:-1]
    return text


def _profile_rows(pieces: gpd.GeoDataFrame, profile: str, layer: str, ysdm: str, epsg: int,
                  sequence: dict[str, int], marked: bool) -> gpd.GeoDataFrame:
    fields = profile_fields(profile, layer)
    geoms = gpd.GeoSeries(pieces.geometry.values, crs=CRS).to_crs(epsg)
    area = ellipsoid_area_m2(geoms)
    bsm = []
    for code in pieces.xzqdm:
        sequence[code] = sequence.get(code, 0) + 1
        bsm.append(f"{code}0000{sequence[code]:08d}")
    notes = []
    for feat_id, badge, lines in zip(pieces.feature_id, pieces.basis_badge, pieces.source_lines):
        note = f"{badge}; {feat_id}" + (f"; lines {lines}" if lines else "")
        notes.append(f"{NOT_FOR_SUBMISSION}; {note}" if marked else note)
    columns: dict[str, object] = {}
    for name, spec in fields.iterrows():
        codes = {r.zone_class: (r.code, r.name_zh) for r in
                 domains()[domains().domain == spec.domain].itertuples() if r.zone_class}
        value = {
            "bsm": bsm, "ysdm": [ysdm] * len(pieces), "xzqdm": list(pieces.xzqdm),
            "xzqmc": list(pieces.xzqmc), "name": list(pieces["name"]), "note": notes,
            "area_m2": list(area),
            "domain_code": [codes.get(c, (None, None))[0] for c in pieces.zone_class],
            "domain_name": [codes.get(c, (None, None))[1] for c in pieces.zone_class],
        }.get(spec.fill, [None] * len(pieces))
        if spec.type == "Double":
            value = [None if v is None else round(float(v), int(spec.decimals or 0)) for v in value]
        elif spec.type == "Text":
            value = [None if v is None else _fit_bytes(str(v), int(spec.length)) for v in value]
        columns[name] = value
    return gpd.GeoDataFrame(columns, geometry=geoms.values, crs=epsg)


def write_cn_mnr(plan: Plan, path: str | Path, profile: str = "county", crs: str | int = "auto",
                 driver: str = "gpkg", include_schematic: bool = False) -> Path:
    """Write a cn-mnr database: one GeoPackage, or a folder of ESRI Shapefiles (with .cpg).

    Declared field types and lengths are the profile's (GeoPackage ``TEXT(n)``, DBF
    ``C(n)``/``N(w,d)``). See :func:`china_mnr_layers` for the other parameters.
    """
    if driver not in CN_MNR_DRIVERS:
        raise InvalidArgumentError(f"unknown cn-mnr driver {driver!r}; choose one of "
                                   f"{', '.join(CN_MNR_DRIVERS)}")
    layers = china_mnr_layers(plan, profile, crs, include_schematic)
    path = Path(path)
    encoding = profiles().at[profile, "shp_encoding"]
    if driver == "gpkg":
        with atomic_path(path) as tmp:
            for name, gdf in layers.items():
                pyogrio.write_dataframe(gdf, tmp, layer=name, driver="GPKG", promote_to_multi=True)
            _declare_gpkg_lengths(tmp, {n: profile_fields(profile, n) for n in layers})
        return path
    with _staged_folder(path) as tmp:
        for name, gdf in layers.items():
            pyogrio.write_dataframe(gdf, tmp / f"{name}.shp", driver="ESRI Shapefile",
                                    encoding=encoding, promote_to_multi=True)
            _set_dbf_widths(tmp / f"{name}.dbf", profile_fields(profile, name), encoding)
    return path


def _declare_gpkg_lengths(path: Path, fields: dict[str, pd.DataFrame]) -> None:
    """Declare ``TEXT(n)`` for the profile's text fields (GeoPackage's maximum length).

    GDAL writes plain ``TEXT``; only the declared type changes (its affinity stays TEXT), so
    the stored data and the R-tree triggers are untouched.
    """
    with sqlite3.connect(path) as con:
        version = con.execute("pragma schema_version").fetchone()[0]
        con.execute("pragma writable_schema = on")
        for table, spec in fields.items():
            (sql,) = con.execute("select sql from sqlite_master where type='table' and name=?",
                                 (table,)).fetchone()
            for name, row in spec[spec.type == "Text"].iterrows():
                sql = sql.replace(f'"{name}" TEXT,', f'"{name}" TEXT({int(row.length)}),').replace(
                    f'"{name}" TEXT)', f'"{name}" TEXT({int(row.length)}))')
            con.execute("update sqlite_master set sql=? where type='table' and name=?",
                        (sql, table))
        con.execute(f"pragma schema_version = {version + 1}")
        con.execute("pragma writable_schema = off")
    with sqlite3.connect(path) as con:
        if con.execute("pragma integrity_check").fetchone()[0] != "ok":
            raise ExportError(f"{path}: declaring field lengths broke the GeoPackage")


def _set_dbf_widths(path: Path, spec: pd.DataFrame, encoding: str) -> None:
    """Rewrite a DBF with the profile's widths: ``C(length)`` text, ``N(20, decimals)`` numbers."""
    data = path.read_bytes()
    count, header_len, record_len, old = dbf_fields(data)
    new = []
    for name, kind, _, _ in old:
        row = spec.loc[name]
        if row.type == "Text":
            new.append((name, "C", int(row.length), 0))
        else:
            new.append((name, "N", 20 if row.type == "Double" else 10, int(row.decimals or 0)))
    records = []
    for r in range(count):
        rec = data[header_len + r * record_len: header_len + (r + 1) * record_len]
        pos, out = 1, [rec[:1]]
        for (name, kind, width, _), (_, new_kind, new_width, new_dec) in zip(old, new):
            raw = rec[pos:pos + width]
            pos += width
            if new_kind == "C":
                value = raw.decode(encoding).rstrip(" ").encode(encoding)
                if len(value) > new_width:
                    raise ExportError(f"{path.name}: {name} value {value.decode(encoding)!r} "
                                      f"is longer than {new_width} bytes")
                out.append(value.ljust(new_width, b" "))
            else:
                text = raw.decode("ascii").strip()
                cell = "" if not text or text.startswith("*") else (
                    f"{float(text):.{new_dec}f}" if new_dec else str(int(float(text))))
                if len(cell) > new_width:
                    raise ExportError(f"{path.name}: {name} value {cell} does not fit N({new_width})")
                out.append(cell.rjust(new_width).encode("ascii"))
        records.append(b"".join(out))
    new_header_len = 32 + 32 * len(new) + 1
    new_record_len = 1 + sum(w for _, _, w, _ in new)
    header = bytearray(data[:32])
    header[8:12] = struct.pack("<HH", new_header_len, new_record_len)
    descriptors = b"".join(n.encode("ascii").ljust(11, b"\0") + k.encode("ascii") + b"\0" * 4
                           + bytes([w, d]) + b"\0" * 14 for n, k, w, d in new)
    path.write_bytes(bytes(header) + descriptors + b"\r" + b"".join(records) + b"\x1a")


_SAFE = re.compile(r"[^a-z0-9_]")
#: Schema names to_postgis accepts: lower-case ASCII letters, digits and underscores, starting
#: with a letter or underscore, never PostgreSQL's own ``pg_`` prefix.
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_STAGING_SUFFIX = "__staging"
#: PostgreSQL truncates identifiers longer than this many bytes (NAMEDATALEN - 1).
_PG_MAX_IDENTIFIER = 63
#: Start of the comment to_postgis puts on each schema it creates; only such schemas are ever
#: dropped or replaced without ``replace=True``.
_SCHEMA_MARK = "zoning plan export"


def check_schema_name(schema: str) -> str:
    """Return ``schema`` if to_postgis can use it as is; raise :class:`ExportError` otherwise.

    The name and its staging twin (``<schema>__staging``) must fit PostgreSQL's 63-byte limit:
    a longer name would be silently truncated, and the staging schema could become the live one.

    Examples
    --------
    >>> check_schema_name("cn_yongji_2035")
    'cn_yongji_2035'
    >>> check_schema_name('a"; DROP TABLE t; --')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    zoning._errors.ExportError: schema name 'a"; DROP TABLE t; --' is not allowed: use ...
    """
    if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
        raise ExportError(f"schema name {schema!r} is not allowed: use lower-case ASCII letters, "
                          "digits and underscores, starting with a letter or underscore")
    if schema.startswith("pg_"):
        raise ExportError(f"schema name {schema!r} is not allowed: 'pg_' names are reserved "
                          "by PostgreSQL")
    longest = _PG_MAX_IDENTIFIER - len(_STAGING_SUFFIX)
    if len(schema.encode()) > longest:
        raise ExportError(f"schema name {schema!r} is {len(schema.encode())} bytes long; at most "
                          f"{longest} fit PostgreSQL's {_PG_MAX_IDENTIFIER}-byte limit together "
                          f"with the staging suffix {_STAGING_SUFFIX!r}")
    return schema


def _schema_comment(cursor, schema: str) -> str | None:
    """The comment on ``schema``, ``""`` when it has none, None when there is no such schema."""
    cursor.execute("SELECT coalesce(obj_description(oid, 'pg_namespace'), '') "
                   "FROM pg_namespace WHERE nspname = %s", (schema,))
    row = cursor.fetchone()
    return None if row is None else row[0]


def to_postgis(plan: Plan, url: str, schema: str | None = None, *,
               replace: bool = False) -> str:
    """Write every layer and table of ``plan`` to a PostGIS database, replacing atomically.

    The plan is written into a staging schema (``<schema>__staging``) which replaces the old
    one in one transaction, so readers never see a half-written plan. Every schema this
    function creates carries a comment marking it as a zoning export; it only ever drops such
    schemas, unless ``replace=True`` allows it to replace an existing schema of another origin.

    Parameters
    ----------
    plan : Plan
    url : str
        SQLAlchemy URL, e.g. ``postgresql://user@localhost:5432/db``.
    schema : str, optional
        Target schema; default the plan id with ``-`` replaced by ``_``. Lower-case ASCII
        letters, digits and underscores, at most 54 bytes (see :func:`check_schema_name`).
    replace : bool
        Replace ``schema`` even if it exists and was not written by this function (its tables
        are dropped).

    Returns
    -------
    str
        The schema written.

    Examples
    --------
    Needs a PostgreSQL server with PostGIS, which the test suite does not have (hence
    skipped; ``tests/test_postgis.py`` runs it where one is set up):

    >>> to_postgis(zoning.load("cn-yongji-2035"), "postgresql://me@localhost/gis")  # doctest: +SKIP
    'cn_yongji_2035'
    """
    from psycopg import sql
    from sqlalchemy import create_engine, text

    schema = check_schema_name(_SAFE.sub("_", plan.plan_id.lower()) if schema is None else schema)
    staging = schema + _STAGING_SUFFIX
    mark = f"{_SCHEMA_MARK}: {plan.plan_id}"
    url = url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith(
        "postgresql://") else url

    def foreign(comment: str | None) -> bool:
        return comment is not None and not comment.startswith(_SCHEMA_MARK)

    def refuse(name: str) -> ExportError:
        return ExportError(f"schema {name!r} already exists and was not written by zoning; "
                           f"nothing was changed (pass replace=True, or --replace, to replace "
                           f"it and drop its tables)")

    engine = create_engine(url)
    try:
        with engine.begin() as con:
            cur = con.connection.dbapi_connection.cursor()
            if foreign(_schema_comment(cur, schema)) and not replace:
                raise refuse(schema)
            if foreign(_schema_comment(cur, staging)):
                raise refuse(staging)
            con.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(staging)))
            cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(staging)))
            cur.execute(sql.SQL("COMMENT ON SCHEMA {} IS {}").format(sql.Identifier(staging),
                                                                     sql.Literal(mark)))
        for name, gdf in plan.layers.items():
            gdf.to_postgis(name, engine, schema=staging, index=False)
        for name in TABLES:
            table = plan_table(plan) if name == "plan" else plan.tables[name]
            table.to_sql(name, engine, schema=staging, index=False)
        with engine.begin() as con:
            cur = con.connection.dbapi_connection.cursor()
            # checked again inside the swapping transaction: the target may have changed since
            if foreign(_schema_comment(cur, schema)) and not replace:
                raise refuse(schema)
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            cur.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(staging),
                                                                       sql.Identifier(schema)))
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(f"writing {plan.plan_id} to PostGIS failed: {exc}") from exc
    finally:
        engine.dispose()
    return schema

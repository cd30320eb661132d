"""Standard exports of a built plan: GeoPackage, GeoJSON, FlatGeobuf, GeoParquet, an INSPIRE
Planned Land Use flavoured GeoPackage, a Chinese planning-database flavoured GeoPackage, and
PostGIS.

Every file export is atomic (a temporary file or folder renamed over the target), so a
failing or killed export leaves the previous output intact. The class crosswalks are data:
``layers/crosswalk_exports.csv``; the mappings are documented in ``docs/exports.md``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from functools import cache
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from ._errors import ExportError, ZoningError
from .geometry import area_km2
from .io import TABLES, _plan_table, atomic_path, write_gpkg
from .model import CRS, LAYERS_DIR, PROCESS_STEP, Plan

FORMATS = ("gpkg", "geojson", "fgb", "parquet", "inspire", "cn-mnr")
_FOLDER_FORMATS = {"geojson": ("GeoJSON", ".geojson"), "fgb": ("FlatGeobuf", ".fgb"),
                   "parquet": (None, ".parquet")}
INSPIRE = "http://inspire.ec.europa.eu/codelist/"
#: INSPIRE LevelOfSpatialPlanValue for each plan level.
LEVEL_OF_SPATIAL_PLAN = {"national": "national", "provincial": "regional",
                         "municipal": "supraLocal", "county": "supraLocal"}


@cache
def crosswalk() -> pd.DataFrame:
    """Zone class → INSPIRE supplementary regulation and Chinese layer code."""
    return pd.read_csv(LAYERS_DIR / "crosswalk_exports.csv", dtype=str,
                       keep_default_na=False).set_index("zone_class")


def export(plan: Plan, path: str | Path, fmt: str = "gpkg") -> Path:
    """Export ``plan`` to ``path`` in one of :data:`FORMATS`.

    Folder formats (``geojson``, ``fgb``, ``parquet``) write one file per layer plus the
    non-spatial tables and a ``plan.json``; the others write one GeoPackage.

    Examples
    --------
    >>> export(zoning.load("cn-yongji-2035"), "out/yongji-fgb", "fgb")     # doctest: +SKIP
    """
    if fmt not in FORMATS:
        raise ZoningError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    path = Path(path)
    if fmt == "gpkg":
        return write_gpkg(plan, path)
    if fmt == "inspire":
        return _write_layers(inspire_layers(plan), path)
    if fmt == "cn-mnr":
        return _write_layers(china_mnr_layers(plan), path)
    return _write_folder(plan, path, fmt)


def _write_layers(layers: dict[str, pd.DataFrame], path: Path) -> Path:
    with atomic_path(path) as tmp:
        for name, df in layers.items():
            pyogrio.write_dataframe(df, tmp, layer=name, driver="GPKG")
    return path


def _write_folder(plan: Plan, path: Path, fmt: str) -> Path:
    driver, suffix = _FOLDER_FORMATS[fmt]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    tmp.chmod(0o755)
    try:
        for name, gdf in plan.layers.items():
            target = tmp / f"{name}{suffix}"
            if driver is None:
                gdf.to_parquet(target, index=False)
            else:
                pyogrio.write_dataframe(gdf, target, driver=driver)
        for name in TABLES:
            table = _plan_table(plan) if name == "plan" else plan.tables[name]
            if driver is None:
                table.astype(str).where(table.notna(), None).to_parquet(tmp / f"{name}.parquet")
            else:
                table.to_csv(tmp / f"{name}.csv", index=False, encoding="utf-8")
        (tmp / "plan.json").write_text(json.dumps(
            {k: v for k, v in plan.meta.items() if k != "extent_wkt"}, ensure_ascii=False,
            indent=2, default=str), encoding="utf-8")
        _replace_folder(tmp, path)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, (ZoningError, KeyboardInterrupt, SystemExit)):
            raise
        raise ExportError(f"export to {path} failed ({exc}); any previous output is intact") from exc
    return path


def _replace_folder(new: Path, target: Path) -> None:
    """Swap ``new`` into place; the old folder survives until the new one is in place."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)


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


def china_mnr_layers(plan: Plan) -> dict[str, gpd.GeoDataFrame]:
    """Control lines and planning zones with the layer codes and field names of the Chinese
    territorial spatial planning database (《市级国土空间总体规划数据库规范（试行）》, 2021),
    in CGCS2000 (EPSG:4490).

    Fields: ``BSM`` 标识码, ``YSDM`` 要素代码, ``XZQDM``/``XZQMC`` 行政区代码/名称,
    ``MC`` 名称, ``GHFQDM``/``GHFQMC`` 规划分区代码/名称 (planning zones), ``MJ`` 面积 (m²,
    equal-area), ``BZ`` 备注 (geometry basis and citation — the provenance stays visible).
    """
    walk = crosswalk()
    feats = plan.features
    feats = feats[feats.zone_class.map(walk["cn_layer_code"]).fillna("") != ""]
    feats = feats[feats.geom_type.isin(["Polygon", "MultiPolygon"])]
    units = plan.meta["extent_units"].split(";")
    xzqdm = ";".join(u.removeprefix("CN:") for u in units if u.startswith("CN:"))
    out: dict[str, gpd.GeoDataFrame] = {}
    extent = shapely.from_wkt(plan.meta["extent_wkt"])
    xzq = gpd.GeoDataFrame({"BSM": [1], "YSDM": ["1000600100"], "XZQDM": [xzqdm],
                            "XZQMC": [plan.meta["title"]],
                            "MJ": [round(float(area_km2(gpd.GeoSeries([extent], crs=CRS))[0]) * 1e6, 1)]},
                           geometry=[extent], crs=CRS)
    out["XZQ"] = xzq.to_crs("EPSG:4490")
    for code, group in feats.groupby(feats.zone_class.map(walk["cn_layer_code"])):
        ysdm = group.zone_class.map(walk["cn_ysdm"]).fillna("")
        gdf = gpd.GeoDataFrame({
            "BSM": range(1, len(group) + 1), "YSDM": ysdm.values, "XZQDM": xzqdm,
            "XZQMC": plan.meta["title"], "MC": group["name"].values,
            "MJ": (area_km2(group) * 1e6).round(1),
            "BZ": [f"{b}; {fid}; lines {lines}" for b, fid, lines in
                   zip(group.geometry_basis, group.feature_id, group.source_lines)],
        }, geometry=group.geometry.values, crs=CRS)
        if code == "GHFQ":
            gdf["GHFQDM"] = group.zone_class.str.removeprefix("planning_zone_").values
            gdf["GHFQMC"] = group["name"].values
        out[code] = gdf.to_crs("EPSG:4490")
    return out


_SAFE = re.compile(r"[^a-z0-9_]")


def to_postgis(plan: Plan, url: str, schema: str | None = None) -> str:
    """Write every layer and table of ``plan`` to a PostGIS database, replacing atomically.

    The plan is written into a fresh schema which replaces the old one in one transaction,
    so readers never see a half-written plan.

    Parameters
    ----------
    plan : Plan
    url : str
        SQLAlchemy URL, e.g. ``postgresql://user@localhost:5432/db``.
    schema : str, optional
        Target schema; default the plan id with ``-`` replaced by ``_``.

    Returns
    -------
    str
        The schema written.
    """
    from sqlalchemy import create_engine, text

    schema = schema or _SAFE.sub("_", plan.plan_id.lower())
    staging = f"{schema}__staging"
    url = url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith(
        "postgresql://") else url
    engine = create_engine(url)
    try:
        with engine.begin() as con:
            con.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
            con.execute(text(f'DROP SCHEMA IF EXISTS "{staging}" CASCADE'))
            con.execute(text(f'CREATE SCHEMA "{staging}"'))
        for name, gdf in plan.layers.items():
            gdf.to_postgis(name, engine, schema=staging, index=False)
        for name in TABLES:
            table = _plan_table(plan) if name == "plan" else plan.tables[name]
            table.to_sql(name, engine, schema=staging, index=False)
        with engine.begin() as con:
            con.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            con.execute(text(f'ALTER SCHEMA "{staging}" RENAME TO "{schema}"'))
    except Exception as exc:
        raise ExportError(f"writing {plan.plan_id} to PostGIS failed: {exc}") from exc
    finally:
        engine.dispose()
    return schema

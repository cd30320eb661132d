"""Adopt an official 三区三线 / planning-database delivery into a plan in one call.

A bureau holds the official delineation of the control lines in the national database
layout. :func:`adopt` reads such a package (GeoPackage, folder of Shapefiles, or FileGDB where
GDAL reads it), recognises its layers by name (``STBHHX``, ``YJJBNTBHTB``/``YJJBNT``,
``CZKFBJ`` … from the export profiles' data) or by their 要素代码, reprojects them, and swaps
each line's official shape into the plan's feature of that zone class through
:func:`zoning.build.swap_in` — the feature keeps its id, name, citation, attributes and
rules and gets the badge ``authoritative``. The report compares each line's official area
with what the plan states (red line delineated 3.41万 km², farmland ≥ 4748万亩 …).

Here the package is the plan's own database export, standing in for a bureau's delivery
(a real one is a FileGDB such as ``sqsx.gdb``):

>>> shanxi = zoning.load("cn-shanxi-2035")
>>> from zoning.export import export
>>> package = export(shanxi, tmp / "sqsx.gpkg", "cn-mnr", include_schematic=True)
>>> adopted, report = zoning.adopt(shanxi, package)
>>> report[["layer", "official_to_stated"]]
    layer  official_to_stated
0  STBHHX              2.0463
1  YJJBNT              2.1089
2  CZKFBJ                 NaN
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import geopandas as gpd
import pandas as pd
import pyogrio

from ._errors import InputFileError, InvalidArgumentError, UnknownLayerError
from .geometry import ellipsoid_area_m2
from .build import replace_layer
from .files import package_layers, read_vector
from .model import CRS, Plan
from .profiles import layer_zone_classes, profile_layers, profiles

REPORT_COLUMNS = ("layer", "package_layer", "recognised_by", "zone_class", "feature_id",
                  "official_features", "official_km2", "drawn_km2_before", "stated_km2",
                  "stated_text", "official_to_stated")
#: Feature columns holding a line's stated size in km², most specific first
#: (``stated_area_km2`` is the common column the build fills from ``stated_area``).
STATED_KM2_COLUMNS = ("stated_area_km2", "delineated_km2", "target_km2")


class Adopted(NamedTuple):
    """Result of :func:`adopt`: the new plan and one report row per adopted layer."""

    plan: Plan
    report: pd.DataFrame


def official_layers() -> pd.DataFrame:
    """Every control-line layer any profile defines: layer code, 要素代码, zone classes."""
    rows = []
    for name in profiles().index:
        classes = layer_zone_classes(name)
        for layer, row in profile_layers(name).iterrows():
            if classes[layer] and classes[layer] != ["plan_extent"]:
                rows.append({"layer": layer, "ysdm": row.ysdm, "zone_classes": classes[layer]})
    return pd.DataFrame(rows).drop_duplicates("layer").set_index("layer")


def recognise(name: str, ysdm_values: set[str]) -> tuple[str, str] | None:
    """(layer code, how) for a package layer, by its name or else by its YSDM values."""
    known = official_layers()
    tokens = set(re.split(r"[^A-Z]+", name.upper()))
    by_name = [code for code in known.index if code in tokens]
    if by_name:
        return max(by_name, key=len), "name"
    by_ysdm = [code for code, row in known.iterrows() if ysdm_values and ysdm_values == {row.ysdm}]
    if len(by_ysdm) == 1:
        return by_ysdm[0], "YSDM"
    return None


def adopt(plan: Plan, package: str | Path, *, targets: dict[str, str] | None = None) -> Adopted:
    """Swap the official shapes of a 三区三线 / planning-database package into ``plan``.

    Parameters
    ----------
    plan : Plan
    package : str or Path
        GeoPackage, folder of Shapefiles, or FileGDB (any CRS; a layer without one is an
        error).
    targets : dict, optional
        Layer code → feature id (``layer/id`` or full id) where the plan has several features
        of the line's zone class.

    Returns
    -------
    Adopted
        ``(plan, report)``: the plan with the official shapes (badge ``authoritative``), and
        :data:`REPORT_COLUMNS` per adopted layer.
    """
    targets = dict(targets or {})
    known = official_layers()
    feats = plan.features
    found: dict[str, tuple[str, str, gpd.GeoDataFrame]] = {}
    for name, (source, layer) in package_layers(package).items():
        try:
            columns = pyogrio.read_info(source, layer=layer)["fields"]
        except Exception as exc:
            raise InputFileError(f"cannot read layer {name!r} of {package}: {exc}") from exc
        ysdm = set()
        if "YSDM" in columns:
            values = pyogrio.read_dataframe(source, layer=layer, columns=["YSDM"],
                                            read_geometry=False)["YSDM"]
            ysdm = {str(v) for v in values.dropna()}
        hit = recognise(name, ysdm)
        if hit is None:
            continue
        code, how = hit
        if code in found:
            raise InputFileError(f"{package}: layers {found[code][0]!r} and {name!r} are both "
                                 f"{code}")
        gdf = read_vector(source, layer)
        gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
        if gdf.empty:
            raise InputFileError(f"{package}: layer {name!r} ({code}) has no geometry")
        found[code] = (name, how, gdf)
    if not found:
        raise InputFileError(f"{package} has no layer recognised as an official control line "
                             f"(looked for {', '.join(known.index)} by name or 要素代码)")
    rows = []
    for code, (name, how, gdf) in found.items():
        classes = known.at[code, "zone_classes"]
        candidates = feats[feats.zone_class.isin(classes)]
        feature_id = _target(plan, code, candidates, targets.pop(code, None))
        drawn = candidates.set_index("feature_id").geometry[feature_id]
        before = float(ellipsoid_area_m2(gpd.GeoSeries([drawn], crs=CRS))[0]) / 1e6
        layer = feature_id.split("/")[1]
        plan = replace_layer(plan, layer, gdf, feature=feature_id.split("/", 2)[2])
        plan = _note_source(plan, layer, feature_id, f"official delineation adopted from "
                                                     f"{Path(package).name}, layer {name} ({code})")
        adopted = plan.layers[layer].set_index("feature_id").loc[feature_id]
        official = float(ellipsoid_area_m2(gpd.GeoSeries([adopted.geometry], crs=CRS))[0]) / 1e6
        stated = next((float(adopted[c]) for c in STATED_KM2_COLUMNS
                       if c in adopted.index and _number(adopted[c])), None)
        rows.append({
            "layer": code, "package_layer": name, "recognised_by": how,
            "zone_class": adopted.zone_class, "feature_id": feature_id,
            "official_features": len(gdf), "official_km2": round(official, 2),
            "drawn_km2_before": round(before, 2), "stated_km2": stated,
            "stated_text": adopted.get("target_text") if isinstance(adopted.get("target_text"), str)
            else None,
            "official_to_stated": round(official / stated, 4) if stated else None,
        })
    if targets:
        raise InvalidArgumentError(f"targets given for layer(s) not in {package}: "
                                   f"{sorted(targets)}")
    return Adopted(plan, pd.DataFrame(rows, columns=list(REPORT_COLUMNS)))


def _number(value) -> bool:
    try:
        return value is not None and value == value and float(value) > 0
    except (TypeError, ValueError):
        return False


def _target(plan: Plan, code: str, candidates: gpd.GeoDataFrame, chosen: str | None) -> str:
    ids = list(candidates.feature_id)
    if chosen is not None:
        full = chosen if chosen.startswith(plan.plan_id + "/") else f"{plan.plan_id}/{chosen}"
        if full not in ids:
            raise UnknownLayerError(f"target {chosen!r} for {code} is not a feature of the line's "
                                    f"zone class in {plan.plan_id}; candidates: {ids}")
        return full
    if not ids:
        classes = ", ".join(official_layers().at[code, "zone_classes"])
        raise UnknownLayerError(f"{plan.plan_id} has no feature of zone class(es) {classes} to "
                                f"receive {code}")
    if len(ids) > 1:
        raise InvalidArgumentError(f"{plan.plan_id} has {len(ids)} features that could receive "
                                   f"{code}: {ids}; name one with "
                                   f"targets={{'{code}': '<layer>/<id>'}}")
    return ids[0]


def _note_source(plan: Plan, layer: str, feature_id: str, detail: str) -> Plan:
    gdf = plan.layers[layer].copy()
    gdf.loc[gdf.feature_id == feature_id, "basis_detail"] = detail
    layers = dict(plan.layers)
    layers[layer] = gdf
    return replace(plan, layers=MappingProxyType(layers))

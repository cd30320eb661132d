"""Build a plan: validated source → resolved geometry → :class:`~zoning.model.Plan`.

One direction of flow: ``spec`` (read and validate) → ``recipes`` (each feature's recipe drawn
with ``reference`` + ``geometry``) → layers and tables here → ``io`` / ``webmap`` / ``query``
downstream.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

import geopandas as gpd
import pandas as pd
import shapely

from . import reference
from ._errors import (CRSError, InvalidArgumentError, PlanSpecError, Problem,
                      ReferenceLookupError, UnknownLayerError)
from .cache import cached, fingerprint
from .geometry import Resolved, area_km2, as_multi, length_km
from .model import CRS, FEATURE_COLUMNS, REGULATION_NATURE, Plan, PlanRecord, zone_classes
from .recipes import basis_badge, resolve, tessellation_recipe
from .spec import PlanSource, indicators_frame, read_plan_source


class _Resolver:
    """Resolves the recipes of one plan, memoising features and tessellations (the
    :class:`~zoning.recipes.ResolveContext` every recipe draws with)."""

    def __init__(self, src: PlanSource):
        self.src = src
        self.folder = src.folder
        self.layers = src.layers
        self.plan_area, labels = self.units(src.meta.extent.units)
        self.plan_area_detail = "plan extent = " + "; ".join(labels)
        self.features: dict[str, Resolved] = {}
        self.cells: dict[str, dict[str, shapely.Geometry]] = {}
        self._stack: list[str] = []
        self.specs = {f"{name}/{f.id}": (layer, f) for name, layer in src.layers.items()
                      for f in layer.features}

    @staticmethod
    def units(refs) -> tuple[shapely.Geometry, list[str]]:
        geoms, labels = [], []
        for ref in refs:
            g, label = reference.unit(ref)
            geoms.append(g)
            labels.append(label)
        return shapely.make_valid(shapely.union_all(geoms)), labels

    def place(self, ref) -> tuple[shapely.Point, str]:
        if isinstance(ref, str):
            row = self.src.places[ref.removeprefix("local:")]
            return (shapely.Point(row.longitude, row.latitude),
                    f"{ref} {row.name} ({row.source}; {row.licence})")
        return reference.place(ref)

    def region(self, ref: str | None) -> tuple[shapely.Geometry, str]:
        if ref is None or ref == "plan_area":
            return self.plan_area, "plan area"
        if ref.startswith(("CN:", "NE:")):
            return reference.unit(ref)
        return self.feature(ref).geometry, f"feature {ref}"

    def region_badge(self, ref: str | None) -> str:
        """Badge of a clip or tessellation region: a real outline, or a feature's own badge."""
        if ref is None or ref == "plan_area" or ref.startswith(("CN:", "NE:")):
            return basis_badge("admin_units")
        return self.feature(ref).badge

    def tessellation(self, layer_name: str) -> dict[str, shapely.Geometry]:
        if layer_name not in self.cells:
            layer = self.src.layers[layer_name]
            within, _ = self.region(layer.tessellation.within)
            cells = tessellation_recipe(layer.tessellation.method).cells(layer, within, self)
            self.cells[layer_name] = {f.id: c for f, c in zip(layer.features, cells)}
        return self.cells[layer_name]

    def feature(self, key: str) -> Resolved:
        if key in self.features:
            return self.features[key]
        if key in self._stack:
            raise ReferenceLookupError("circular 'features' recipe: " + " → ".join(self._stack + [key]))
        self._stack.append(key)
        try:
            layer_name = key.split("/", 1)[0]
            feat = self.specs[key][1]
            self.features[key] = resolve(feat.geometry, self, layer_name, feat.id,
                                         feat.basis_detail)
        finally:
            self._stack.pop()
        return self.features[key]


def build_plan(plan_id: str, layers_dir: Path | None = None) -> Plan:
    """Validate and build one plan from ``layers/<plan_id>/``.

    Examples
    --------
    >>> plan = build_plan("ir-qom-1414")
    >>> plan["counties"][["name_en", "geometry_basis"]]
                name_en     geometry_basis
    0        Qom County  schematic_voronoi
    1  Jafarabad County  schematic_voronoi
    2      Kahak County  schematic_voronoi
    """
    src = read_plan_source(plan_id, layers_dir=layers_dir)
    resolver = _Resolver(src)
    problems: list[Problem] = []
    classes = zone_classes()
    layers: dict[str, gpd.GeoDataFrame] = {}
    for name, layer in src.layers.items():
        records, geoms = [], []
        for feat in layer.features:
            key = f"{name}/{feat.id}"
            try:
                res = resolver.feature(key)
            except (ReferenceLookupError, ValueError, shapely.errors.GEOSException) as exc:
                problems.append(Problem(src.files[key], feat.id, str(exc), src.lines.get(key)))
                continue
            if res.geometry is None or res.geometry.is_empty:
                problems.append(Problem(src.files[key], feat.id,
                                        "geometry is empty (check the clip region and recipe)",
                                        src.lines.get(key)))
                continue
            lifecycle = feat.lifecycle or src.meta.lifecycle
            records.append({
                "feature_id": f"{plan_id}/{key}",
                "plan_id": plan_id,
                "layer": name,
                "name": feat.name,
                "name_en": feat.name_en,
                "zone_class": feat.zone_class,
                "zone_class_label": classes.at[feat.zone_class, "label_en"],
                "hilucs": classes.at[feat.zone_class, "hilucs"],
                "regulation": feat.regulation,
                "regulation_nature": REGULATION_NATURE[feat.regulation],
                "lifecycle": lifecycle,
                "source_section": feat.source.section,
                "source_lines": feat.source.lines,
                "source_text": feat.source.text,
                "geometry_basis": res.basis,
                "basis_badge": res.badge,
                "basis_detail": res.detail,
                "accuracy_m": res.accuracy_m,
                "stated_area_km2": feat.stated_area.km2 if feat.stated_area else None,
                "stated_area_source": (f"L{feat.stated_area.lines}: {feat.stated_area.text}"
                                       if feat.stated_area else ""),
                "drawn_to_stated": None,
                **feat.attributes,
            })
            geoms.append(as_multi(res.geometry, layer.geometry_type))
        gdf = gpd.GeoDataFrame(records, geometry=geoms, crs=CRS,
                               columns=list(FEATURE_COLUMNS) + sorted(
                                   {k for f in layer.features for k in f.attributes}))
        gdf["area_km2"] = area_km2(gdf) if layer.geometry_type == "polygon" else None
        gdf["length_km"] = length_km(gdf) if layer.geometry_type == "line" else None
        stated = pd.to_numeric(gdf["stated_area_km2"], errors="coerce")
        if layer.geometry_type == "polygon" and stated.notna().any():
            gdf["drawn_to_stated"] = (gdf["area_km2"] / stated).round(3)
        layers[name] = gdf
    if problems:
        raise PlanSpecError(plan_id, problems)

    tables = _tables(src, layers)
    meta = _meta_record(src, resolver)
    return Plan(meta, MappingProxyType(layers), MappingProxyType(tables))


def _meta_record(src: PlanSource, resolver: _Resolver) -> PlanRecord:
    extent_area = float(area_km2(gpd.GeoSeries([resolver.plan_area], crs=CRS))[0])
    return src.meta.record(extent_wkt=resolver.plan_area.wkt,
                           extent_detail=resolver.plan_area_detail,
                           extent_area_km2=round(extent_area, 1), built_at=_dt.date.today())


def _tables(src: PlanSource, layers: dict[str, gpd.GeoDataFrame]) -> dict[str, pd.DataFrame]:
    pid = src.plan_id
    rules = pd.DataFrame([{
        "plan_id": pid, "rule_id": r.id, "effect": r.effect,
        "activities": ";".join(r.activities), "applies_if": r.applies_if.strip(),
        "zone_classes": ";".join(r.applies_to.zone_classes),
        "features": ";".join(f"{pid}/{f}" for f in r.applies_to.features),
        "text": r.text, "text_en": r.text_en,
        "source_section": r.source.section, "source_lines": r.source.lines,
    } for r in src.rules], columns=["plan_id", "rule_id", "effect", "activities", "applies_if",
                                    "zone_classes",
                                    "features", "text", "text_en", "source_section",
                                    "source_lines"])
    statements = pd.DataFrame([{
        "plan_id": pid, "statement_id": s.id, "kind": s.kind, "text": s.text,
        "text_en": s.text_en, "related_features": ";".join(f"{pid}/{f}" for f in s.related_features),
        "source_section": s.source.section, "source_lines": s.source.lines,
    } for s in src.statements], columns=["plan_id", "statement_id", "kind", "text", "text_en",
                                         "related_features", "source_section", "source_lines"])
    indicators = indicators_frame(src)
    indicators.insert(0, "plan_id", pid)
    catalog = pd.DataFrame([{
        "plan_id": pid, "layer": name, "title": spec.title, "title_en": spec.title_en,
        "family": spec.family, "geometry_type": spec.geometry_type,
        "theme": spec.theme or (layers[name].zone_class.map(
            zone_classes()["theme"]).mode().iat[0] if len(layers[name]) else ""),
        "feature_count": len(layers[name]),
    } for name, spec in src.layers.items()])
    used = sorted(set().union(*(set(g.zone_class) for g in layers.values())))
    classes = zone_classes().loc[used].reset_index()
    return {"indicators": indicators, "rules": rules, "statements": statements,
            "layer_catalog": catalog, "zone_classes": classes,
            "sources": reference.sources().copy()}


@lru_cache(maxsize=16)
def _load_cached(plan_id: str, key: str) -> Plan:
    return cached("plan", key, lambda: build_plan(plan_id), label=f"building plan {plan_id}",
                  name=plan_id)


def load(plan_id: str) -> Plan:
    """Build (or return the cached build of) a plan; rebuilt when its source files change.

    Builds are kept in memory and in the persistent cache (:mod:`zoning.cache`), keyed by the
    content of the plan's sources, so a second process reads the plan back instead of
    building it.

    Examples
    --------
    >>> shanxi = zoning.load("cn-shanxi-2035")
    >>> shanxi["control_lines"].basis_badge.value_counts().to_dict()
    {'envelope': 6, 'schematic': 1}
    """
    from .spec import plan_folder

    plan_folder(plan_id)
    return _load_cached(plan_id, fingerprint(plan_id))


def replace_layer(plan: Plan, layer: str, data: gpd.GeoDataFrame | gpd.GeoSeries | str | Path, *,
                  feature: str | None = None, id_column: str | None = None,
                  crs=None) -> Plan:
    """A copy of ``plan`` with ``layer``'s geometry replaced by authoritative data.

    The planning bureau's own boundary (a red line, an urban development boundary) replaces the
    toolkit's reconstruction; every attribute is kept and the replaced features say
    ``geometry_basis = "authoritative"``. The parameters are those of :func:`swap_in`; the
    plan given is left as it was.

    Examples
    --------
    Qom's county of Qom replaced by an "official" polygon (here its own shape, moved 1 km):

    >>> qom = zoning.load("ir-qom-1414")
    >>> counties = qom["counties"]
    >>> fid = counties.feature_id.iloc[0]
    >>> official = counties.iloc[[0]].to_crs("EPSG:32639").translate(1000, 0)
    >>> adopted = zoning.replace_layer(qom, "counties", official, feature=fid.split("/", 2)[2])
    >>> adopted["counties"].set_index("feature_id").at[fid, "geometry_basis"]
    'authoritative'
    >>> qom["counties"].set_index("feature_id").at[fid, "geometry_basis"] != 'authoritative'
    True
    """
    layers = dict(plan.layers)
    layers[layer] = swap_in(plan, layer, data, feature=feature, id_column=id_column, crs=crs)
    return dataclasses.replace(plan, layers=MappingProxyType(layers))


def swap_in(plan: Plan, layer: str, data: gpd.GeoDataFrame | gpd.GeoSeries | str | Path, *,
            feature: str | None = None, id_column: str | None = None,
            crs=None) -> gpd.GeoDataFrame:
    """Replace geometry in ``layer`` with authoritative data, keeping every attribute.

    Parameters
    ----------
    plan : Plan
    layer : str
        Layer whose geometry is replaced.
    data : GeoDataFrame, GeoSeries or path
        Authoritative features (any CRS; one without a CRS is an error).
    feature : str, optional
        Feature id (the part after ``<layer>/``) that receives the union of ``data``.
    id_column : str, optional
        Column of ``data`` holding feature ids (either the short id or the full
        ``feature_id``); each matching feature receives its row's geometry.
    crs : optional
        The CRS of a file that carries none (a Shapefile without ``.prj``); a file with a CRS
        of its own keeps it.

    Returns
    -------
    GeoDataFrame
        The new layer, with ``geometry_basis = "authoritative"`` on replaced features.
    """
    from .files import read_vector

    if layer not in plan.layers:
        raise UnknownLayerError(f"plan {plan.plan_id} has no layer {layer!r}; "
                                f"layers: {', '.join(plan.layers)}")
    if (feature is None) == (id_column is None):
        raise InvalidArgumentError("give exactly one of feature= or id_column=")
    label = str(data) if isinstance(data, (str, Path)) else "a GeoDataFrame"
    gdf = read_vector(data, crs=crs) if isinstance(data, (str, Path)) else data
    if isinstance(gdf, gpd.GeoSeries):
        gdf = gpd.GeoDataFrame(geometry=gdf)
    if gdf.crs is None:
        raise CRSError(f"authoritative data from {label} has no CRS; set one before swapping in")
    gdf = gdf.to_crs(CRS)
    gdf = gdf.set_geometry(gdf.geometry.make_valid())
    out = plan.layers[layer].copy()
    kind = {"MultiPolygon": "polygon", "MultiLineString": "line", "MultiPoint": "point"}[
        out.geom_type.dropna().iloc[0]] if out.geom_type.notna().any() else "polygon"
    if feature is not None:
        targets = {f"{plan.plan_id}/{layer}/{feature}": shapely.union_all(gdf.geometry.values)}
    else:
        ids = gdf[id_column].astype(str)
        full = ids.where(ids.str.contains("/"), f"{plan.plan_id}/{layer}/" + ids)
        targets = dict(zip(full, gdf.geometry.values))
    missing = set(targets) - set(out.feature_id)
    if missing:
        raise UnknownLayerError(f"no feature(s) {sorted(missing)} in layer {layer!r} of "
                                f"{plan.plan_id}")
    mask = out.feature_id.isin(list(targets))
    out.loc[mask, "geometry"] = [as_multi(targets[f], kind) for f in out.loc[mask, "feature_id"]]
    out.loc[mask, "geometry_basis"] = "authoritative"
    out.loc[mask, "basis_badge"] = "authoritative"
    out.loc[mask, "basis_detail"] = f"swapped in from {label}"
    out.loc[mask, "accuracy_m"] = None
    if "area_km2" in out and kind == "polygon":
        out["area_km2"] = area_km2(out)
        if "stated_area_km2" in out:
            stated = pd.to_numeric(out["stated_area_km2"], errors="coerce")
            out["drawn_to_stated"] = (out["area_km2"] / stated).round(3).where(stated.notna())
    if "length_km" in out and kind == "line":
        out["length_km"] = length_km(out)
    return out

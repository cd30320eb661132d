"""The diff map and files of a plan diff: one offline HTML page and one GeoPackage.

:func:`diff_map` draws a :class:`~zoning.diff.PlanDiff` on a Leaflet map that works offline
(Leaflet inlined from ``zoning/_assets/leaflet``, geometry in the plan maps' topology format,
the offline province outline as base layer): layers *before* and *after* hold the changed
features in each version, layer *change* the land whose classes changed (filled with the
class gained, or outlined in the class lost); the legend lists the transitions with their
areas; popups show both versions. :func:`write_diff` writes the map and a GeoPackage of the
change polygons and every table of the diff.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from . import styles
from .diff import PlanDiff, keyed_features
from .io import write_layers
from .files import atomic_path
from .webmap import (ASSETS_DIR, DETAIL_ZOOM, WebTopology, base_layers, class_payload, json_value,
                     context_layers, encode_points, inline_json, leaflet_assets, runtime_js,
                     web_tolerance)

#: Longest attribute value shown in a popup (basis details can run to paragraphs).
_POPUP_TEXT = 240


@cache
def diff_strings() -> dict[str, str]:
    """Words of the diff map (``styles/diff_strings.csv``)."""
    return styles.read_table("diff_strings.csv", "key")["en"].to_dict()


def _short(value) -> object:
    value = json_value(value)
    if isinstance(value, str) and len(value) > _POPUP_TEXT:
        return value[:_POPUP_TEXT - 1] + "…"
    return value


def _version_features(features: gpd.GeoDataFrame, keys, topology: WebTopology) -> list[dict]:
    out = []
    for key in keys:
        if key not in features.index:
            continue
        row = features.loc[key]
        geometry = row.geometry
        if geometry is None or geometry.is_empty:
            continue
        props = {"key": key, "name": json_value(row["name"]), "name_en": json_value(row["name_en"]),
                 "zone_class": row["zone_class"]}
        if geometry.geom_type in ("Point", "MultiPoint"):
            out.append({"p": props, "g": encode_points(geometry, topology.scale)})
        else:
            out.append({"p": props, "shape": topology.add(geometry)})
    return out


def _feature_notes(d: PlanDiff) -> dict[str, dict]:
    attrs = d.attributes.groupby("key") if len(d.attributes) else {}
    notes = {}
    for row in d.features.itertuples(index=False):
        rec = {c: json_value(getattr(row, c)) for c in (
            "change", "old_area_km2", "new_area_km2", "area_gained_km2", "area_lost_km2",
            "old_length_km", "new_length_km", "length_gained_km", "length_lost_km",
            "old_badge", "new_badge", "badge_change", "precision", "stated_km2",
            "stated_column", "stated_ratio", "stated_met")}
        rec["attributes"] = ([{"attribute": a.attribute, "old": _short(a.old), "new": _short(a.new)}
                              for a in attrs.get_group(row.key).itertuples()]
                             if len(d.attributes) and row.key in attrs.groups else [])
        notes[row.key] = rec
    return notes


def _counts(d: PlanDiff) -> list[str]:
    lines = []
    for name, table in (("features", d.features), ("rules", d.rules),
                        ("indicators", d.indicators), ("statements", d.statements)):
        counts = table.change.value_counts()
        lines.append(f"{name}: " + ", ".join(f"{counts.get(c, 0)} {c}"
                                             for c in ("added", "removed", "changed")))
    for row in d.features[d.features.precision != ""].itertuples():
        lines.append(f"{row.name_en or row.key}: {row.precision}")
    return lines


def diff_map_data(d: PlanDiff, *, zoom: int = DETAIL_ZOOM, simplify: bool = True,
                  tiles: str | None = None) -> dict:
    """Everything the diff-map runtime (``_assets/diff.js``) draws, as a JSON-ready dict."""
    old, new = keyed_features(d.old), keyed_features(d.new)
    before_keys = d.features.key[d.features.change != "added"].tolist()
    after_keys = d.features.key[d.features.change != "removed"].tolist()
    geoms = [*old.loc[old.index.intersection(before_keys)].geometry,
             *new.loc[new.index.intersection(after_keys)].geometry, *d.changes.geometry]
    geoms = [g for g in geoms if g is not None and not g.is_empty]
    if not geoms:
        geoms = [g for g in new.geometry if g is not None and not g.is_empty] or [
            shapely.box(-1, -1, 1, 1)]
    bounds = np.array(shapely.total_bounds(np.asarray(geoms, dtype=object)))
    tolerance, decimals = web_tolerance(zoom, float(np.abs(bounds[[1, 3]]).max()))
    topology = WebTopology(10 ** decimals, tolerance if simplify else 0.0)
    before = _version_features(old, before_keys, topology)
    after = _version_features(new, after_keys, topology)
    changes = []
    changed_keys = set(d.features.key)
    names: dict[str, dict] = {"old": {}, "new": {}}
    for version, frame in (("old", old), ("new", new)):
        for row in frame[["key", "feature_id", "name", "name_en", "zone_class", "basis_badge"]] \
                .itertuples(index=False):
            names[version][row.feature_id] = {
                "name": json_value(row.name), "name_en": json_value(row.name_en),
                "zone_class": row.zone_class, "badge": row.basis_badge,
                "changed": row.key in changed_keys}
    used: dict[str, set] = {"old": set(), "new": set()}
    for row in d.changes.itertuples(index=False):
        ids = {}
        for version, joined in (("old", row.old_features), ("new", row.new_features)):
            # the features that changed first, then the unchanged ones
            members = [i for i in joined.split(";") if i in names[version]]
            ids[version] = sorted(members, key=lambda i: not names[version][i]["changed"])
            used[version].update(members)
        changes.append({"p": {"from": row.from_class, "to": row.to_class,
                              "area_km2": round(float(row.area_km2), 4),
                              "old_features": ids["old"], "new_features": ids["new"]},
                        "shape": topology.add(row.geometry)})
    topology.build()
    for feature in (*before, *after, *changes):
        if "shape" in feature:
            feature["g"] = topology.shapes[feature.pop("shape")]
    totals = (d.transitions.groupby(["from_class", "to_class"], as_index=False).area_km2.sum()
              .sort_values("area_km2", ascending=False))
    codes = sorted({c for f in (*before, *after) for c in [f["p"]["zone_class"]]}
                   | {c for t in (*d.transitions.from_class, *d.transitions.to_class)
                      for c in str(t).split(" & ") if c}
                   | {names[v][i]["zone_class"] for v in used for i in used[v]})
    return {
        "version": 1, "scale": topology.scale,
        "title": f"{d.old_label} → {d.new_label}",
        "old_label": d.old_label, "new_label": d.new_label,
        "ui": diff_strings(),
        "classes": {c: class_payload(c) for c in codes},
        "bases": [b for b in base_layers(tiles) if b.get("url")],
        "context": context_layers(bounds, topology.scale),
        "bounds": [[bounds[1], bounds[0]], [bounds[3], bounds[2]]],
        "arcs": topology.encoded_arcs(),
        "before": before, "after": after, "changes": changes,
        "features": {v: {i: names[v][i] for i in used[v]} for v in used},
        "diffs": _feature_notes(d),
        "transitions": [{"from": r.from_class, "to": r.to_class,
                         "area_km2": round(float(r.area_km2), 4)}
                        for r in totals.itertuples(index=False)],
        "counts": _counts(d),
    }


class _DiffLayers(MacroElement):
    _template = Template("""
        {% macro html(this, kwargs) %}
        <script type="application/json" id="{{ this.get_name() }}">{{ this.payload }}</script>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        zoningDiffMap({{ this._parent.get_name() }},
                      JSON.parse(document.getElementById("{{ this.get_name() }}").textContent));
        {% endmacro %}
    """)

    def __init__(self, data: dict):
        super().__init__()
        self._name = "zoning_diff"
        # the plan maps' escaping: no name can end the element or open an HTML comment
        self.payload = inline_json(data, default=json_value)


def diff_map(d: PlanDiff, *, tiles: str | None = None, zoom: int = DETAIL_ZOOM,
             simplify: bool = True) -> folium.Map:
    """Folium map of a plan diff that works offline as one HTML page.

    Examples
    --------
    >>> from dataclasses import replace
    >>> kontum = zoning.load("vn-kontum-2030")
    >>> d = zoning.diff(kontum, replace(kontum, layers={**kontum.layers,
    ...                 "districts": kontum["districts"].iloc[1:]}))
    >>> diff_map(d).save(tmp / "kontum-diff.html")
    """
    data = diff_map_data(d, zoom=zoom, simplify=simplify, tiles=tiles)
    m = folium.Map(tiles=None, control_scale=False, zoom_start=2)
    m.default_js = []
    m.default_css = []
    css, js = leaflet_assets()
    own_css = "".join((ASSETS_DIR / f).read_text(encoding="utf-8")
                      for f in ("zoning.css", "diff.css"))
    own_js = runtime_js("diff.js")
    root = m.get_root()
    root.header.add_child(Element(f"{css}\n<style>{own_css}</style>"), name="zoning_css")
    root.header.add_child(Element(f"{js}\n<script>{own_js}</script>"), name="zoning_js")
    root.header.add_child(Element(f"<title>{html.escape(data['title'], quote=False)}</title>"),
                          name="zoning_title")
    m.add_child(_DiffLayers(data))
    return m


def write_diff_map(d: PlanDiff, path: str | Path, **kwargs) -> Path:
    """Write the diff map of ``d`` to ``path`` (HTML) atomically."""
    path = Path(path)
    html = diff_map(d, **kwargs).get_root().render()
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path


def write_diff(d: PlanDiff, out_dir: str | Path, *, map: bool = True, **map_kwargs
               ) -> dict[str, Path]:
    """Write ``diff.gpkg`` (change polygons and every table) and ``diff.html`` (the diff map)
    into ``out_dir``, each atomically; returns the paths by kind (``gpkg``, ``map``).

    Examples
    --------
    >>> yongji = zoning.load("cn-yongji-2035")
    >>> d = zoning.diff(yongji, yongji)
    >>> {kind: path.name for kind, path in zoning.write_diff(d, tmp / "yongji-diff").items()}
    {'gpkg': 'diff.gpkg', 'map': 'diff.html'}
    """
    out_dir = Path(out_dir)
    tables = {"changes": d.changes, "features": d.features, "attribute_changes": d.attributes,
              "transitions": d.transitions, "classes": d.classes, "rules": d.rules,
              "indicators": d.indicators, "statements": d.statements}
    paths = {"gpkg": write_layers(tables, out_dir / "diff.gpkg")}
    if map:
        paths["map"] = write_diff_map(d, out_dir / "diff.html", **map_kwargs)
    return paths

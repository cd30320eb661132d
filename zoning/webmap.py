"""Interactive web maps: one self-contained, offline HTML file per map (folium + Leaflet).

A map is a folium :class:`~folium.Map` whose page inlines everything it needs — Leaflet
(vendored from the npm ``leaflet`` package in ``zoning/_assets/``), the map runtime
(``_assets/zoning.js``), the styles from ``styles/`` and the plan data — so it opens from a
mail attachment or a USB stick with no network, and asks for nothing until a reader picks an
online base map.

The map shows every layer in a tree grouped by plan and theme, a legend of the visible
classes in English and the plan language, popups with the original and English names,
class, regulation, the rules that apply, the citation and the geometry-basis badge
(authoritative / approximate / envelope / schematic), a place search, a language switch and a scale bar.

Geometry is made light for the screen (:class:`WebTopology`, :func:`simplify_for_web`):
coordinates are rounded to what the detail zoom can show, every boundary shared between
features — across all layers and plans of the map — is stored and simplified once (tiling
layers are cleaned into an exact coverage first), and arcs travel as integer deltas.
See ``docs/webmaps.md`` and ``docs/performance-maps.md``.
"""

from __future__ import annotations

import html
import base64
import json
import math
import re
import warnings
from functools import cache
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from . import styles
from ._errors import InvalidArgumentError
from .files import atomic_path
from .model import Plan, rule_matches

ASSETS_DIR = Path(__file__).parent / "_assets"
#: Languages written right to left.
RTL_LANGUAGES = ("fa", "ar", "he", "ur")
#: Zoom up to which the simplified geometry is indistinguishable from the full geometry.
DETAIL_ZOOM = 12
#: Largest simplification error, as a fraction of a screen pixel at the detail zoom.
PIXEL_FRACTION = 0.4
_GEOMETRY_FAMILY = {"MultiPolygon": "polygon", "Polygon": "polygon",
                    "MultiLineString": "line", "LineString": "line",
                    "MultiPoint": "point", "Point": "point"}


# --- geometry for the screen ----------------------------------------------------------------

def web_tolerance(zoom: int = DETAIL_ZOOM, latitude: float = 0.0) -> tuple[float, int]:
    """Simplification tolerance (degrees) and coordinate decimals for display up to ``zoom``.

    A Web-Mercator pixel at ``zoom`` spans ``360 / (256 · 2**zoom)`` degrees of longitude and
    ``cos(latitude)`` times that of latitude; the tolerance is :data:`PIXEL_FRACTION` of the
    smaller, and the decimals keep the rounding error under half the tolerance.

    Examples
    --------
    >>> tolerance, decimals = web_tolerance(12, 40.0)
    >>> round(tolerance * 1e6), decimals
    (105, 4)
    """
    degrees_per_pixel = 360.0 / (256 * 2 ** zoom)
    tolerance = PIXEL_FRACTION * degrees_per_pixel * math.cos(math.radians(min(abs(latitude), 85)))
    decimals = math.ceil(-math.log10(tolerance))
    return tolerance, decimals


def _quantise(coords: np.ndarray, scale: float) -> np.ndarray:
    """Integer grid coordinates without consecutive repeats."""
    q = np.rint(coords[:, :2] * scale).astype(np.int64)
    keep = np.ones(len(q), dtype=bool)
    keep[1:] = np.any(q[1:] != q[:-1], axis=1)
    return q[keep]


def _pack(q: np.ndarray) -> np.ndarray:
    """One unsigned 64-bit key per grid point (|x|, |y| < 2**31 grid units)."""
    if len(q) and np.abs(q).max() >= 1 << 31:
        raise ValueError("coordinates too fine for the grid: use a lower detail zoom")
    offset = np.int64(1 << 31)
    return ((q[:, 0] + offset).astype(np.uint64) << np.uint64(32)) | \
        (q[:, 1] + offset).astype(np.uint64)


class WebTopology:
    """Lines and rings on an integer grid, cut into arcs that are stored and simplified once.

    Like TopoJSON: every boundary two features share (a county edge reused by ten layers, the
    edge between two tiling zones) becomes one arc, so it is sent once and simplified once —
    neighbours can never drift apart, whichever layers they are in. Rings reference arcs by
    index, ``~i`` for arc ``i`` reversed.

    Parameters
    ----------
    scale : float
        Grid units per degree (``10 ** decimals``).
    tolerance : float
        Douglas–Peucker tolerance in degrees; 0 keeps every vertex.

    Examples
    --------
    >>> import shapely
    >>> topo = WebTopology(scale=10, tolerance=0)
    >>> a = topo.add(shapely.box(0, 0, 1, 1))
    >>> b = topo.add(shapely.box(1, 0, 2, 1))
    >>> topo.build()
    >>> len(topo.arcs)            # the shared edge x = 1 is stored once
    3
    """

    def __init__(self, scale: float, tolerance: float):
        self.scale = scale
        self.tolerance = tolerance * scale
        self._lines: list[np.ndarray] = []
        self._closed: list[bool] = []
        self._shapes: list[tuple[str, list]] = []
        self.arcs: list[np.ndarray] = []
        self.shapes: list[dict] = []

    def add(self, geometry: shapely.Geometry) -> int:
        """Register a (multi)polygon or (multi)line; returns its shape index."""
        family = _GEOMETRY_FAMILY[geometry.geom_type]
        parts = []
        for part in shapely.get_parts(geometry):
            if family == "polygon":
                rings = [self._line(shapely.get_coordinates(r), True)
                         for r in (part.exterior, *part.interiors)]
                parts.append(rings)
            else:
                parts.append(self._line(shapely.get_coordinates(part), False))
        self._shapes.append((family, parts))
        return len(self._shapes) - 1

    def _line(self, coords: np.ndarray, closed: bool) -> int:
        q = _quantise(coords, self.scale)
        if closed and len(q) > 1 and (q[0] != q[-1]).any():
            q = np.vstack([q, q[:1]])
        self._lines.append(q)
        self._closed.append(closed)
        return len(self._lines) - 1

    def _junctions(self) -> np.ndarray:
        """Grid points where lines meet, split or end (packed keys)."""
        keys, lows, highs, ends = [], [], [], []
        for q, closed in zip(self._lines, self._closed):
            if len(q) < 2:
                continue
            k = _pack(q)
            if closed:
                core = k[:-1]
                prev, nxt = np.roll(core, 1), np.roll(core, -1)
            else:
                core, prev, nxt = k, np.r_[k[:1], k[:-1]], np.r_[k[1:], k[-1:]]
                ends.append(k[[0, -1]])
            keys.append(core)
            lows.append(np.minimum(prev, nxt))
            highs.append(np.maximum(prev, nxt))
        if not keys:
            return np.empty(0, dtype=np.int64)
        k, lo, hi = np.concatenate(keys), np.concatenate(lows), np.concatenate(highs)
        order = np.lexsort((hi, lo, k))
        k, lo, hi = k[order], lo[order], hi[order]
        first = np.r_[True, k[1:] != k[:-1]]
        new_pair = first | np.r_[True, (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])]
        pairs = np.add.reduceat(new_pair.astype(np.int64), np.flatnonzero(first))
        # A point reached from different neighbours in different lines is where they part.
        junctions = k[first][pairs > 1]
        return np.union1d(junctions, np.concatenate(ends) if ends else junctions[:0])

    def _cut(self, q: np.ndarray, closed: bool, junctions: np.ndarray) -> list[np.ndarray]:
        if len(q) < 2:
            return [q]
        flags = np.isin(_pack(q), junctions)
        if closed:
            ring = q[:-1]
            hits = np.flatnonzero(flags[:-1])
            if not len(hits):
                # A ring touching nothing: start at its smallest point, so the same ring in
                # another feature becomes the same arc.
                start = int(np.argmin(_pack(ring)))
                return [np.vstack([ring[start:], ring[:start + 1]])]
            ring = np.vstack([ring[hits[0]:], ring[:hits[0]]])
            q = np.vstack([ring, ring[:1]])
            cuts = np.r_[hits - hits[0], len(ring)]
        else:
            cuts = np.r_[0, np.flatnonzero(flags[1:-1]) + 1, len(q) - 1]
        return [q[a:b + 1] for a, b in zip(cuts[:-1], cuts[1:])]

    def build(self) -> None:
        """Cut every line into arcs, merge equal arcs, simplify each arc once."""
        junctions = self._junctions()
        index: dict[bytes, int] = {}
        raw: list[np.ndarray] = []
        refs_of_line: list[list[int]] = []
        for q, closed in zip(self._lines, self._closed):
            refs = []
            for arc in self._cut(q, closed, junctions):
                arc = np.ascontiguousarray(arc)
                key = arc.tobytes()
                if key in index:
                    refs.append(index[key])
                    continue
                back = np.ascontiguousarray(arc[::-1]).tobytes()
                if back in index:
                    refs.append(~index[back])
                    continue
                index[key] = len(raw)
                raw.append(arc)
                refs.append(len(raw) - 1)
            refs_of_line.append(refs)
        self.arcs = self._simplify(raw)
        self.shapes = [self._shape(family, parts, refs_of_line, raw)
                       for family, parts in self._shapes]
        self._prune()

    def _prune(self) -> None:
        """Drop the arcs of rings too small to draw (no shape refers to them) and renumber."""
        used = sorted({r if r >= 0 else ~r for shape in self.shapes
                       for refs in self._ref_lists(shape) for r in refs})
        if len(used) == len(self.arcs):
            return
        new = {old: i for i, old in enumerate(used)}
        self.arcs = [self.arcs[i] for i in used]
        done: set[int] = set()
        for shape in self.shapes:
            for refs in self._ref_lists(shape):
                if id(refs) not in done:                  # a list may be shared: map it once
                    done.add(id(refs))
                    refs[:] = [new[r] if r >= 0 else ~new[~r] for r in refs]

    @staticmethod
    def _ref_lists(shape: dict) -> list[list[int]]:
        if shape["type"] == "MultiLineString":
            return shape["a"]
        return [refs for rings in shape["a"] for refs in rings]

    def _simplify(self, raw: list[np.ndarray]) -> list[np.ndarray]:
        # All arcs in one topology-preserving pass: no arc may come to cross another, or
        # itself, and a closed arc keeps at least a triangle.
        ids = [i for i, a in enumerate(raw) if len(a) > 2]
        if self.tolerance <= 0 or not ids:
            return raw
        lines = shapely.linestrings(np.concatenate([raw[i] for i in ids]).astype(float),
                                    indices=np.repeat(np.arange(len(ids)),
                                                      [len(raw[i]) for i in ids]))
        simple = shapely.simplify(shapely.multilinestrings(lines), self.tolerance,
                                  preserve_topology=True)
        parts = shapely.get_parts(simple)
        if len(parts) != len(ids):
            return raw
        out = list(raw)
        for i, part in zip(ids, parts):
            out[i] = np.rint(shapely.get_coordinates(part)).astype(np.int64)
        return out

    def _ring(self, refs: list[int]) -> np.ndarray:
        pieces = [self.arcs[r] if r >= 0 else self.arcs[~r][::-1] for r in refs]
        return np.vstack([pieces[0]] + [p[1:] for p in pieces[1:]])

    def _shape(self, family: str, parts: list, refs_of_line: list[list[int]],
               raw: list[np.ndarray]) -> dict:
        if family == "line":
            return {"type": "MultiLineString", "a": [refs_of_line[i] for i in parts]}
        polygons = []
        for rings in parts:
            kept = []
            for k, line in enumerate(rings):
                # A ring that simplification flattens (fewer than three distinct points) is
                # smaller than a pixel; a part whose exterior goes is dropped with its holes.
                if len(np.unique(self._ring(refs_of_line[line]), axis=0)) >= 3:
                    kept.append(refs_of_line[line])
                elif k == 0:
                    break
            if kept:
                polygons.append(kept)
        if not polygons:
            # Never lose a feature: keep its largest ring unsimplified, as an arc of its own.
            line = max((rings[0] for rings in parts),
                       key=lambda i: len(self._lines[i]))
            self.arcs.append(self._lines[line])
            polygons = [[[len(self.arcs) - 1]]]
        return {"type": "MultiPolygon", "a": polygons}

    def geometry(self, shape: int) -> shapely.Geometry:
        """The simplified shape as a shapely geometry in degrees."""
        s = self.shapes[shape]
        if s["type"] == "MultiLineString":
            return shapely.MultiLineString([self._ring(refs) / self.scale for refs in s["a"]])
        return shapely.MultiPolygon([
            shapely.Polygon(self._ring(rings[0]) / self.scale,
                            [self._ring(r) / self.scale for r in rings[1:]])
            for rings in s["a"]])

    def encoded_arcs(self) -> list[list[int]]:
        """Arcs as flat integer lists ``[x0, y0, dx1, dy1, …]`` for the map runtime."""
        return [np.diff(a, axis=0, prepend=np.zeros((1, 2), dtype=np.int64)).ravel().tolist()
                for a in self.arcs]


def _clean_coverage(geoms: np.ndarray) -> np.ndarray:
    # Zones computed separately (e.g. clipped Voronoi cells) share edges only to the last
    # bits, or with a vertex on one side only; cleaning makes shared edges identical, so they
    # become one arc.
    if not hasattr(shapely, "coverage_clean"):
        return geoms
    present = ~(pd.isna(geoms) | shapely.is_empty(geoms))
    if present.sum() < 2 or not all(_GEOMETRY_FAMILY[g.geom_type] == "polygon"
                                    for g in geoms[present]):
        return geoms
    out = geoms.copy()
    out[present] = shapely.coverage_clean(geoms[present])
    return out


def _valid(geometry: shapely.Geometry) -> shapely.Geometry:
    # Rounding to the screen grid can pinch a narrow neck of a ring into a self-touch; the
    # browser draws it the same either way, but a GeoDataFrame should hold valid shapes.
    if shapely.is_valid(geometry):
        return geometry
    family = _GEOMETRY_FAMILY[geometry.geom_type]
    kind = shapely.Polygon if family == "polygon" else shapely.LineString
    parts = [p for p in shapely.get_parts(shapely.make_valid(geometry))
             for p in shapely.get_parts(p) if isinstance(p, kind)]
    return (shapely.MultiPolygon if family == "polygon" else shapely.MultiLineString)(parts)


def simplify_for_web(gdf: gpd.GeoDataFrame, *, zoom: int = DETAIL_ZOOM,
                     coverage: bool = False) -> gpd.GeoDataFrame:
    """Copy of a layer as a web map draws it: simplified for ``zoom``, on the screen grid.

    Shared boundaries are simplified once (:class:`WebTopology`), so adjacent zones keep one
    common edge and no gap or overlap opens between them; every vertex moves by less than
    :data:`PIXEL_FRACTION` of a pixel plus half a grid unit at ``zoom``. Points are only
    rounded. A ring that rounding pinches is made valid. No feature is dropped; the index and
    every column are kept; the input is not modified.

    Parameters
    ----------
    gdf : GeoDataFrame
        One layer in EPSG:4326.
    zoom : int
        Detail zoom.
    coverage : bool
        The polygons tile space (a tiling layer): clean the coverage first
        (:func:`shapely.coverage_clean`) so edges that match only approximately are shared.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> tiles = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
    ...                          crs=4326)
    >>> simplify_for_web(tiles).geometry.iloc[0].bounds
    (0.0, 0.0, 1.0, 1.0)
    """
    out = gdf.copy()
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    present = ~(pd.isna(geoms) | shapely.is_empty(geoms))
    if not present.any():
        return out
    latitude = float(np.abs(gdf.total_bounds[[1, 3]]).max())
    tolerance, decimals = web_tolerance(zoom, latitude)
    if coverage:
        geoms = _clean_coverage(geoms)
    topology = WebTopology(10 ** decimals, tolerance)
    shapes = {i: topology.add(g) for i, g in enumerate(geoms)
              if present[i] and _GEOMETRY_FAMILY[g.geom_type] != "point"}
    topology.build()
    result = np.asarray(gdf.geometry.array, dtype=object).copy()
    scale = 10 ** decimals
    for i, g in enumerate(geoms):
        if i in shapes:
            result[i] = _valid(topology.geometry(shapes[i]))
        elif present[i]:
            result[i] = shapely.set_precision(g, 1 / scale)
    out[gdf.geometry.name] = gpd.GeoSeries(result, index=gdf.index, crs=gdf.crs)
    return out


def encode_points(geometry: shapely.Geometry, scale: float) -> dict:
    """Compact JSON form of a (multi)point: integer grid coordinates.

    Examples
    --------
    >>> import shapely
    >>> encode_points(shapely.Point(100.5, 30.25), 100)
    {'type': 'MultiPoint', 'c': [[10050, 3025]]}
    """
    return {"type": "MultiPoint", "c": [[int(x), int(y)] for x, y in
                                        np.rint(shapely.get_coordinates(geometry) * scale)]}


# --- the map payload ------------------------------------------------------------------------

def _labels(row: pd.Series, prefix: str = "label_") -> dict:
    return {lang: row[f"{prefix}{lang}"] for lang in ("en",) + styles.LANGUAGES
            if row.get(f"{prefix}{lang}", "")}


def class_payload(code: str) -> dict:
    s = styles.class_style(code)
    return {"fill": s["fill"], "fill_opacity": float(s["fill_opacity"]), "stroke": s["stroke"],
            "weight": float(s["weight"]), "dash": s["dash"], "hatch": s["hatch"],
            "hatch_color": s["hatch_color"], "marker": s["marker"],
            "marker_size": float(s["marker_size"]), "z": int(s["z_order"]), "theme": s["theme"],
            "label": _labels(pd.Series(s))}


def base_layers(tiles: str | None) -> list[dict]:
    import xyzservices

    out = []
    for base, row in styles.base_maps().iterrows():
        entry = {"id": base, "label": _labels(row), "default": False}
        if row["provider"]:
            try:
                provider = xyzservices.providers.query_name(row["provider"])
            except ValueError:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if provider.requires_token():
                    continue
                entry.update(url=provider.build_url(fill_subdomain=False),
                             attribution=provider.html_attribution,
                             max_zoom=int(provider.get("max_zoom", 18)),
                             subdomains=provider.get("subdomains", "abc"))
        out.append(entry)
    if tiles:
        import xyzservices

        try:
            provider = xyzservices.providers.query_name(tiles)
            custom = {"url": provider.build_url(fill_subdomain=False),
                      "attribution": provider.html_attribution,
                      "max_zoom": int(provider.get("max_zoom", 18)),
                      "subdomains": provider.get("subdomains", "abc")}
        except ValueError:
            custom = {"url": tiles, "attribution": "", "max_zoom": 18, "subdomains": "abc"}
        out.insert(0, {"id": "custom", "label": {"en": f"{tiles} (online)"}, "default": True,
                       **custom})
    else:
        out[0]["default"] = True
    return out


#: Characters of each plan language's script, to pick a place's name in it from GeoNames'
#: alternate names (Vietnamese place names are already written in their own script).
_SCRIPTS = {"zh": re.compile(r"[\u4e00-\u9fff]"), "fa": re.compile(r"[\u0600-\u06ff]")}


def _local_name(alternates: str, language: str) -> str:
    script = _SCRIPTS.get(language)
    if script is None or not alternates:
        return ""
    names = [n for n in alternates.split("|") if script.search(n)]
    if language == "fa":
        # Persian spelling (ی, ک) over Arabic (ي, ك) where GeoNames has both
        names.sort(key=lambda n: ("\u064a" in n or "\u0643" in n, len(n)))
    else:
        names.sort(key=len)
    return names[0] if names else ""


def context_layers(bounds: np.ndarray, scale: float, languages: dict[str, str] | None = None, *,
             names: bool = False) -> dict:
    """The offline base map around the plans: provinces, rivers and names that orient.

    * province outlines (Natural Earth admin-1), simplified to about a thousandth of the
      frame, shared borders stored once, and their names;
    * rivers (CIA World Data Bank II), simplified to about a two-thousandth of the frame, and
      the names of the curated named rivers;
    * places (GeoNames), each with the zoom from which its name shows, by population
      (``styles/base_labels.csv``), in English and, where the map's plans are in that
      country, in the plan's script.

    Labels are ``[x, y, class, English, local]`` on the map's integer grid; ``class`` indexes
    ``label_classes`` (kind, first zoom, font size, colour).

    Everything is clipped to a frame around the plans. ``languages`` maps a country code to
    the language of the plans there. Without ``names`` only the province outlines are made
    (what the diff map draws).
    """
    from .reference import admin1, named_river_spec, places, river_dirs, river_line, rivers

    languages = languages or {}
    labels = styles.base_labels()
    west, south, east, north = bounds
    pad = 0.5 * max(east - west, north - south, 1.0)
    frame = shapely.box(west - pad, south - pad, east + pad, north + pad)
    span = frame.bounds[2] - frame.bounds[0]
    units = admin1()
    clipped = shapely.intersection(np.asarray(units.geometry.array), frame)
    present = ~shapely.is_empty(clipped)
    polygons = [shapely.MultiPolygon([p for p in shapely.get_parts(g)
                                      if isinstance(p, shapely.Polygon)]) for g in clipped[present]]
    topology = WebTopology(scale, span / 1000)
    shapes = [topology.add(g) for g in polygons if not g.is_empty]
    topology.build()
    if not names:
        return {"arcs": topology.encoded_arcs(), "shapes": [topology.shapes[i] for i in shapes]}

    def grid(x: float, y: float) -> list[int]:
        return [int(round(x * scale)), int(round(y * scale))]

    def style(kind: str, population: float = 0) -> int:
        rows = labels[labels.kind == kind].sort_values("min_population", ascending=False)
        return int(rows.index[rows.min_population <= population][0])

    names = []
    for row, shape in zip(units[present].itertuples(), clipped[present]):
        point = shapely.point_on_surface(shape)
        local = getattr(row, f"name_{languages.get(row.iso_a2, '')}", "") or ""
        names.append([*grid(point.x, point.y), style("province"), row.name_en, local])
    river_topology = WebTopology(scale, span / 2000)
    river_shapes = []
    for line in shapely.intersection(np.asarray(rivers().geometry.array), frame):
        if not line.is_empty and _GEOMETRY_FAMILY.get(line.geom_type) == "line":
            river_shapes.append(river_topology.add(line))
    for folder in river_dirs():
        for path in sorted(folder.glob("*.yaml")):
            spec = named_river_spec(path.stem)
            line, _ = river_line(path.stem)
            inside = shapely.intersection(line, frame)
            if inside.is_empty:
                continue
            point = shapely.line_interpolate_point(
                max(shapely.get_parts(inside), key=lambda part: part.length), 0.5,
                normalized=True)
            names.append([*grid(point.x, point.y), style("river"),
                          spec.get("name_en", path.stem), spec.get("name", "")])
    river_topology.build()
    table = places()
    inside = table[(table.longitude >= frame.bounds[0]) & (table.longitude <= frame.bounds[2])
                   & (table.latitude >= frame.bounds[1]) & (table.latitude <= frame.bounds[3])
                   & (table.population >= labels.loc[labels.kind == "place",
                                                     "min_population"].min())]
    for row in inside.sort_values("population", ascending=False).itertuples():
        language = languages.get(row.countrycode, "")
        local = _local_name(str(row.alternatenames), language)
        names.append([*grid(row.longitude, row.latitude), style("place", row.population),
                      row.name, "" if local == row.name else local])
    # placed in priority order (the order of styles/base_labels.csv), larger places first
    names.sort(key=lambda label: label[2])
    return {"arcs": topology.encoded_arcs(), "shapes": [topology.shapes[i] for i in shapes],
            "river_arcs": river_topology.encoded_arcs(),
            "rivers": [river_topology.shapes[i] for i in river_shapes],
            "label_classes": [{"kind": r.kind, "z": int(r.min_zoom), "max_z": int(r.max_zoom),
                               "size": float(r.font_px), "colour": r.colour}
                              for r in labels.itertuples()],
            "labels": names}


def _rules_index(plan: Plan) -> tuple[dict, dict[str, list[str]]]:
    """The plan's rules by id, and the ids of the rules that apply to each feature."""
    rules = plan.tables.get("rules", pd.DataFrame())
    table = {r.rule_id: {"effect": r.effect, "text": r.text, "text_en": r.text_en,
                         "section": r.source_section, "lines": str(r.source_lines)}
             for r in rules.itertuples()}
    if rules.empty:
        return table, {}
    features = plan.features
    pairs = rule_matches(features, rules)
    pairs = pd.DataFrame({"feature_id": features.feature_id.to_numpy()[pairs.feature],
                          "rule_id": rules.rule_id.to_numpy()[pairs.rule]})
    return table, {fid: sorted(set(ids)) for fid, ids in pairs.groupby("feature_id").rule_id}


def json_value(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if np.isnan(value) else float(value)
    return value


def _plan_payload(plan: Plan, topology: WebTopology) -> dict:
    """One plan's layers and rules; feature geometry is registered with ``topology``."""
    catalog = plan.tables["layer_catalog"].set_index("layer")
    language = str(plan.meta.get("language", "en"))
    rules, rules_of = _rules_index(plan)
    defaults = styles.layer_defaults(plan).set_index("layer")
    layers, themes = [], {}
    for name, gdf in plan.layers.items():
        family = catalog.at[name, "family"]
        geometry_type = catalog.at[name, "geometry_type"]
        theme = catalog.at[name, "theme"] or "other"
        data = gdf
        if family == "tiling":
            data = gdf.set_geometry(gpd.GeoSeries(
                _clean_coverage(np.asarray(gdf.geometry.array, dtype=object)),
                index=gdf.index, crs=gdf.crs))
        if geometry_type == "polygon" and len(data):
            # Large zones first, so smaller ones drawn at the same level stay clickable.
            data = data.iloc[np.argsort(-shapely.area(np.asarray(data.geometry.array)),
                                        kind="stable")]
        features = []
        for row in data.itertuples(index=False):
            geometry = row.geometry
            if geometry is None or geometry.is_empty:
                continue
            props = {
                "id": row.feature_id, "name": row.name, "name_en": row.name_en,
                "zone_class": row.zone_class, "regulation": row.regulation,
                "lifecycle": row.lifecycle, "section": row.source_section,
                "lines": str(row.source_lines), "text": row.source_text,
                "basis": row.geometry_basis, "badge": row.basis_badge,
                "detail": row.basis_detail, "accuracy_m": json_value(row.accuracy_m),
                "rules": rules_of.get(row.feature_id, []),
            }
            for measure, digits in (("area_km2", 2), ("length_km", 1), ("stated_area_km2", 2),
                                    ("drawn_to_stated", 2)):
                value = json_value(getattr(row, measure, None))
                if value is not None:
                    props[measure] = round(value, digits)
            if _GEOMETRY_FAMILY[geometry.geom_type] == "point":
                features.append({"p": props, "g": encode_points(geometry, topology.scale)})
            else:
                features.append({"p": props, "shape": topology.add(geometry)})
        codes = sorted(set(gdf["zone_class"]),
                       key=lambda c: -styles.class_style(c)["z_order"])
        z = max([styles.class_style(c)["z_order"] for c in codes], default=0)
        key = f"{plan.plan_id}:{name}"
        default = defaults.loc[name]
        layers.append({"key": key, "css": f"zoning-layer-{plan.plan_id}--{name}", "name": name,
                       "title": catalog.at[name, "title"], "title_en": catalog.at[name, "title_en"],
                       "theme": theme, "family": family, "geometry_type": geometry_type,
                       "z": int(z), "group": int(default["group_order"]), "classes": codes,
                       "visible": bool(default["visible"]), "context": bool(default["context"]),
                       "features": features})
        themes.setdefault(theme, []).append((int(z), key))
    theme_list = [{"theme": t, "layers": [k for _, k in sorted(v, reverse=True)]}
                  for t, v in sorted(themes.items(), key=lambda kv: -max(z for z, _ in kv[1]))]
    bounds = _plan_bounds(plan)
    return {"id": plan.plan_id, "title": plan.meta.get("title", plan.plan_id),
            "title_en": plan.meta.get("title_en", plan.plan_id), "language": language,
            "source_document": plan.meta.get("source_document", ""),
            "bounds": [[bounds[1], bounds[0]], [bounds[3], bounds[2]]],
            "rules": rules, "themes": theme_list, "layers": layers}


def _plan_bounds(plan: Plan) -> np.ndarray:
    """The plan's own area (west, south, east, north): what the map opens on.

    Lines and context layers that reach far outside the plan (power-export lines, links to
    neighbouring provinces) would otherwise shrink the plan to a corner of the view.
    """
    if plan.meta.get("extent_wkt"):
        return np.array(shapely.from_wkt(plan.meta["extent_wkt"]).bounds)
    return _drawn_bounds(plan)


def _drawn_bounds(plan: Plan) -> np.ndarray:
    """Bounds of everything a plan draws, context layers included (frames the base map)."""
    frames = [g.geometry for g in plan.layers.values() if len(g)]
    if plan.meta.get("extent_wkt"):
        frames.append(gpd.GeoSeries([shapely.from_wkt(plan.meta["extent_wkt"])], crs=4326))
    return gpd.GeoSeries(pd.concat(frames, ignore_index=True), crs=4326).total_bounds


def map_data(plans: list[Plan], *, zoom: int = DETAIL_ZOOM, simplify: bool = True,
             language: str = "both", tiles: str | None = None) -> dict:
    """Everything the map runtime draws, as one JSON-ready dict (styles, labels, plans).

    Parameters
    ----------
    plans : list of Plan
    zoom : int
        Detail zoom for simplification and coordinate precision.
    simplify : bool
        ``False`` keeps every vertex (still rounded to the detail zoom's grid).
    language : {"both", "en", "local"}
        Language shown when the map opens.
    tiles : str, optional
        An xyzservices provider name or tile URL to open the map on (needs the network).

    Notes
    -----
    Feature geometry is given as references into ``arcs`` (see :class:`WebTopology`);
    points as grid coordinates. Every number is an integer on a grid of ``scale`` units per
    degree.

    Examples
    --------
    >>> data = map_data([zoning.load("cn-yongji-2035")])
    >>> [layer["key"] for layer in data["plans"][0]["layers"]][:3]
    ['cn-yongji-2035:admin_units', 'cn-yongji-2035:agriculture', 'cn-yongji-2035:central_urban_area']
    """
    if language not in ("both", "en", "local"):
        raise InvalidArgumentError(f"language must be 'both', 'en' or 'local', not {language!r}")
    bounds = np.array([_drawn_bounds(p) for p in plans])
    total = np.array([bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(),
                      bounds[:, 3].max()])
    tolerance, decimals = web_tolerance(zoom, float(np.abs(total[[1, 3]]).max()))
    scale = 10 ** decimals
    topology = WebTopology(scale, tolerance if simplify else 0.0)
    plan_payloads = [_plan_payload(p, topology) for p in plans]
    topology.build()
    for plan in plan_payloads:
        for layer in plan["layers"]:
            for feature in layer["features"]:
                if "shape" in feature:
                    feature["g"] = topology.shapes[feature.pop("shape")]
    codes = sorted({c for p in plans for g in p.layers.values() for c in g["zone_class"]})
    used_themes = {styles.class_style(c)["theme"] for c in codes} | {
        t for p in plans for t in p.tables["layer_catalog"]["theme"]}
    theme_table = styles.themes()
    sources = pd.concat([p.tables["sources"] for p in plans if "sources" in p.tables]) \
        if any("sources" in p.tables for p in plans) else pd.DataFrame()
    attribution = " · ".join(dict.fromkeys(sources.get("attribution", pd.Series(dtype=str))
                                           .dropna().astype(str)))
    return {
        "version": 1, "scale": scale, "language": language, "rtl": list(RTL_LANGUAGES),
        "hatch_spacing": styles.HATCH_SPACING_PX,
        "classes": {c: class_payload(c) for c in codes},
        "themes": {t: {"label": _labels(theme_table.loc[t])}
                   for t in sorted(used_themes) if t in theme_table.index},
        "hatches": {h: styles.hatch_angles(h) for h in styles.hatches().index},
        "markers": styles.markers()["svg_path"].to_dict(),
        "badges": {b: {"colour": r["colour"], "label": _labels(r),
                       "description": r["description_en"],
                       "hatch": r.get("draw_hatch", "")}
                   for b, r in styles.badges().iterrows()},
        "ui": {k: {lang: v for lang, v in r.items() if v} for k, r in
               styles.ui_strings().iterrows()},
        "bases": base_layers(tiles),
        "context": context_layers(total, scale, {str(p.meta.get("country", "")): str(
            p.meta.get("language", "")) for p in plans}, names=True),
        "attribution": attribution,
        "arcs": topology.encoded_arcs(),
        "plans": plan_payloads,
    }


# --- the page -------------------------------------------------------------------------------

@cache
def _assets() -> tuple[str, str]:
    """Inline ``<style>`` and ``<script>`` blocks: Leaflet and the zoning runtime."""
    css, js = leaflet_assets()
    zoning_css = (ASSETS_DIR / "zoning.css").read_text(encoding="utf-8")
    zoning_js = runtime_js("zoning.js")
    return (f"{css}\n<style>{zoning_css}</style>", f"{js}\n<script>{zoning_js}</script>")


def runtime_js(name: str) -> str:
    """A map runtime of ``_assets/`` preceded by the part all runtimes share (``topology.js``:
    escaping and the topology decoder)."""
    return "\n".join((ASSETS_DIR / f).read_text(encoding="utf-8") for f in ("topology.js", name))


@cache
def leaflet_assets() -> tuple[str, str]:
    """Inline ``<style>`` and ``<script>`` blocks of the vendored Leaflet (images inlined)."""
    leaflet = ASSETS_DIR / "leaflet"

    def data_uri(match: re.Match) -> str:
        png = (leaflet / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(png).decode()})"

    css = re.sub(r"url\((images/[\w.-]+\.png)\)", data_uri,
                 (leaflet / "leaflet.css").read_text(encoding="utf-8"))
    js = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n",
                (leaflet / "leaflet.js").read_text(encoding="utf-8"))
    return f"<style>{css}</style>", f"<script>{js}</script>"


class _ZoningLayers(MacroElement):
    """The plan data (inline JSON) and the call that draws it on the folium map."""

    _template = Template("""
        {% macro html(this, kwargs) %}
        <script type="application/json" id="{{ this.get_name() }}">{{ this.payload }}</script>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        zoningMap({{ this._parent.get_name() }},
                  JSON.parse(document.getElementById("{{ this.get_name() }}").textContent));
        {% endmacro %}
    """)

    def __init__(self, data: dict):
        super().__init__()
        self._name = "zoning_layers"
        self.payload = inline_json(data)


# "</script" ends the element and "<!--" switches the HTML tokenizer into a mode where the rest
# of the page can be swallowed; U+2028/2029 end a line in older JavaScript. Escaped, every one of
# them is the same JSON string.
_INLINE_JSON_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026",
                        0x2028: "\\u2028", 0x2029: "\\u2029"}


def inline_json(data, default=None) -> str:
    """JSON of ``data`` safe to place inside an HTML ``<script>`` element (``default`` as in
    :func:`json.dumps`, for values JSON does not know).

    Examples
    --------
    >>> inline_json({"name": "</script><!--"})
    '{"name":"\\\\u003c/script\\\\u003e\\\\u003c!--"}'
    """
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=default) \
        .translate(_INLINE_JSON_ESCAPES)


def plan_map(plans: Plan | list[Plan], *, tiles: str | None = None, language: str = "both",
             zoom: int = DETAIL_ZOOM, simplify: bool = True) -> folium.Map:
    """Folium map of one or more plans that works offline as a single HTML page.

    Parameters
    ----------
    plans : Plan or list of Plan
    tiles : str, optional
        An xyzservices provider name (e.g. ``"OpenStreetMap.Mapnik"``) or tile URL to open the
        map on. By default the map opens on a bundled outline of the surrounding provinces and
        needs no network; online tile providers are offered in the layer menu.
    language : {"both", "en", "local"}
        Language shown when the map opens (the reader can switch).
    zoom : int
        Detail zoom: geometry is simplified and rounded so that nothing visible changes up to
        this zoom.
    simplify : bool
        ``False`` keeps full-resolution geometry.

    Examples
    --------
    >>> m = zoning.plan_map(zoning.load("cn-yongji-2035"))
    >>> "Yongji City Territorial Spatial Master Plan" in m.get_root().render()
    True
    """
    plans = [plans] if isinstance(plans, Plan) else list(plans)
    if not plans:
        raise InvalidArgumentError("plan_map needs at least one plan")
    data = map_data(plans, zoom=zoom, simplify=simplify, language=language, tiles=tiles)
    m = folium.Map(tiles=None, control_scale=False, zoom_start=2)
    # folium's page links Leaflet, jQuery, Bootstrap and Font Awesome from CDNs; the map
    # needs only Leaflet, which is inlined below.
    m.default_js = []
    m.default_css = []
    css, js = _assets()
    root = m.get_root()
    root.header.add_child(Element(css), name="zoning_css")
    root.header.add_child(Element(js), name="zoning_js")
    titles = " · ".join(str(p.meta.get("title_en", p.plan_id)) for p in plans)
    root.header.add_child(Element(f"<title>{html.escape(titles, quote=False)}</title>"), name="zoning_title")
    m.add_child(_ZoningLayers(data))
    return m


def write_map(plans: Plan | list[Plan], path: str | Path, **kwargs) -> Path:
    """Write a self-contained HTML map of ``plans`` to ``path`` atomically.

    Examples
    --------
    >>> write_map([zoning.load("cn-yongji-2035")], tmp / "cn-yongji-2035.html").name
    'cn-yongji-2035.html'
    """
    path = Path(path)
    html = plan_map(plans, **kwargs).get_root().render()
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path

"""Web maps: light geometry without gaps, self-contained offline HTML, payload contents."""

from __future__ import annotations

import json
import math
import re

import folium
import geopandas as gpd
import numpy as np
import pytest
import shapely
from typer.testing import CliRunner

from benchmarks.webmap_size import naive_map_html

import zoning
from zoning import webmap
from zoning.model import EQUAL_AREA_CRS

from conftest import plan_or_skip

PLAN_IDS = ["cn-shanxi-2035", "cn-yongji-2035", "ir-qom-1414", "ir-ardabil-1424", "vn-kontum-2030"]
#: Ground resolution of a Web-Mercator pixel at zoom 0 on the equator (metres), the standard
#: 2πR / 256 with R = 6 378 137 m.
EQUATOR_M_PER_PX = 2 * math.pi * 6378137 / 256


def _payload(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', html, re.S)
    return json.loads(match.group(1))


def _decode(flat: list[int], scale: float) -> np.ndarray:
    """Independent decoder: cumulative sums of the integer steps."""
    return np.cumsum(np.asarray(flat, dtype=np.int64).reshape(-1, 2), axis=0) / scale


def _polygon_layers(plan):
    catalog = plan.tables["layer_catalog"].set_index("layer")
    for name, gdf in plan.layers.items():
        if catalog.at[name, "geometry_type"] == "polygon" and len(gdf):
            yield name, catalog.at[name, "family"], gdf


# --- tolerance ------------------------------------------------------------------------------

@pytest.mark.parametrize("zoom,latitude", [(12, 0.0), (12, 37.5), (10, 60.0), (14, 23.0)])
def test_tolerance_is_below_half_a_pixel_and_rounding_below_half_the_tolerance(zoom, latitude):
    tolerance, decimals = webmap.web_tolerance(zoom, latitude)
    ground_px = EQUATOR_M_PER_PX * math.cos(math.radians(latitude)) / 2 ** zoom
    metres_per_degree_lat = 111_320
    assert tolerance * metres_per_degree_lat <= 0.5 * ground_px
    assert 0.5 * 10 ** -decimals <= tolerance / 2
    # ... and not needlessly fine: one decimal fewer would break the bound.
    assert 0.5 * 10 ** -(decimals - 1) > tolerance / 2


# --- simplification -------------------------------------------------------------------------

def _check_simplified_coverage(original: gpd.GeoDataFrame, simple: gpd.GeoDataFrame,
                               tolerance: float) -> None:
    eq_orig = original.to_crs(EQUAL_AREA_CRS).geometry.values
    eq_simple = simple.to_crs(EQUAL_AREA_CRS).geometry.values
    n = len(eq_simple)
    pixel_area = (tolerance * 111_320) ** 2
    for i in range(n):
        for j in range(i + 1, n):
            before = shapely.area(shapely.intersection(eq_orig[i], eq_orig[j]))
            after = shapely.area(shapely.intersection(eq_simple[i], eq_simple[j]))
            # no overlap opened (beyond what the source had)
            assert after <= before + pixel_area, (original.feature_id.iloc[i],
                                                  original.feature_id.iloc[j], before, after)
            # neighbours stay neighbours
            if shapely.length(shapely.intersection(eq_orig[i].boundary,
                                                   eq_orig[j].boundary)) > 1000:
                assert shapely.length(shapely.intersection(eq_simple[i].boundary,
                                                           eq_simple[j].boundary)) > 0
    # no gap opened between zones: holes of the union do not grow
    def holes(geoms):
        union = shapely.union_all(geoms)
        return sum(shapely.area(shapely.Polygon(r)) for p in shapely.get_parts(union)
                   for r in p.interiors)
    assert holes(eq_simple) <= holes(eq_orig) + n * pixel_area


def _check_deviation(original: gpd.GeoDataFrame, simple: gpd.GeoDataFrame,
                     tolerance: float) -> None:
    """The area swept between the outlines is at most perimeter × tolerance (per feature)."""
    for a, b in zip(original.geometry.values, simple.geometry.values):
        swept = shapely.area(shapely.symmetric_difference(a, b))
        assert swept <= shapely.length(a.boundary) * tolerance * 1.05 + 1e-12


def test_simplify_keeps_index_columns_and_input(mini_plan):
    layer = mini_plan.layers["districts"]
    before = layer.copy()
    simple = webmap.simplify_for_web(layer, coverage=True)
    assert simple.index.equals(layer.index)
    assert list(simple.columns) == list(layer.columns)
    assert layer.geometry.geom_equals_exact(before.geometry, 0).all()
    assert (simple.geom_type == "MultiPolygon").all()


def test_simplify_mini_tiling_layer_without_gaps(mini_plan):
    layer = mini_plan.layers["districts"]
    simple = webmap.simplify_for_web(layer, coverage=True)
    tolerance, _ = webmap.web_tolerance(12, float(np.abs(layer.total_bounds[[1, 3]]).max()))
    _check_simplified_coverage(layer, simple, tolerance)
    _check_deviation(layer, simple, tolerance)


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_simplify_real_plan_polygons_opens_no_gaps_or_overlaps(plans, plan_id):
    plan = plan_or_skip(plans, plan_id)
    for name, family, gdf in _polygon_layers(plan):
        simple = webmap.simplify_for_web(gdf, coverage=(family == "tiling"))
        tolerance, _ = webmap.web_tolerance(12, float(np.abs(gdf.total_bounds[[1, 3]]).max()))
        assert len(simple) == len(gdf) and simple.index.equals(gdf.index), name
        assert not simple.geometry.is_empty.any(), name
        _check_deviation(gdf, simple, tolerance)
        if family == "tiling":
            _check_simplified_coverage(gdf, simple, tolerance)


def test_simplify_reduces_vertices_of_real_admin_polygons(plans):
    plan = next((plans[p] for p in PLAN_IDS if p in plans), None)
    if plan is None:
        pytest.skip("no real plan encoded")
    total_before = total_after = 0
    for _, family, gdf in _polygon_layers(plan):
        simple = webmap.simplify_for_web(gdf, coverage=(family == "tiling"))
        total_before += shapely.get_num_coordinates(gdf.geometry.values).sum()
        total_after += shapely.get_num_coordinates(simple.geometry.values).sum()
    assert total_after < total_before


# --- encoding -------------------------------------------------------------------------------

def _rings(shape: dict, arcs: list[np.ndarray]) -> list[np.ndarray]:
    """Independent ring assembly from arc references (``~i`` = arc i reversed)."""
    out = []
    for polygon in shape["a"]:
        for refs in polygon:
            pieces = [arcs[r] if r >= 0 else arcs[~r][::-1] for r in refs]
            out.append(np.vstack([pieces[0]] + [p[1:] for p in pieces[1:]]))
    return out


def test_topology_without_simplification_reproduces_every_rounded_vertex(mini_plan):
    scale = 10_000
    topo = webmap.WebTopology(scale, tolerance=0)
    polygons = [g for gdf in mini_plan.layers.values() for g in gdf.geometry
                if g.geom_type == "MultiPolygon"]
    shapes = [topo.add(g) for g in polygons]
    topo.build()
    arcs = [_decode(a, 1) for a in topo.encoded_arcs()]
    for geom, shape in zip(polygons, shapes):
        rings = _rings(topo.shapes[shape], arcs)
        source = [np.rint(shapely.get_coordinates(r) * scale) for p in shapely.get_parts(geom)
                  for r in (p.exterior, *p.interiors)]
        assert len(rings) == len(source)
        for got, want in zip(rings, source):
            assert (got[0] == got[-1]).all()                       # closed
            assert {tuple(v) for v in got} == {tuple(v) for v in want}


def test_shared_boundaries_are_stored_once():
    topo = webmap.WebTopology(scale=10, tolerance=0)
    left, right = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)
    a, b, again = topo.add(left), topo.add(right), topo.add(left)   # same zone in two layers
    topo.build()
    assert topo.shapes[again] == topo.shapes[a]
    shared = set(abs(r if r >= 0 else ~r) for r in topo.shapes[a]["a"][0][0]) & \
        set(abs(r if r >= 0 else ~r) for r in topo.shapes[b]["a"][0][0])
    assert len(shared) == 1
    (edge,) = shared
    assert sorted(map(tuple, _decode(topo.encoded_arcs()[edge], 10))) == [(1.0, 0.0), (1.0, 1.0)]


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_map_geometry_stores_each_boundary_once(plans, plan_id):
    plan = plan_or_skip(plans, plan_id)
    data = webmap.map_data([plan])
    arcs = [_decode(a, 1) for a in data["arcs"]]
    stored = sum(len(a) for a in arcs)
    unique = len({tuple(v) for a in arcs for v in a})
    # every vertex once, except arc ends (shared by the arcs meeting there)
    assert stored <= unique + 2 * len(arcs)
    referenced = {r if r >= 0 else ~r for layer in data["plans"][0]["layers"]
                  for f in layer["features"] if "a" in f["g"]
                  for part in f["g"]["a"] for refs in (part if f["g"]["type"] == "MultiPolygon"
                                                       else [part]) for r in refs}
    assert referenced == set(range(len(arcs)))


def test_a_feature_smaller_than_the_grid_is_kept():
    topo = webmap.WebTopology(scale=1000, tolerance=0.01)
    tiny = topo.add(shapely.MultiPolygon([shapely.box(0, 0, 1e-6, 1e-6)]))
    hole = topo.add(shapely.MultiPolygon([shapely.box(0, 0, 1, 1).difference(
        shapely.box(0.5, 0.5, 0.50001, 0.50001))]))
    topo.build()
    assert topo.shapes[tiny]["a"]                       # still drawn
    assert len(topo.shapes[hole]["a"][0]) == 1          # a sub-pixel hole is dropped


def test_points_are_rounded_to_the_grid():
    pts = shapely.MultiPoint([(100.12345, 30.5), (101.0, 31.99999)])
    enc = webmap.encode_points(pts, 1000)
    assert enc == {"type": "MultiPoint", "c": [[100123, 30500], [101000, 32000]]}


# --- the page -------------------------------------------------------------------------------

def test_map_html_is_self_contained(mini_plan):
    html = webmap.plan_map([mini_plan]).get_root().render()
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=", html)
    assert not re.search(r"url\((?!data:|#)", html)
    for cdn in ("cdn.jsdelivr.net", "cdnjs.cloudflare.com", "code.jquery.com",
                "netdna.bootstrapcdn.com", "sourceMappingURL"):
        assert cdn not in html
    leaflet = (webmap.ASSETS_DIR / "leaflet" / "leaflet.js").read_text(encoding="utf-8")
    assert leaflet.splitlines()[0] in html            # Leaflet itself is inlined


def test_map_payload_lists_every_layer_and_feature(mini_plan):
    data = _payload(webmap.plan_map([mini_plan]).get_root().render())
    plan = data["plans"][0]
    assert {layer["key"] for layer in plan["layers"]} == {
        f"{mini_plan.plan_id}:{name}" for name in mini_plan.layers}
    for layer in plan["layers"]:
        gdf = mini_plan.layers[layer["name"]]
        assert sorted(f["p"]["id"] for f in layer["features"]) == sorted(gdf.feature_id)
        for f in layer["features"]:
            row = gdf.set_index("feature_id").loc[f["p"]["id"]]
            assert f["p"]["text"] == row.source_text
            assert f["p"]["badge"] == row.basis_badge
            assert f["p"]["name"] == row["name"] and f["p"]["name_en"] == row.name_en


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_popups_carry_the_rules_that_apply(plans, plan_id):
    plan = plan_or_skip(plans, plan_id)
    data = webmap.map_data([plan])
    rules = plan.tables["rules"]
    features = {f["p"]["id"]: f["p"] for layer in data["plans"][0]["layers"]
                for f in layer["features"]}
    for fid, props in features.items():
        expected = {r.rule_id for r in rules.itertuples()
                    if props["zone_class"] in str(r.zone_classes).split(";")
                    or fid in str(r.features).split(";")}
        assert set(props["rules"]) == expected, fid
    assert set(data["plans"][0]["rules"]) == set(rules.rule_id)


def test_map_offers_online_tiles_without_loading_them(mini_plan):
    data = webmap.map_data([mini_plan])
    bases = {b["id"]: b for b in data["bases"]}
    assert bases["outline"]["default"] and not bases["outline"].get("url")
    online = [b for b in data["bases"] if b.get("url")]
    assert online and all(b["url"].startswith("https://") for b in online)
    assert data["context"], "the offline outline base layer carries the surrounding provinces"
    custom = webmap.map_data([mini_plan], tiles="OpenStreetMap.Mapnik")["bases"][0]
    assert custom["default"] and "openstreetmap" in custom["url"]


def test_plan_map_in_jupyter(mini_plan):
    m = zoning.plan_map(mini_plan)
    assert isinstance(m, folium.Map)
    html = m._repr_html_()
    assert "<iframe" in html and "zoningMap(" in html
    # displaying the plan itself is a cheap table (no map is built): a row per layer with its
    # feature count and badges, each counted from the layer here
    shown = mini_plan._repr_html_()
    assert "zoningMap(" not in shown
    for name, gdf in mini_plan.layers.items():
        counts = gdf.basis_badge.value_counts()
        row = shown.split(f"<tr><td>{name}</td>", 1)[1].split("</tr>", 1)[0]
        assert f"<td>{len(gdf)}</td>" in row
        assert all(f"{n} {badge}" in row for badge, n in counts.items())


def test_language_option_is_checked(mini_plan):
    with pytest.raises(ValueError):
        webmap.map_data([mini_plan], language="klingon")


def test_write_map_and_cli(mini_plan, tmp_path, monkeypatch):
    path = webmap.write_map([mini_plan], tmp_path / "m.html")
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    from zoning.cli import app

    yongji = "cn-yongji-2035"
    if yongji not in zoning.plan_ids():
        pytest.skip("Yongji plan not present")
    out = tmp_path / "y.html"
    result = CliRunner().invoke(app, ["map", yongji, "--out", str(out)])
    if result.exit_code != 0 and "problem" in result.output:
        pytest.skip("Yongji plan currently invalid")
    assert result.exit_code == 0, result.output
    assert _payload(out.read_text(encoding="utf-8"))["plans"][0]["id"] == yongji


# --- bytes ----------------------------------------------------------------------------------

def test_whole_shanxi_map_is_at_most_a_fifth_of_the_naive_map(plans):
    shanxi = plan_or_skip(plans, "cn-shanxi-2035")
    light = len(webmap.plan_map([shanxi]).get_root().render().encode("utf-8"))
    naive = len(naive_map_html([shanxi]).encode("utf-8"))
    assert light * 5 <= naive, (light, naive)


def test_offline_base_map_names_places_by_population_and_carries_rivers(plans):
    """Every GeoNames place of the frame at or above the smallest labelled class is on the
    base map once, in the class its population gives (checked against the CSV directly), with
    its name in the plan's script where GeoNames has one; WDB II rivers crossing the frame are
    drawn and the named rivers there are labelled."""
    import csv

    from zoning import reference, styles

    plan = plans.get("cn-shanxi-2035")
    if plan is None:
        pytest.skip("cn-shanxi-2035 not encoded")
    data = webmap.map_data([plan])
    context, scale = data["context"], data["scale"]
    classes = context["label_classes"]
    rows = list(csv.DictReader(open(zoning.settings.styles_dir / "base_labels.csv", encoding="utf-8")))
    thresholds = sorted(((float(r["min_population"]), int(r["min_zoom"])) for r in rows
                         if r["kind"] == "place"), reverse=True)
    west, south, east, north = webmap._drawn_bounds(plan)
    pad = 0.5 * max(east - west, north - south, 1.0)
    places = reference.places()
    inside = places[(places.longitude.between(west - pad, east + pad))
                    & (places.latitude.between(south - pad, north + pad))
                    & (places.population >= thresholds[-1][0])]
    labelled = [label for label in context["labels"] if classes[label[2]]["kind"] == "place"]
    assert len(labelled) == len(inside)
    by_name = {}
    for x, y, k, english, local in labelled:
        by_name.setdefault(english, []).append((x / scale, y / scale, classes[k]["z"], local))
    for row in inside.itertuples():
        expected_zoom = next(z for minimum, z in thresholds if row.population >= minimum)
        assert any(abs(x - row.longitude) < 2 / scale and abs(y - row.latitude) < 2 / scale
                   and z == expected_zoom for x, y, z, _ in by_name[row.name]), row.name
    taiyuan = by_name["Taiyuan"][0]
    assert taiyuan[2] == thresholds[0][1] and taiyuan[3] == "太原"
    assert any(classes[label[2]]["kind"] == "river" and label[3] == "Fen River"
               for label in context["labels"])
    frame = shapely.box(west - pad, south - pad, east + pad, north + pad)
    crossing = shapely.intersects(np.asarray(reference.rivers().geometry.array), frame).sum()
    assert len(context["rivers"]) >= crossing > 0

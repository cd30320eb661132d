"""Hypothesis fuzzing: hostile geometries and attribute values never crash the library with
anything but its documented errors."""

import string

import geopandas as gpd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zoning
from zoning.consistency import check_against
from zoning.inputs import prepare

DOCUMENTED = (zoning.ZoningError,)

special = st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e300])
coords = st.tuples(st.floats(-200, 200) | special, st.floats(-100, 100) | special)
points = coords.map(lambda xy: shapely.Point(*xy))
rings = st.lists(coords, min_size=0, max_size=8)


def _polygon(xys):
    try:
        return shapely.Polygon(xys) if len(xys) >= 3 else shapely.Polygon()
    except (ValueError, shapely.errors.GEOSException):
        return shapely.Polygon()


geometries = st.one_of(points, rings.map(_polygon),
                       rings.map(lambda xys: shapely.LineString(xys) if len(xys) >= 2
                                 else shapely.LineString()),
                       st.just(None),
                       st.lists(points, min_size=1, max_size=4).map(shapely.MultiPoint))
hostile_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=5000) | st.sampled_from([
    "\x00\x01\x1b[31m", "ي‌قم\u200f", "永济\u3000市", "Đắk Glei\u0301", "'; DROP TABLE rules; --",
    "a" * 100_000])
crs_values = st.sampled_from([None, 4326, 3857, 32649, "ESRI:54009"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(geometries, min_size=0, max_size=5), crs_values, st.sampled_from(["repair", "raise"]))
def test_prepare_only_raises_documented_errors(geoms, crs, mode):
    gdf = gpd.GeoDataFrame(geometry=geoms, crs=crs) if crs else gpd.GeoDataFrame(geometry=geoms)
    try:
        out = prepare(gdf, invalid=mode)
    except DOCUMENTED:
        return
    assert out.crs.to_epsg() == 4326
    assert out.is_valid.all() and not out.is_empty.any()
    assert len(out) == len(gdf)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(hostile_text, hostile_text)
def test_export_round_trips_hostile_attribute_text(tmp_path_factory, mini_plan, name, detail):
    layer = mini_plan["towns"]
    layer["name"] = name
    layer["basis_detail"] = detail
    plan = mini_plan.__class__(mini_plan.meta, {**mini_plan.layers, "towns": layer},
                               mini_plan.tables)
    path = tmp_path_factory.mktemp("fuzz") / "p.gpkg"
    try:
        zoning.write_gpkg(plan, path)
    except DOCUMENTED:
        return
    back = zoning.read_gpkg(path)["towns"]
    # GDAL stores text as given, except that SQLite text stops at NUL
    assert back["name"].iloc[0] == name.split("\x00")[0] or back["name"].iloc[0] == name
    assert back["basis_detail"].iloc[0] in (detail, detail.split("\x00")[0])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(rings.map(_polygon))
def test_consistency_check_survives_hostile_planted_zones(mini_plan, polygon):
    try:
        clean = prepare(gpd.GeoDataFrame(geometry=[polygon], crs=4326))
    except DOCUMENTED:
        return
    layer = mini_plan["control_lines"]
    layer["zone_class"] = "urban_development_boundary"
    layer["feature_id"] = "fuzz/control_lines/x"
    layer["geometry"] = [shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g
                         for g in clean.geometry]
    if not layer.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        return
    lower = mini_plan.__class__({**mini_plan.meta, "plan_id": "fuzz"},
                                {"control_lines": layer}, mini_plan.tables)
    report = check_against(lower, mini_plan)
    assert (report.overlap_km2 >= 0).all()
    assert set(report.severity) <= {"conflict", "review", "info"}

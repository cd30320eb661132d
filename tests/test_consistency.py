"""Cross-level consistency check: planted conflicts are found, clean cases are clean."""

from dataclasses import replace
from types import MappingProxyType

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from conftest import plan_or_skip
from zoning.consistency import check_against, format_report
from zoning.geometry import area_km2


def _with_udb(plan, geometry, plan_id="cn-test-lower"):
    """A copy of ``plan`` renamed, whose only layer is one urban development boundary."""
    polygons = plan.features[plan.features.geom_type.isin(["Polygon", "MultiPolygon"])]
    red = polygons.iloc[[0]].copy()
    red["feature_id"] = f"{plan_id}/control_lines/udb"
    red["zone_class"] = "urban_development_boundary"
    red["name_en"] = "Planted urban development boundary"
    red["geometry"] = [shapely.MultiPolygon([geometry]) if geometry.geom_type == "Polygon"
                       else geometry]
    meta = dict(plan.meta, plan_id=plan_id)
    return replace(plan, meta=MappingProxyType(meta),
                   layers=MappingProxyType({"control_lines": gpd.GeoDataFrame(red, crs=4326)}))


def test_planted_udb_inside_red_line_is_a_conflict_with_area_and_rules(mini_plan):
    red = mini_plan["control_lines"].geometry.iloc[0]
    planted = red.buffer(-0.005).intersection(shapely.box(*red.bounds).buffer(0))
    lower = _with_udb(mini_plan, shapely.make_valid(planted))
    report = check_against(lower, mini_plan)
    conflict = report[report.severity == "conflict"]
    assert len(conflict) == 1
    row = conflict.iloc[0]
    assert row.lower_class == "urban_development_boundary"
    assert row.upper_class == "ecological_protection_red_line"
    expected = area_km2(gpd.GeoSeries([planted.intersection(red)], crs=4326))[0]
    assert row.overlap_km2 == pytest.approx(expected, rel=1e-3)
    assert row.share_of_lower == pytest.approx(1.0, abs=1e-3)
    assert "epr-no-construction" in row.upper_rules
    assert "1 conflict" in format_report(report, lower, mini_plan)


def test_udb_outside_red_line_is_clean(mini_plan):
    red = mini_plan["control_lines"].geometry.iloc[0]
    extent = shapely.from_wkt(mini_plan.meta["extent_wkt"])
    clean = extent.difference(red.buffer(0.001))
    report = check_against(_with_udb(mini_plan, clean), mini_plan)
    assert report.empty
    assert "no conflicts" in format_report(report, mini_plan, mini_plan)


def test_real_yongji_against_shanxi(plans):
    yongji = plan_or_skip(plans, "cn-yongji-2035")
    shanxi = plan_or_skip(plans, "cn-shanxi-2035")
    report = check_against(yongji, shanxi)
    # Yongji lies inside Shanxi: no plan-area conflict
    assert not (report.relation == "must_be_within").any()
    # every reported overlap agrees with a brute-force intersection of the two features
    feats_lo = yongji.features.set_index("feature_id")
    feats_up = shanxi.features.set_index("feature_id")
    for r in report[report.relation == "must_not_overlap"].itertuples():
        inter = feats_lo.geometry[r.lower_feature_id].intersection(feats_up.geometry[r.upper_feature_id])
        assert r.overlap_km2 == pytest.approx(area_km2(gpd.GeoSeries([inter], crs=4326))[0],
                                              rel=1e-3, abs=1e-3)
    # planting Shanxi's own red line inside Yongji as a Yongji UDB must be a conflict
    epr = shanxi.features[shanxi.features.zone_class == "ecological_protection_red_line"]
    if epr.empty:
        pytest.skip("Shanxi has no red line feature yet")
    yongji_area = shapely.from_wkt(yongji.meta["extent_wkt"])
    red_line = shapely.union_all(epr.geometry.values)
    inside = red_line.intersection(yongji_area)
    if inside.area == 0:  # the provincial red line's envelope does not reach Yongji
        inside = red_line.intersection(red_line.representative_point().buffer(0.05))
    planted = _with_udb(yongji, shapely.make_valid(inside), plan_id="cn-yongji-planted")
    assert (check_against(planted, shanxi).severity == "conflict").any()


def test_cli_check_exit_code_and_report(mini_plan, plans, tmp_path):
    yongji = plan_or_skip(plans, "cn-yongji-2035")
    plan_or_skip(plans, "cn-shanxi-2035")
    from zoning.cli import app

    out = tmp_path / "findings.csv"
    result = CliRunner().invoke(app, ["check", "cn-yongji-2035", "--against", "cn-shanxi-2035",
                                      "--out", str(out)])
    assert result.exit_code in (0, 1), result.output
    assert "cn-yongji-2035 checked against cn-shanxi-2035" in result.output
    table = pd.read_csv(out)
    assert (result.exit_code == 1) == (table.severity == "conflict").any()
    del yongji

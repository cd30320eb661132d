"""Compliance verdicts, checked against the rules table read independently."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

import zoning
from zoning.cli import app
from zoning.compliance import EFFECT_VERDICT, comply
from zoning.model import Plan

from conftest import plan_or_skip


def expected_verdicts(plans: list[Plan], point: shapely.Point, activity: str) -> set:
    """(plan_id, rule_id, verdict) by brute force: features containing the point, the rules
    of their own plan naming their class or id, plus other plans' rules naming their class
    where the point lies in that plan's area."""
    out = set()
    inside = {p.plan_id for p in plans if shapely.from_wkt(p.meta["extent_wkt"]).intersects(point)}
    for plan in plans:
        feats = plan.features
        for feat in feats[feats.intersects(point)].itertuples():
            for other in plans:
                if other.plan_id != plan.plan_id and other.plan_id not in inside:
                    continue
                for rule in other.tables["rules"].itertuples():
                    classes = rule.zone_classes.split(";") if rule.zone_classes else []
                    ids = rule.features.split(";") if rule.features else []
                    applies = feat.zone_class in classes or (
                        other.plan_id == plan.plan_id and feat.feature_id in ids)
                    acts = rule.activities.split(";")
                    if applies and (activity in acts or "any" in acts):
                        out.add((rule.plan_id, rule.rule_id, EFFECT_VERDICT[rule.effect]))
    return out


def test_planted_project_in_the_red_line_is_a_violation(mini_plan):
    red = mini_plan["control_lines"].geometry.iloc[0]
    elsewhere = mini_plan["districts"].geometry.iloc[1].representative_point()
    assert not red.intersects(elsewhere)
    projects = gpd.GeoDataFrame(
        {"name": ["chemical plant", "plant outside"]}, index=["p1", "p2"],
        geometry=[red.representative_point(), elsewhere], crs="EPSG:4326")
    verdicts = comply(projects.to_crs("EPSG:32649"), "industry", mini_plan)
    p1 = verdicts.loc[["p1"]]
    assert list(p1.verdict) == ["violation"]
    assert p1.rule_id.iloc[0] == "epr-no-construction"
    assert p1.citation.iloc[0] == "cn-test-mini: 三条控制线, lines 249"
    assert p1.text.iloc[0] == "其他区域严格禁止开发性、生产性建设活动"
    assert p1.basis_badge.iloc[0] == "schematic" and "schematic" in p1.caveat.iloc[0]
    p2 = verdicts.loc[["p2"]]
    assert list(p2.verdict) == ["unknown"]
    assert "no rule of cn-test-mini on industry" in p2.reason.iloc[0]


def test_polygon_project_partly_inside_is_a_violation_with_its_share(mini_plan):
    red = mini_plan["control_lines"].geometry.iloc[0]
    centre = red.representative_point()
    site = shapely.box(centre.x - 0.2, centre.y - 0.02, centre.x + 0.2, centre.y + 0.02)
    verdicts = comply(gpd.GeoSeries([site], crs="EPSG:4326"), "mining", mini_plan)
    row = verdicts[verdicts.rule_id == "epr-no-construction"].iloc[0]
    assert row.verdict == "violation"
    expected_share = site.intersection(red).area / site.area  # planar share, degrees
    assert 0 < row.share < 1
    assert row.share == pytest.approx(expected_share, rel=0.01)


def test_activity_not_named_by_any_rule_is_unknown_and_outside_is_unknown(mini_plan):
    red = mini_plan["control_lines"].geometry.iloc[0]
    sites = gpd.GeoSeries([red.representative_point(), shapely.Point(0, 0)], crs="EPSG:4326")
    verdicts = comply(sites, "tourism", mini_plan)
    assert list(verdicts.verdict) == ["unknown", "unknown"]
    assert verdicts.reason.iloc[1] == "outside every loaded plan"


def test_each_project_can_bring_its_own_activity_and_bad_codes_are_errors(mini_plan):
    red = mini_plan["control_lines"].geometry.iloc[0]
    point = red.representative_point()
    projects = gpd.GeoDataFrame({"activity": ["mining", "tourism"]}, geometry=[point, point],
                                crs="EPSG:4326")
    verdicts = comply(projects, plans=mini_plan)
    assert verdicts.loc[0, "verdict"] == "violation"
    assert verdicts.loc[1, "verdict"] == "unknown"
    with pytest.raises(zoning.ZoningError, match="unknown activit"):
        comply(projects, "steelworks", mini_plan)
    with pytest.raises(zoning.ZoningError, match="activity"):
        comply(projects.drop(columns="activity"), plans=mini_plan)
    with pytest.raises(zoning.CRSError):
        comply(projects.set_crs(None, allow_override=True), "mining", mini_plan)


def test_summary_gives_the_worst_verdict_per_project(mini_plan):
    red = mini_plan["control_lines"].geometry.iloc[0]
    projects = gpd.GeoDataFrame({"activity": ["mining", "tourism"]},
                                geometry=[red.representative_point(), shapely.Point(0, 0)],
                                crs="EPSG:4326")
    summary = comply(projects, plans=mini_plan, summary=True)
    assert list(summary.verdict) == ["violation", "unknown"]
    assert list(summary.n_violation) == [1, 0]
    assert summary.index.equals(projects.index)
    assert summary.geometry.geom_equals(projects.geometry).all()


def test_rules_of_another_plan_apply_by_zone_class_inside_its_area(mini_plan):
    """A county plan's red-line rule governs the province's red line inside the county."""
    red = mini_plan["control_lines"]
    province_meta = dict(mini_plan.meta, plan_id="cn-test-province")
    province_red = red.assign(plan_id="cn-test-province",
                              feature_id="cn-test-province/control_lines/red-line")
    province = Plan(MappingProxyType(province_meta),
                    MappingProxyType({"control_lines": province_red}),
                    MappingProxyType({"rules": mini_plan.tables["rules"].iloc[:0]}))
    county_meta = dict(mini_plan.meta, plan_id="cn-test-county")
    county_rules = mini_plan.tables["rules"].assign(plan_id="cn-test-county")
    county = Plan(MappingProxyType(county_meta), MappingProxyType({}),
                  MappingProxyType({"rules": county_rules}))
    point = red.geometry.iloc[0].representative_point()
    verdicts = comply(gpd.GeoSeries([point], crs="EPSG:4326"), "industry", [province, county])
    assert list(zip(verdicts.plan_id, verdicts.rule_id, verdicts.verdict)) == [
        ("cn-test-county", "epr-no-construction", "violation")]
    assert verdicts.feature_ids.iloc[0] == "cn-test-province/control_lines/red-line"
    hits = zoning.query(point, [province, county], crs="EPSG:4326")
    assert hits.rule_ids.iloc[0] == "cn-test-county:epr-no-construction"
    # outside the county's area the county's rule does not reach the province's red line
    shrunk = replace(county, meta=MappingProxyType(dict(
        county_meta, extent_wkt=shapely.box(0, 0, 1, 1).wkt)))
    verdicts = comply(gpd.GeoSeries([point], crs="EPSG:4326"), "industry", [province, shrunk])
    assert list(verdicts.verdict) == ["unknown"]


@pytest.mark.parametrize("activity", ["industry", "mining", "construction", "agriculture"])
def test_verdicts_on_real_plans_match_the_rules_table(plans, activity):
    shanxi = plan_or_skip(plans, "cn-shanxi-2035")
    yongji = plan_or_skip(plans, "cn-yongji-2035")
    both = [shanxi, yongji]
    rng = np.random.default_rng(7)
    minx, miny, maxx, maxy = shapely.from_wkt(yongji.meta["extent_wkt"]).bounds
    points = shapely.points(rng.uniform(minx, maxx, 12), rng.uniform(miny, maxy, 12))
    verdicts = comply(gpd.GeoSeries(points, crs="EPSG:4326"), activity, both)
    for i, point in enumerate(points):
        got = verdicts.loc[[i]]
        judged = got[got.rule_id.notna()]
        assert set(zip(judged.plan_id, judged.rule_id, judged.verdict)) == \
            expected_verdicts(both, point, activity)
        if judged.empty:
            assert list(got.verdict) == ["unknown"]


def test_a_project_in_a_real_red_line_is_a_violation(plans):
    shanxi = plan_or_skip(plans, "cn-shanxi-2035")
    feats = shanxi.features
    red = feats[feats.zone_class == "ecological_protection_red_line"]
    if red.empty:
        pytest.skip("no red line encoded in cn-shanxi-2035")
    rules = shanxi.tables["rules"]
    prohibiting = rules[(rules.effect == "prohibited")
                        & rules.zone_classes.str.split(";").map(
                            lambda c: "ecological_protection_red_line" in c)]
    named = [a for acts in prohibiting.activities for a in acts.split(";") if a != "any"]
    activity = named[0] if named else "construction"
    site = red.geometry.iloc[0].representative_point()
    verdicts = comply(gpd.GeoSeries([site], crs="EPSG:4326"), activity, shanxi)
    violated = set(verdicts.rule_id[verdicts.verdict == "violation"])
    assert set(prohibiting.rule_id[prohibiting.activities.str.split(";").map(
        lambda a: activity in a or "any" in a)]) <= violated


def test_cli_comply_reports_violations_with_exit_code_1(mini_plan, tmp_path, monkeypatch):
    import importlib

    q = importlib.import_module("zoning.query")

    red = mini_plan["control_lines"].geometry.iloc[0]
    path = tmp_path / "projects.gpkg"
    gpd.GeoDataFrame({"activity": ["industry"]}, geometry=[red.representative_point()],
                     crs="EPSG:4326").to_file(path)
    monkeypatch.setattr(q, "resolve_plans", lambda plans=None: [mini_plan])
    result = CliRunner().invoke(app, ["comply", str(path), "--out", str(tmp_path / "v.csv")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    table = pd.read_csv(tmp_path / "v.csv")
    assert list(table.verdict) == ["violation"] and list(table.rule_id) == ["epr-no-construction"]

"""Compliance verdicts, checked against the rules table read independently."""

from __future__ import annotations

import csv
from dataclasses import replace
from types import MappingProxyType

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
import shapely.ops
from typer.testing import CliRunner

import zoning
from zoning.cli import app
from zoning.compliance import EFFECT_VERDICT, comply
from zoning.model import Plan

from conftest import plan_or_skip


def broader(activity: str) -> set[str]:
    """The activity and every broader one, read from layers/activities.csv with csv."""
    with open(zoning.model.LAYERS_DIR / "activities.csv", newline="", encoding="utf-8") as f:
        parent = {row["code"]: row["parent"] for row in csv.DictReader(f)}
    out = {activity}
    while parent[activity]:
        activity = parent[activity]
        out.add(activity)
    return out


_GEOD = pyproj.Geod(ellps="WGS84")
_LADDER = {0: "violation", 1: "near boundary", 2: "possible conflict"}


def _level(feat, point: shapely.Point) -> int:
    """0 firmly inside a footprint, 1 within a footprint's accuracy of its edge, 2 on an
    envelope or schematic shape — measured geodesically, independently of zoning."""
    if feat.basis_badge not in ("authoritative", "approximate"):
        return 2
    if feat.geometry.geom_type not in ("Polygon", "MultiPolygon"):
        return 1
    accuracy = 0.0 if pd.isna(feat.accuracy_m) else float(feat.accuracy_m)
    near = shapely.ops.nearest_points(point, feat.geometry.boundary)[1]
    metres = _GEOD.inv(point.x, point.y, near.x, near.y)[2]
    return 0 if metres > accuracy else 1


def expected_verdicts(plans: list[Plan], point: shapely.Point, activity: str) -> set:
    """(plan_id, rule_id, verdict, conditional) by brute force: features containing the
    point, the rules of their own plan naming their class or id, plus other plans' rules
    naming their class where the point lies in that plan's area; a rule judges the project
    when it names its activity or a broader one, conditionally when it names a narrower one
    or is scoped to a kind of land (``applies_if``). A prohibition follows the ladder on the
    surest feature carrying it; a feature of a plan whose area does not hold the point is
    context."""
    best: dict = {}
    inside = {p.plan_id for p in plans if shapely.from_wkt(p.meta["extent_wkt"]).intersects(point)}
    for plan in plans:
        feats = plan.features
        for feat in feats[feats.intersects(point)].itertuples():
            in_area = plan.plan_id in inside
            for other in plans:
                if other.plan_id != plan.plan_id and other.plan_id not in inside:
                    continue
                for rule in other.tables["rules"].itertuples():
                    classes = rule.zone_classes.split(";") if rule.zone_classes else []
                    ids = rule.features.split(";") if rule.features else []
                    applies = feat.zone_class in classes or (
                        other.plan_id == plan.plan_id and feat.feature_id in ids)
                    acts = set(rule.activities.split(";"))
                    if not applies:
                        continue
                    if acts & broader(activity):
                        conditional = False
                    elif any(activity in broader(a) for a in acts):
                        conditional = True
                    else:
                        continue
                    conditional = conditional or bool(getattr(rule, "applies_if", ""))
                    key = (rule.plan_id, rule.rule_id, in_area, rule.effect, conditional)
                    best[key] = min(best.get(key, 2), _level(feat, point))
    return {(pid, rid, ("context" if not in_area else _LADDER[lv] if effect == "prohibited"
                        else EFFECT_VERDICT[effect]), cond)
            for (pid, rid, in_area, effect, cond), lv in best.items()}


@pytest.fixture(scope="module")
def firm_plan(mini_plan):
    """The mini plan with its (schematic, river-buffer) red line swapped in as authoritative."""
    red = mini_plan["control_lines"].iloc[[0]][["geometry"]]
    return zoning.replace_layer(mini_plan, "control_lines", red, feature="ecological-protection-red-line")


def test_planted_project_on_a_schematic_red_line_is_a_possible_conflict(mini_plan):
    red = mini_plan["control_lines"].geometry.iloc[0]
    verdicts = comply(gpd.GeoSeries([red.representative_point()], crs="EPSG:4326"), "industry",
                      mini_plan)
    assert list(verdicts.verdict) == ["possible conflict"]
    assert verdicts.basis_badge.iloc[0] == "schematic" and "schematic" in verdicts.caveat.iloc[0]
    assert "check against the official delineation" in verdicts.reason.iloc[0]
    assert comply(gpd.GeoSeries([red.representative_point()], crs="EPSG:4326"), "industry",
                  mini_plan, summary=True).verdict.iloc[0] == "possible conflict"


def test_planted_project_in_the_red_line_is_a_violation(firm_plan):
    mini_plan = firm_plan
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
    assert p1.basis_badge.iloc[0] == "authoritative" and p1.caveat.iloc[0] == ""
    assert bool(p1.in_plan_area.iloc[0])
    p2 = verdicts.loc[["p2"]]
    assert list(p2.verdict) == ["unknown"]
    assert "no rule of cn-test-mini on industry" in p2.reason.iloc[0]


def test_polygon_project_partly_inside_is_a_violation_with_its_share(firm_plan):
    mini_plan = firm_plan
    red = mini_plan["control_lines"].geometry.iloc[0]
    centre = red.representative_point()
    site = shapely.box(centre.x - 0.2, centre.y - 0.02, centre.x + 0.2, centre.y + 0.02)
    verdicts = comply(gpd.GeoSeries([site], crs="EPSG:4326"), "mining", mini_plan)
    row = verdicts[verdicts.rule_id == "epr-no-construction"].iloc[0]
    assert row.verdict == "violation"
    expected_share = site.intersection(red).area / site.area  # planar share, degrees
    assert 0 < row.share < 1
    assert row.share == pytest.approx(expected_share, rel=0.01)


def test_activity_not_named_by_any_rule_is_unknown_and_outside_no_plan_applies(mini_plan):
    red = mini_plan["control_lines"].geometry.iloc[0]
    sites = gpd.GeoSeries([red.representative_point(), shapely.Point(0, 0)], crs="EPSG:4326")
    verdicts = comply(sites, "tourism", mini_plan)
    assert list(verdicts.verdict) == ["unknown", "no plan applies"]
    assert list(verdicts.in_plan_area) == [True, False]
    assert verdicts.reason.iloc[1].startswith("no plan applies")


def test_each_project_can_bring_its_own_activity_and_bad_codes_are_errors(firm_plan):
    mini_plan = firm_plan
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


def test_summary_gives_the_worst_verdict_per_project(firm_plan):
    mini_plan = firm_plan
    red = mini_plan["control_lines"].geometry.iloc[0]
    projects = gpd.GeoDataFrame({"activity": ["mining", "tourism"]},
                                geometry=[red.representative_point(), shapely.Point(0, 0)],
                                crs="EPSG:4326")
    summary = comply(projects, plans=mini_plan, summary=True)
    assert list(summary.verdict) == ["violation", "no plan applies"]
    assert list(summary.n_violation) == [1, 0]
    assert summary.index.equals(projects.index)
    assert summary.geometry.geom_equals(projects.geometry).all()


def test_rules_of_another_plan_apply_by_zone_class_inside_its_area(firm_plan):
    """A county plan's red-line rule governs the province's red line inside the county."""
    mini_plan = firm_plan
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


@pytest.mark.parametrize("activity", ["industry", "mining", "construction", "agriculture",
                                      "housing", "any"])
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
        assert set(zip(judged.plan_id, judged.rule_id, judged.verdict,
                       judged.condition != "")) == expected_verdicts(both, point, activity)
        if judged.empty:
            assert list(got.verdict) in (["unknown"], ["no plan applies"])


def _prohibiting_red_line(shanxi):
    rules = shanxi.tables["rules"]
    return rules[(rules.effect == "prohibited") & (rules.applies_if == "")
                 & rules.zone_classes.str.split(";").map(
                     lambda c: "ecological_protection_red_line" in c)
                 & rules.activities.str.split(";").map(lambda a: "construction" in a)]


def test_shanxi_red_line_envelope_gives_a_possible_conflict_with_its_stated_size(plans):
    shanxi = plan_or_skip(plans, "cn-shanxi-2035")
    red = shanxi.features.set_index("feature_id").loc[
        "cn-shanxi-2035/control_lines/ecological-protection-red-line"]
    prohibiting = _prohibiting_red_line(shanxi)
    assert len(prohibiting)
    site = red.geometry.representative_point()
    verdicts = comply(gpd.GeoSeries([site], crs="EPSG:4326"), "housing", shanxi)
    rows = verdicts[verdicts.rule_id.isin(prohibiting.rule_id)]
    assert set(rows.rule_id) == set(prohibiting.rule_id)
    assert set(rows.verdict) == {"possible conflict"}
    assert "envelope" in rows.caveat.iloc[0] and "34,100 km²" in rows.caveat.iloc[0]
    assert rows.stated_area_km2.iloc[0] == 34100


def test_authoritative_red_line_swapped_in_makes_a_violation_only_inside_it(plans):
    """After replace_layer swaps an authoritative polygon into the red line, housing well
    inside it is a violation; a project 50 km away is not affected by it."""
    shanxi = plan_or_skip(plans, "cn-shanxi-2035")
    prohibiting = set(_prohibiting_red_line(shanxi).rule_id)
    # a 10 km × 10 km "official" patch in the Lüliang mountains (Xingxian county)
    centre = shapely.Point(111.25, 38.45)
    patch = shapely.box(centre.x - 0.06, centre.y - 0.045, centre.x + 0.06, centre.y + 0.045)
    official = gpd.GeoDataFrame(geometry=[patch], crs="EPSG:4326")
    swapped = zoning.replace_layer(shanxi, "control_lines", official,
                                   feature="ecological-protection-red-line")
    lon50 = centre.x + 50 / (111.32 * np.cos(np.radians(centre.y)))
    sites = gpd.GeoSeries([centre, shapely.Point(lon50, centre.y)], index=["inside", "far"],
                          crs="EPSG:4326")
    v = comply(sites, "housing", swapped)
    inside = v.loc[["inside"]]
    hit = inside[inside.rule_id.isin(prohibiting)]
    assert set(hit.verdict) == {"violation"} and set(hit.rule_id) == prohibiting
    assert set(hit.basis_badge) == {"authoritative"}
    far = v.loc[["far"]]
    assert not far.rule_id.isin(prohibiting).any()
    assert comply(sites, "housing", swapped, summary=True).loc["inside", "verdict"] == "violation"


def test_housing_in_city_centres_is_never_a_confident_violation(plans):
    """No footprint-grade zone of the five plans prohibits housing at their cities' centres
    (points of the plans' own city layers and well-known centres)."""
    loaded = [p for p in plans.values()]
    centres = {"Taiyuan": (112.549, 37.870), "Pingyao": (112.176, 37.201),
               "Yongji": (110.44, 34.87), "Datong": (113.300, 40.076),
               "Ardabil": (48.293, 38.249), "Qom": (50.876, 34.640),
               "Kon Tum": (108.005, 14.350)}
    for plan in loaded:
        for layer in plan.layers.values():
            pts = layer[(layer.geom_type == "Point") & layer.zone_class.isin(
                ["urban_centre", "city", "town", "central_city", "urban_area"])]
            for row in pts.itertuples():
                centres[row.feature_id] = (row.geometry.x, row.geometry.y)
    sites = gpd.GeoSeries([shapely.Point(*xy) for xy in centres.values()],
                          index=list(centres), crs="EPSG:4326")
    summary = comply(sites, "housing", loaded, summary=True)
    long = comply(sites, "housing", loaded)
    bad = long[(long.verdict == "violation") & (long.condition == "")]
    # a violation may stand only on a footprint the site is inside by more than its accuracy
    assert bad.empty, bad[["rule_id", "feature_ids", "basis_badge"]].to_string()
    assert not (summary.verdict == "violation").any()
    assert len(sites) >= 7


def test_outside_every_plan_no_plan_applies(plans):
    loaded = list(plans.values())
    sites = gpd.GeoSeries([shapely.Point(51.389, 35.689), shapely.Point(105.85, 21.03),
                           shapely.Point(0, 0)], index=["Tehran", "Hanoi", "null island"],
                          crs="EPSG:4326")
    summary = comply(sites, "housing", loaded, summary=True)
    assert list(summary.verdict) == ["no plan applies"] * 3
    long = comply(sites, "housing", loaded)
    assert set(long.verdict) <= {"no plan applies", "context"}
    assert not long.in_plan_area.astype(bool).any()
    hits = zoning.query(sites, loaded)
    assert not hits.in_plan_area.astype(bool).any()


def test_chunked_and_grouped_judging_gives_the_same_rows(plans):
    """Judging alike points once and in chunks changes nothing (compared with chunk_size=1,
    where every point is judged alone)."""
    loaded = [plan_or_skip(plans, "cn-yongji-2035"), plan_or_skip(plans, "cn-shanxi-2035")]
    rng = np.random.default_rng(3)
    minx, miny, maxx, maxy = shapely.from_wkt(loaded[0].meta["extent_wkt"]).bounds
    pts = shapely.points(rng.uniform(minx, maxx, 14), rng.uniform(miny, maxy, 14))
    pts = np.concatenate([pts, pts[:6]])      # repeated points fall in one group
    sites = gpd.GeoSeries(pts, crs="EPSG:4326")
    a = comply(sites, "industry", loaded, chunk_size=8)
    b = comply(sites, "industry", loaded, chunk_size=1)
    pd.testing.assert_frame_equal(a, b)
    sa = comply(sites, "industry", loaded, summary=True, chunk_size=9)
    sb = comply(sites, "industry", loaded, summary=True, chunk_size=1)
    pd.testing.assert_frame_equal(pd.DataFrame(sa.drop(columns="geometry")),
                                  pd.DataFrame(sb.drop(columns="geometry")))


def test_a_rule_aimed_at_a_kind_of_land_is_a_condition(plans):
    """The Fen-basin rule on Class-I forest land and sub-alpine meadows (L355) no longer
    decides a verdict over the whole basin."""
    shanxi = plan_or_skip(plans, "cn-shanxi-2035")
    rules = shanxi.tables["rules"].set_index("rule_id")
    assert "forest land" in rules.loc["ch10-fen-basin-forest-meadow-prohibitions", "applies_if"]
    taiyuan = gpd.GeoSeries([shapely.Point(112.549, 37.870)], crs="EPSG:4326")
    v = comply(taiyuan, "housing", shanxi)
    row = v[v.rule_id == "ch10-fen-basin-forest-meadow-prohibitions"].iloc[0]
    assert row.condition.startswith("if the site is Class-I forest land")
    s = comply(taiyuan, "housing", shanxi, summary=True)
    assert "ch10-fen-basin-forest-meadow-prohibitions" not in str(s.rule_ids.iloc[0])


def test_cli_comply_reports_violations_with_exit_code_1(firm_plan, tmp_path, monkeypatch):
    import importlib

    mini_plan = firm_plan

    q = importlib.import_module("zoning.query")

    red = mini_plan["control_lines"].geometry.iloc[0]
    path = tmp_path / "projects.gpkg"
    gpd.GeoDataFrame({"activity": ["industry"]}, geometry=[red.representative_point()],
                     crs="EPSG:4326").to_file(path)
    monkeypatch.setattr(q, "resolve_plans", lambda plans=None: [mini_plan])
    monkeypatch.setattr(q, "_plan_ids_of", lambda plans: None)   # not the cached index
    result = CliRunner().invoke(app, ["comply", str(path), "--out", str(tmp_path / "v.csv")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    table = pd.read_csv(tmp_path / "v.csv")
    assert list(table.verdict) == ["violation"] and list(table.rule_id) == ["epr-no-construction"]


def _with_rule(plan: Plan, **rule) -> Plan:
    """The plan with one more rule row (same columns as its rules table)."""
    rules = plan.tables["rules"]
    row = rules.iloc[[0]].assign(**rule)
    return replace(plan, tables=MappingProxyType(
        dict(plan.tables, rules=pd.concat([rules, row], ignore_index=True))))


def test_a_rule_on_a_broader_activity_judges_a_narrower_project(firm_plan):
    """The red line prohibits construction; housing is construction (activities.csv tree)."""
    mini_plan = firm_plan
    site = mini_plan["control_lines"].geometry.iloc[0].representative_point()
    verdicts = comply(gpd.GeoSeries([site], crs="EPSG:4326"), "housing", mini_plan)
    assert list(verdicts.verdict) == ["violation"]
    assert verdicts.rule_id.iloc[0] == "epr-no-construction"
    assert verdicts.condition.iloc[0] == ""
    assert verdicts.reason.iloc[0].startswith("housing (as construction) is prohibited in ")
    # tourism is not construction: no rule of the mini plan speaks to it
    assert list(comply(gpd.GeoSeries([site], crs="EPSG:4326"), "tourism",
                       mini_plan).verdict) == ["unknown"]


def test_a_rule_on_a_narrower_activity_is_a_condition_not_a_verdict(mini_plan):
    district = mini_plan["districts"].iloc[1]
    plan = _with_rule(mini_plan, rule_id="no-polluting-industry", effect="prohibited",
                      activities="polluting_industry", zone_classes=district.zone_class,
                      features="")
    site = district.geometry.representative_point()
    assert not mini_plan["control_lines"].geometry.iloc[0].intersects(site)
    sites = gpd.GeoSeries([site], crs="EPSG:4326")
    verdicts = comply(sites, "industry", plan)
    row = verdicts[verdicts.rule_id == "no-polluting-industry"].iloc[0]
    # the districts are Voronoi cells (schematic): a prohibition there is a possible conflict
    assert row.verdict == "possible conflict"
    assert row.condition == "if the project is polluting industry"
    assert row.reason.startswith("if the project is polluting industry: ")
    summary = comply(sites, "industry", plan, summary=True)
    assert summary.verdict.iloc[0] == "unknown" and summary.n_conditional.iloc[0] == 1
    assert summary.n_violation.iloc[0] == 0
    assert "polluting industry" in summary.reasons.iloc[0]
    # a polluting-industry project there is judged outright
    firm = comply(sites, "polluting_industry", plan, summary=True)
    assert firm.verdict.iloc[0] == "possible conflict" and firm.n_conditional.iloc[0] == 0


def test_the_activity_vocabulary_is_one_tree(monkeypatch):
    from zoning import model

    lineage = model.activity_lineage()
    assert lineage["housing"] == ("housing", "urban_development", "construction", "any")
    assert all(chain[-1] == "any" for chain in lineage.values())
    assert {"hunting", "fishing"} <= set(lineage)
    broken = model.activities().copy()
    broken.loc["construction", "parent"] = "housing"
    monkeypatch.setattr(model, "activities", lambda: broken)
    model.activity_lineage.cache_clear()
    try:
        with pytest.raises(zoning.ZoningError, match="parent cycle"):
            model.activity_lineage()
    finally:
        monkeypatch.undo()
        model.activity_lineage.cache_clear()


def test_cli_exit_code_ignores_conditional_violations(mini_plan, tmp_path, monkeypatch):
    import importlib

    q = importlib.import_module("zoning.query")
    district = mini_plan["districts"].iloc[1]
    plan = _with_rule(mini_plan, rule_id="no-polluting-industry", effect="prohibited",
                      activities="polluting_industry", zone_classes=district.zone_class,
                      features="")
    path = tmp_path / "projects.gpkg"
    gpd.GeoDataFrame({"activity": ["industry"]},
                     geometry=[district.geometry.representative_point()],
                     crs="EPSG:4326").to_file(path)
    monkeypatch.setattr(q, "resolve_plans", lambda plans=None: [plan])
    monkeypatch.setattr(q, "_plan_ids_of", lambda plans: None)   # not the cached index
    out = tmp_path / "v.csv"
    result = CliRunner().invoke(app, ["comply", str(path), "--out", str(out)],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.verdict) == ["possible conflict"]
    assert list(table.condition) == ["if the project is polluting industry"]


def test_cli_comply_at_one_position(firm_plan, monkeypatch):
    import importlib

    mini_plan = firm_plan

    q = importlib.import_module("zoning.query")
    monkeypatch.setattr(q, "resolve_plans", lambda plans=None: [mini_plan])
    monkeypatch.setattr(q, "_plan_ids_of", lambda plans: None)   # not the cached index
    site = mini_plan["control_lines"].geometry.iloc[0].representative_point()
    args = ["comply", "--lon", str(site.x), "--lat", str(site.y), "--activity", "housing"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output              # housing is construction
    assert "epr-no-construction" in result.output
    result = CliRunner().invoke(app, args[:5], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "needs --activity" in result.output
    result = CliRunner().invoke(app, ["comply"], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "projects file" in result.output


def test_cli_outside_every_plan_says_no_plan_applies_with_exit_0(plans):
    if len(plans) < 5:
        pytest.skip("needs every plan")
    for extra in ([], ["--summary"]):
        result = CliRunner().invoke(app, ["comply", "--lon", "51.389", "--lat", "35.689",
                                          "--activity", "housing", *extra],
                                    env={"COLUMNS": "120"})
        assert result.exit_code == 0, result.output
        assert "NO PLAN APPLIES" in result.output.upper()


def _edge_points(plans_list, rng, n_each: int) -> np.ndarray:
    """Points on the plans' feature edges and lines (vertices and segment midpoints), and
    vertices moved by 1e-12° … 1e-4° (around the 1e-5° margin inside which the bulk path
    leaves a point to the exact test)."""
    xy = shapely.get_coordinates(np.concatenate(
        [np.asarray(p.features.geometry.values, dtype=object) for p in plans_list]))
    pick = rng.choice(len(xy) - 1, n_each, replace=False)
    out = [xy[pick], (xy[pick] + xy[pick + 1]) / 2]
    for scale in (1e-12, 1e-6, 1e-5, 1e-4):
        out.append(xy[rng.choice(len(xy), n_each)] + rng.normal(0, scale, (n_each, 2)))
    return shapely.points(np.concatenate(out))


def test_points_on_and_near_edges_are_judged_in_bulk_as_one_by_one(plans):
    """The bulk path (grid cells, faces of slices, groups kept across chunks) gives every
    point on or near a feature edge, a line feature or a plan-area edge the same rows as
    judging it alone (chunk_size=1 locates each site exactly against the features)."""
    loaded = [plan_or_skip(plans, "ir-qom-1414"), plan_or_skip(plans, "cn-shanxi-2035"),
              plan_or_skip(plans, "cn-yongji-2035")]
    rng = np.random.default_rng(13)
    minx, miny, maxx, maxy = shapely.from_wkt(loaded[0].meta["extent_wkt"]).bounds
    uniform = shapely.points(rng.uniform(minx, maxx, 60), rng.uniform(miny, maxy, 60))
    pts = np.concatenate([_edge_points(loaded, rng, 20), uniform])
    pts = np.concatenate([pts, pts[::7]])                 # repeats land in later chunks
    sites = gpd.GeoSeries(pts, crs="EPSG:4326")
    alone = comply(sites, "housing", loaded, summary=True, chunk_size=1)
    bulk = comply(sites, "housing", loaded, summary=True, chunk_size=50)
    pd.testing.assert_frame_equal(pd.DataFrame(bulk.drop(columns="geometry")),
                                  pd.DataFrame(alone.drop(columns="geometry")))
    pd.testing.assert_frame_equal(comply(sites, "housing", loaded, chunk_size=50),
                                  comply(sites, "housing", loaded, chunk_size=1))


def test_points_on_edges_match_the_rules_table(plans):
    """Points exactly on feature edges and vertices, judged in bulk, against the brute-force
    verdicts (a point on a footprint's edge is within its accuracy of it: near boundary)."""
    both = [plan_or_skip(plans, "cn-shanxi-2035"), plan_or_skip(plans, "cn-yongji-2035")]
    rng = np.random.default_rng(17)
    pts = _edge_points([both[1]], rng, 4)[:8]
    verdicts = comply(gpd.GeoSeries(np.concatenate([pts, pts]), crs="EPSG:4326"),
                      "construction", both, chunk_size=5)
    for i, point in enumerate(np.concatenate([pts, pts])):
        got = verdicts.loc[[i]]
        judged = got[got.rule_id.notna()]
        assert set(zip(judged.plan_id, judged.rule_id, judged.verdict,
                       judged.condition != "")) == expected_verdicts(both, point, "construction")

"""Plan diff on the real plans: modified copies with changes computed independently (shapely
difference, geodesic areas), identical versions, reconciliation with ``tabulate``, a git
revision of ``layers/`` and a GeoPackage round trip."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from types import MappingProxyType

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

import zoning
from zoning.diff import OUTSIDE_UNITS, STATED_SIZE_TOLERANCE, diff, resolve_version
from zoning.settings import settings
from zoning.stats import MIN_AREA_KM2

from conftest import plan_or_skip

GEOD = pyproj.Geod(ellps="WGS84")
#: EASE-Grid 2.0 areas are within 1e-5 of geodesic ones; leave room for densification.
REL = 1e-4


def geodesic_km2(geom) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6 if not geom.is_empty else 0.0


def geodesic_length_km(geom) -> float:
    return GEOD.geometry_length(geom) / 1000 if not geom.is_empty else 0.0


def with_tables(plan, **tables):
    merged = dict(plan.tables)
    merged.update(tables)
    return replace(plan, tables=MappingProxyType(merged))


@pytest.fixture(scope="module")
def yongji(plans):
    return plan_or_skip(plans, "cn-yongji-2035")


@pytest.fixture(scope="module")
def moved_yongji(yongji):
    """Yongji whose central urban area grows by one box and loses another (known polygons)."""
    layer = yongji["central_urban_area"]
    old = layer.geometry.iloc[0]
    c = old.centroid
    grow = shapely.box(c.x + 0.02, c.y - 0.02, c.x + 0.08, c.y + 0.02)
    cut = shapely.box(c.x - 0.06, c.y - 0.01, c.x - 0.03, c.y + 0.01)
    new = shapely.difference(shapely.union(old, grow), cut)
    data = gpd.GeoDataFrame({"id": ["central-urban-area"]}, geometry=[new], crs="EPSG:4326")
    return zoning.replace_layer(yongji, "central_urban_area", data, feature="central-urban-area"), old, new


def test_a_plan_against_itself_is_empty(yongji):
    d = diff(yongji, yongji)
    assert d.empty
    for table in (d.features, d.attributes, d.transitions, d.classes, d.rules, d.indicators,
                  d.statements, d.changes):
        assert len(table) == 0
    assert "no differences" in d.summary()


def test_a_plan_folder_of_another_checkout(yongji, moved_yongji, tmp_path):
    """A copy of layers/cn-yongji-2035 elsewhere (another checkout) is a version too."""
    folder = tmp_path / "checkout" / "layers" / "cn-yongji-2035"
    shutil.copytree(settings.layers_dir / "cn-yongji-2035", folder)
    d = diff(yongji, folder)
    assert d.empty, d.summary()
    assert d.new_label == str(folder)


def test_a_plan_against_its_geopackage_is_empty(plans, tmp_path):
    plan = plan_or_skip(plans, "vn-kontum-2030")
    path = zoning.write_gpkg(plan, tmp_path / "kontum.gpkg")
    d = diff(plan, path)
    assert d.empty, d.summary()
    assert d.new_label == "kontum.gpkg"


def test_moved_boundary_gives_the_moved_area_in_features_and_transitions(yongji, moved_yongji):
    plan, old, new = moved_yongji
    gained = geodesic_km2(shapely.difference(new, old))
    lost = geodesic_km2(shapely.difference(old, new))
    assert gained > 5 and lost > 1  # the boxes really move the boundary

    d = diff(yongji, plan)
    (row,) = d.features.itertuples()
    assert row.key == "central_urban_area/central-urban-area" and row.change == "changed"
    assert row.geometry_changed
    assert row.area_gained_km2 == pytest.approx(gained, rel=REL)
    assert row.area_lost_km2 == pytest.approx(lost, rel=REL)
    assert row.new_area_km2 - row.old_area_km2 == pytest.approx(gained - lost, rel=REL)
    assert row.old_area_km2 == pytest.approx(geodesic_km2(old), rel=REL)
    # swapped in: the precision badge changes and is reported
    assert row.badge_change == "schematic → authoritative"
    assert "replaced by an authoritative delineation" in row.precision
    assert {"geometry_basis", "basis_badge", "basis_detail"} <= set(
        row.attributes_changed.split(";"))

    # Nothing else covers the central-urban-area class: all moved land is that class.
    t = d.transitions
    into = t[(t.from_class == "") & (t.to_class == "central_urban_area")].area_km2.sum()
    out_of = t[(t.from_class == "central_urban_area") & (t.to_class == "")].area_km2.sum()
    assert into == pytest.approx(gained, rel=REL)
    assert out_of == pytest.approx(lost, rel=REL)
    assert set(t.unit) == {"CN:140881"}
    assert d.changes.area_km2.sum() == pytest.approx(gained + lost, rel=REL)
    assert shapely.union_all(d.changes.geometry.values).symmetric_difference(
        shapely.symmetric_difference(old, new)).area < 1e-9
    assert d.rules.empty and d.indicators.empty and d.statements.empty


def tabulated(plan, units, by="zone_class"):
    table = zoning.tabulate(plan, units, by=by)
    return table.set_index(["unit", by]).area_km2


def reconcile(d, old_plan, new_plan, units, by="zone_class"):
    """tabulate(new) = tabulate(old) + gained − lost, for every (unit, class)."""
    before, after = tabulated(old_plan, units, by), tabulated(new_plan, units, by)
    classes = d.classes.set_index(["unit", by])
    both = pd.concat([before, after, classes.gained_km2, classes.lost_km2], axis=1,
                     keys=["before", "after", "gained", "lost"]).fillna(0.0)
    predicted = both.before + both.gained - both.lost
    # tabulate leaves out (unit, class) areas of float dust (<= MIN_AREA_KM2)
    assert np.abs(predicted - both.after).max() <= 2 * MIN_AREA_KM2
    return both


def test_transitions_reconcile_with_tabulate_of_each_version(yongji, moved_yongji):
    plan, old, new = moved_yongji
    units = zoning.admin_units(yongji)
    d = diff(yongji, plan)
    both = reconcile(d, yongji, plan, units)
    changed = both[(both.before - both.after).abs() > MIN_AREA_KM2]
    assert changed.index.get_level_values("zone_class").tolist() == ["central_urban_area"]


def test_transitions_by_another_column_reconcile_with_tabulate_by_it(yongji, moved_yongji):
    plan, old, new = moved_yongji
    units = zoning.admin_units(yongji)
    d = diff(yongji, plan, by="basis_badge")
    # the whole new central urban area is now authoritative land
    gained = d.classes.set_index("basis_badge").gained_km2
    assert gained["authoritative"] == pytest.approx(geodesic_km2(new), rel=REL)
    reconcile(d, yongji, plan, units, by="basis_badge")
    with pytest.raises(zoning.ZoningError, match="no column 'colour'"):
        diff(yongji, plan, by="colour")


def test_transitions_by_user_polygons(yongji, moved_yongji):
    plan, old, new = moved_yongji
    c = old.centroid
    halves = gpd.GeoDataFrame({"unit_id": ["west", "east"]}, geometry=[
        shapely.box(c.x - 1, c.y - 1, c.x, c.y + 1), shapely.box(c.x, c.y - 1, c.x + 1, c.y + 1)],
        crs="EPSG:4326").to_crs("EPSG:3857")     # any CRS
    d = diff(yongji, plan, units=halves)
    t = d.transitions.set_index(["unit", "from_class", "to_class"]).area_km2
    east_gain = geodesic_km2(shapely.difference(new, old).intersection(
        shapely.box(c.x, c.y - 1, c.x + 1, c.y + 1)))
    west_loss = geodesic_km2(shapely.difference(old, new).intersection(
        shapely.box(c.x - 1, c.y - 1, c.x, c.y + 1)))
    assert t[("east", "", "central_urban_area")] == pytest.approx(east_gain, rel=REL)
    assert t[("west", "central_urban_area", "")] == pytest.approx(west_loss, rel=REL)
    assert OUTSIDE_UNITS not in t.index.get_level_values("unit")
    reconcile(d, yongji, plan, halves)


def test_class_change_moves_land_from_one_class_to_another(yongji):
    layer = yongji["central_urban_area"]
    layer["zone_class"] = "urban_development_boundary"
    layer["zone_class_label"] = "Urban development boundary"
    plan = replace(yongji, layers=MappingProxyType({**yongji.layers,
                                                    "central_urban_area": layer}))
    d = diff(yongji, plan)
    area = geodesic_km2(layer.geometry.iloc[0])
    t = d.transitions
    assert len(t) == 1
    assert (t.from_class.iat[0], t.to_class.iat[0]) == ("central_urban_area",
                                                        "urban_development_boundary")
    assert t.area_km2.iat[0] == pytest.approx(area, rel=REL)
    attrs = d.attributes.set_index("attribute")
    assert attrs.at["zone_class", "old"] == "central_urban_area"
    assert attrs.at["zone_class", "new"] == "urban_development_boundary"
    assert not d.features.geometry_changed.iat[0]
    assert d.features.area_gained_km2.iat[0] == 0


def test_added_rule_changed_indicator_and_statement(yongji):
    rules = yongji.table("rules")
    new_rule = rules.iloc[0].copy()
    new_rule["rule_id"] = "amendment-no-quarrying"
    new_rule["text"] = "禁止采石"
    new_rule["text_en"] = "No quarrying"
    new_rule["source_lines"] = "999"
    rules = pd.concat([rules, new_rule.to_frame().T], ignore_index=True)
    indicators = yongji.table("indicators")
    target = indicators.target_value.notna().idxmax()
    old_value = indicators.at[target, "target_value"]
    indicators.at[target, "target_value"] = old_value * 1.5
    statements = yongji.table("statements")
    old_text_en = statements.at[0, "text_en"]
    statements.at[0, "text_en"] = old_text_en + " Amended."
    removed_statement = statements.statement_id.iat[-1]
    statements = statements.iloc[:-1]
    plan = with_tables(yongji, rules=rules, indicators=indicators, statements=statements)

    d = diff(yongji, plan)
    assert d.features.empty and d.transitions.empty
    (added,) = d.rules.itertuples()
    assert (added.id, added.change) == ("amendment-no-quarrying", "added")
    assert added.new_citation == f"{new_rule.source_section}, L999" and added.old_citation == ""
    assert "No quarrying" in added.new
    (ind,) = d.indicators.itertuples()
    assert (ind.id, ind.change, ind.fields_changed) == (
        indicators.at[target, "indicator_id"], "changed", "target_value")
    assert ind.old_citation == ind.new_citation != ""
    st = d.statements.set_index("id")
    first = statements.statement_id.iat[0]
    assert st.at[first, "change"] == "changed" and st.at[first, "fields_changed"] == "text_en"
    assert f"-{old_text_en}" in st.at[first, "text_diff"]
    assert f"+{old_text_en} Amended." in st.at[first, "text_diff"]
    assert st.at[removed_statement, "change"] == "removed"
    assert st.at[removed_statement, "new_citation"] == ""


def test_authoritative_red_line_in_shanxi(plans):
    """Swap an 'official' red line into Shanxi — here the envelope cut at the meridian where
    its area west of it is the 34,100 km² the plan says were delineated — and the diff reports
    the feature, the badge change, the area change, the stated size met, the transitions."""
    shanxi = plan_or_skip(plans, "cn-shanxi-2035")
    layer = shanxi["control_lines"]
    row = layer[layer.feature_id.str.endswith("/ecological-protection-red-line")].iloc[0]
    envelope = row.geometry
    minx, miny, maxx, maxy = envelope.bounds
    assert geodesic_km2(envelope) > 1.5 * 34100       # the envelope is far too big
    west, east = minx, maxx
    for _ in range(30):                               # bisect the meridian
        middle = (west + east) / 2
        area = geodesic_km2(shapely.intersection(envelope, shapely.box(minx, miny, middle, maxy)))
        west, east = (middle, east) if area < 34100 else (west, middle)
    official = shapely.intersection(envelope, shapely.box(minx, miny, west, maxy))
    assert geodesic_km2(official) == pytest.approx(34100, rel=1e-3)
    data = gpd.GeoDataFrame({"id": ["ecological-protection-red-line"]}, geometry=[official],
                            crs="EPSG:4326")
    swapped = zoning.replace_layer(shanxi, "control_lines", data, feature="ecological-protection-red-line")
    d = diff(shanxi, swapped)

    (f,) = d.features.itertuples()
    assert f.key == "control_lines/ecological-protection-red-line"
    assert f.old_badge != "authoritative" and f.new_badge == "authoritative"
    assert f.badge_change == f"{f.old_badge} → authoritative"
    assert f.precision.endswith("replaced by an authoritative delineation")
    lost = geodesic_km2(shapely.difference(envelope, official))
    assert f.area_lost_km2 == pytest.approx(lost, rel=REL) and f.area_gained_km2 == 0
    assert f.new_area_km2 == pytest.approx(geodesic_km2(official), rel=REL)
    # the red line states its delineated size: 34,100 km² (the precision model's attribute)
    assert f.stated_column == "stated_area_km2" and f.stated_km2 == 34100
    ratio = geodesic_km2(official) / 34100
    assert f.stated_ratio == pytest.approx(ratio, rel=REL)
    assert f.stated_met is True and abs(ratio - 1) <= STATED_SIZE_TOLERANCE
    assert "stated size 34,100 km² met" in d.summary()
    # the envelope it replaces would not have met it
    assert f.old_area_km2 / 34100 - 1 > STATED_SIZE_TOLERANCE

    t = d.transitions
    assert set(t.from_class) == {"ecological_protection_red_line"} and set(t.to_class) == {""}
    assert t.area_km2.sum() == pytest.approx(lost, rel=REL)
    assert t.unit.str.startswith("CN:14").all()       # Shanxi's counties
    reconcile(d, shanxi, swapped, zoning.admin_units(shanxi))


def _git_ok(*revs) -> bool:
    if shutil.which("git") is None:
        return False
    return all(subprocess.run(["git", "-C", str(settings.layers_dir), "rev-parse", "--verify",
                               "--quiet",
                               f"{r}^{{commit}}"], capture_output=True).returncode == 0
               for r in revs)


KONTUM_QL40 = "921413d"   # "QL.40/40B line and corridor drawn only along QL.40B"


@pytest.mark.skipif(not _git_ok(KONTUM_QL40, KONTUM_QL40 + "~1"),
                    reason="needs this repository's git history")
def test_diff_across_a_git_revision_of_layers():
    before = f"vn-kontum-2030@{KONTUM_QL40}~1"
    after = f"vn-kontum-2030@{KONTUM_QL40}"
    d = diff(before, after)
    assert (d.old_label, d.new_label) == (before, after)
    # the commit touched the QL.40 line and the corridor along it, nothing else
    assert sorted(d.features.key) == ["economic_corridors/ql40-ql40b-corridor",
                                      "transport/ql40-ql40b"]
    assert (d.features.change == "changed").all() and d.features.geometry_changed.all()
    old_plan, new_plan = d.old, d.new
    for row in d.features.itertuples():
        layer = row.key.split("/")[0]
        o = old_plan[layer].set_index("feature_id").geometry[row.feature_id]
        n = new_plan[layer].set_index("feature_id").geometry[row.feature_id]
        assert row.length_lost_km == pytest.approx(
            geodesic_length_km(shapely.difference(o, n)), rel=1e-9, abs=1e-9)
        assert row.length_gained_km == pytest.approx(
            geodesic_length_km(shapely.difference(n, o)), rel=1e-9, abs=1e-9)
        assert row.new_length_km < row.old_length_km
    assert d.transitions.empty        # lines have no area
    assert d.rules.empty and d.indicators.empty and d.statements.empty


def test_bad_versions_are_clear_errors(tmp_path):
    with pytest.raises(zoning.ZoningError, match="cannot diff"):
        resolve_version(42)
    with pytest.raises(zoning.UnknownPlanError):
        resolve_version("no-such-plan")
    with pytest.raises(zoning.ZoningError, match="no such file"):
        resolve_version(tmp_path / "missing.gpkg")
    with pytest.raises(zoning.ZoningError, match="plan_id@<git revision>"):
        resolve_version("cn-yongji-2035@")
    with pytest.raises(zoning.ZoningError, match="has no plan.yaml"):
        resolve_version(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("not a plan")
    with pytest.raises(zoning.ZoningError, match=r"give a plan GeoPackage \(.gpkg\)"):
        resolve_version(text)
    broken = tmp_path / "broken.gpkg"
    broken.write_bytes(b"not a geopackage")
    with pytest.raises(zoning.ZoningError, match="broken.gpkg"):
        resolve_version(broken)
    if _git_ok("HEAD"):
        with pytest.raises(zoning.ZoningError, match="git"):
            resolve_version("cn-yongji-2035@no-such-revision-xyz")
        with pytest.raises(zoning.ZoningError, match="no git revision 'no-such-revision-xyz'"):
            resolve_version("cn-yongji-2035@no-such-revision-xyz")
        with pytest.raises(zoning.ZoningError, match="does not exist at revision"):
            resolve_version("no-such-plan@HEAD")


# --- files: GeoPackage and diff map ------------------------------------------------------------

def _payload(html: str) -> dict:
    import json
    import re

    match = re.search(r'<script type="application/json" id="zoning_diff[^"]*">(.*?)</script>',
                      html, re.S)
    return json.loads(match.group(1).replace("<\\/", "</"))


def test_write_diff_gives_a_geopackage_of_change_polygons_and_an_offline_map(
        yongji, moved_yongji, tmp_path):
    import pyogrio

    plan, old, new = moved_yongji
    d = diff(yongji, plan)
    paths = zoning.write_diff(d, tmp_path / "out")
    layers = dict(pyogrio.list_layers(paths["gpkg"]))
    assert layers["changes"] == "MultiPolygon"
    assert {"features", "transitions", "classes", "rules", "indicators", "statements",
            "attribute_changes"} <= set(layers)
    changes = pyogrio.read_dataframe(paths["gpkg"], layer="changes")
    assert changes.crs.to_epsg() == 4326
    assert changes.area_km2.sum() == pytest.approx(
        geodesic_km2(shapely.symmetric_difference(old, new)), rel=REL)
    gained = changes[changes.to_class == "central_urban_area"]
    assert shapely.union_all(gained.geometry.values).symmetric_difference(
        shapely.difference(new, old)).area < 1e-9
    transitions = pyogrio.read_dataframe(paths["gpkg"], layer="transitions",
                                         read_geometry=False)
    assert transitions.area_km2.sum() == pytest.approx(changes.area_km2.sum(), rel=1e-9)

    html = paths["map"].read_text(encoding="utf-8")
    assert "http://" not in html.split("<body")[0].split("leaflet")[0]
    assert "<script src=" not in html and "<link " not in html   # everything inlined
    data = _payload(html)
    assert [f["p"]["key"] for f in data["before"]] == ["central_urban_area/central-urban-area"]
    assert [f["p"]["key"] for f in data["after"]] == ["central_urban_area/central-urban-area"]
    assert len(data["changes"]) == len(d.changes)
    legend = {(t["from"], t["to"]): t["area_km2"] for t in data["transitions"]}
    assert legend[("", "central_urban_area")] == pytest.approx(
        geodesic_km2(shapely.difference(new, old)), rel=REL)
    note = data["diffs"]["central_urban_area/central-urban-area"]
    assert note["badge_change"] == "schematic → authoritative"
    fid = "cn-yongji-2035/central_urban_area/central-urban-area"
    assert data["features"]["old"][fid]["badge"] == "schematic"
    assert data["features"]["new"][fid]["badge"] == "authoritative"


def test_a_hostile_name_cannot_end_the_diff_maps_data(yongji, moved_yongji, tmp_path):
    """The diff map embeds its data the way the plan maps do: no name can close the element
    or open an HTML comment that swallows the rest of the page."""
    import re

    plan, _, _ = moved_yongji
    hostile = '<!--<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    layer = plan["central_urban_area"]
    layer["name"] = hostile
    layers = dict(plan.layers)
    layers["central_urban_area"] = layer
    named = replace(plan, layers=MappingProxyType(layers))
    html = zoning.write_diff(diff(yongji, named), tmp_path / "out")["map"].read_text(
        encoding="utf-8")
    (payload,) = re.findall(r'<script type="application/json" id="zoning_diff[^"]*">(.*?)</script>',
                            html, flags=re.S)
    assert "<" not in payload and ">" not in payload
    assert hostile in payload.encode().decode("unicode_escape")    # the name itself is kept
    json.loads(payload)


def test_write_diff_is_atomic(yongji, moved_yongji, tmp_path, monkeypatch):
    import zoning.diffmap as diffmap

    plan, _, _ = moved_yongji
    d = diff(yongji, plan)
    out = tmp_path / "out"
    first = zoning.write_diff(d, out, map=False)["gpkg"]
    before = first.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(diffmap, "write_layers", lambda tables, path: zoning.io.write_layers(
        {**tables, "changes": broken}, path))
    with pytest.raises(zoning.ZoningError):
        zoning.write_diff(d, out, map=False)
    assert first.read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["diff.gpkg"]


#: Run in its own process: the plan-map tests keep a Playwright session open for the whole
#: test session, and Playwright's sync API cannot start a second one beside it.
BROWSER_SCRIPT = r"""
import json, sys
from playwright.sync_api import sync_playwright
path, chromium = sys.argv[1], sys.argv[2]
seen = {"errors": [], "external": []}
with sync_playwright() as pw:
    browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.on("pageerror", lambda exc: seen["errors"].append(str(exc)))
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        ("file:", "data:")) else (seen["external"].append(route.request.url), route.abort()))
    page.goto("file://" + path)
    page.wait_for_function("window.zoningDiffMaps && window.zoningDiffMaps.length > 0")
    count = lambda sel: page.locator(sel).count()
    seen["change"], seen["before"], seen["after"] = (
        count("path.zoning-diff-change"), count("path.zoning-diff-before"),
        count("path.zoning-diff-after"))
    seen["legend"] = page.locator(".zoning-diff-legend").inner_text()
    page.locator("path.zoning-diff-change").nth(int(sys.argv[3])).dispatch_event("click")
    seen["change_popup"] = page.locator(".leaflet-popup-content").inner_text()
    page.evaluate("window.zoningDiffMaps[0].map.closePopup()")
    page.wait_for_function("!document.querySelector('.leaflet-popup')")
    page.locator("path.zoning-diff-after").dispatch_event("click")
    seen["feature_popup"] = page.locator(".leaflet-popup-content").inner_text()
    page.locator(".leaflet-control-layers-overlays label", has_text="Land changing class") \
        .locator("input").uncheck()
    seen["change_after_toggle"] = count("path.zoning-diff-change")
    browser.close()
print(json.dumps(seen))
"""


@pytest.mark.browser
def test_diff_map_in_headless_chromium(yongji, moved_yongji, tmp_path):
    """Opened offline: no errors, nothing fetched, the three layers drawn, a change polygon's
    popup shows both versions, the legend lists the transitions, the layer switch works."""
    import json
    import os
    import sys

    pytest.importorskip("playwright.sync_api")
    chromium = os.environ.get("ZONING_CHROMIUM", "/usr/bin/chromium")
    if not (os.path.exists(chromium) or shutil.which(chromium)):
        pytest.skip(f"no Chromium at {chromium}")
    plan, _, _ = moved_yongji
    d = diff(yongji, plan)
    path = zoning.write_diff(d, tmp_path)["map"]
    biggest = int(d.changes.area_km2.idxmax())
    run = subprocess.run([sys.executable, "-c", BROWSER_SCRIPT, str(path), chromium,
                          str(biggest)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["errors"] == [] and seen["external"] == []
    assert seen["change"] == len(d.changes)
    assert seen["before"] == 1 and seen["after"] == 1
    assert "Central urban area" in seen["legend"] and "none" in seen["legend"]
    assert "Before — cn-yongji-2035 (old)" in seen["change_popup"]
    assert "After — cn-yongji-2035 (new)" in seen["change_popup"]
    assert "Central urban area" in seen["change_popup"]
    # the feature's popup shows both versions' badges
    assert "schematic" in seen["feature_popup"] and "authoritative" in seen["feature_popup"]
    assert seen["change_after_toggle"] == 0


# --- command line ------------------------------------------------------------------------------

def test_cli_diff_of_two_geopackages(yongji, moved_yongji, tmp_path):
    import io

    from typer.testing import CliRunner

    from zoning.cli import app

    plan, old, new = moved_yongji
    before = zoning.write_gpkg(yongji, tmp_path / "before.gpkg")
    after = zoning.write_gpkg(plan, tmp_path / "after.gpkg")
    runner = CliRunner()
    result = runner.invoke(app, ["diff", str(before), str(after), "--out",
                                 str(tmp_path / "out"), "--exit-code"], env={"COLUMNS": "250"})
    assert result.exit_code == 1, result.output          # the versions differ
    assert "before.gpkg → after.gpkg" in result.output
    assert "central_urban_area" in result.output
    assert "schematic → authoritative" in result.output
    assert (tmp_path / "out" / "diff.gpkg").is_file() and (tmp_path / "out" / "diff.html").is_file()

    result = runner.invoke(app, ["diff", str(before), str(after), "--format", "csv"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout), keep_default_na=False)
    into = table[(table.from_class == "") & (table.to_class == "central_urban_area")]
    assert into.area_km2.sum() == pytest.approx(geodesic_km2(shapely.difference(new, old)),
                                                rel=REL)

    same = runner.invoke(app, ["diff", str(before), "cn-yongji-2035", "--exit-code"])
    assert same.exit_code == 0 and "no differences" in same.output
    bad = runner.invoke(app, ["diff", "no-such-plan", str(after)])
    assert bad.exit_code == 2 and "no plan 'no-such-plan'" in bad.output
    assert "Traceback" not in bad.output

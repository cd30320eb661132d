"""Honest precision: every badge follows from the recipe tree, envelopes carry stated sizes.

The expected badge is recomputed here from the plan sources and ``layers/geometry_basis.csv``
read with the csv module — not through ``zoning.build`` — so a feature labelled more certain
than its recipe allows fails.
"""

import csv

import pytest
import shapely

import zoning
from zoning.model import LAYERS_DIR

PLANS = ["cn-shanxi-2035", "cn-yongji-2035", "ir-ardabil-1424", "ir-qom-1414", "vn-kontum-2030"]


def _table():
    with open(LAYERS_DIR / "geometry_basis.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {r["code"]: (r["badge"], int(r["badge_rank"])) for r in rows}


BASES = _table()
RANK = {badge: rank for badge, rank in BASES.values()}
LEAF = {"plan_area": "plan_extent", "admin_units": "admin_units", "place": "gazetteer_point",
        "corridor": "schematic_corridor", "river": "river_line",
        "tessellation_cell": "schematic_voronoi", "elevation_band": "schematic_dem_bands",
        "file": "authoritative", "features": "derived"}


def _expected_rank(src, key, memo):
    """The least certain rank anywhere in the recipe tree of feature ``key``."""
    if key in memo:
        return memo[key]
    layer_name = key.split("/", 1)[0]
    feat = next(f for f in src.layers[layer_name].features if f"{layer_name}/{f.id}" == key)
    g = feat.geometry
    ranks = [BASES[LEAF[g.recipe]][1]]
    if g.recipe == "features":
        ranks += [BASES["plan_extent"][1] if ref == "plan_area" else
                  _expected_rank(src, ref, memo) for ref in g.of]
    if g.recipe in ("tessellation_cell", "elevation_band"):
        within = src.layers[layer_name].tessellation.within
        if within and within != "plan_area" and "/" in within:
            ranks.append(_expected_rank(src, within, memo))
    if g.clip and g.clip != "plan_area" and "/" in g.clip:
        ranks.append(_expected_rank(src, g.clip, memo))
    if g.buffer_km is not None:
        ranks.append(BASES["buffer"][1])
    if g.envelope:
        ranks.append(BASES["envelope"][1])
    memo[key] = max(ranks)
    return memo[key]


@pytest.mark.parametrize("plan_id", PLANS)
def test_no_feature_is_more_certain_than_its_recipe(plan_id):
    src = zoning.read_plan_source(plan_id)
    feats = zoning.load(plan_id).features.set_index("feature_id")
    memo: dict = {}
    checked = 0
    for name, layer in src.layers.items():
        for f in layer.features:
            key = f"{name}/{f.id}"
            row = feats.loc[f"{plan_id}/{key}"]
            assert RANK[row.basis_badge] == _expected_rank(src, key, memo), (key, row.basis_badge)
            # the basis named on the feature carries that same badge (no schematic basis
            # under an approximate badge or the reverse), except a derived shape's
            assert row.geometry_basis == "derived" or BASES[row.geometry_basis][0] == row.basis_badge
            if row.basis_badge == "envelope":
                assert row.accuracy_m is None or row.accuracy_m != row.accuracy_m  # empty
            checked += 1
    assert checked == len(feats)


def test_buffered_units_and_points_are_schematic():
    """The two cases of the audit: a county buffered 9 km (Yongji L190) and a 3 km disc
    around a city point (Ardabil's Parsabad airport project)."""
    yongji = zoning.load("cn-yongji-2035").features.set_index("feature_id")
    row = yongji.loc["cn-yongji-2035/territorial_pattern/mountain-foot-specialty-agriculture-zone"]
    assert (row.geometry_basis, row.basis_badge) == ("buffer", "schematic")
    ardabil = zoning.load("ir-ardabil-1424").features.set_index("feature_id")
    assert ardabil.loc["ir-ardabil-1424/projects/parsabad-airport", "basis_badge"] == "schematic"


def test_shanxi_control_lines_are_envelopes_with_their_stated_sizes():
    feats = zoning.load("cn-shanxi-2035")["control_lines"].set_index("feature_id")
    # sizes as the plan states them: 3.41万 km² (L144); 5649万亩 and 4748万亩 (L58), 1 亩 = 2000/3 m²
    stated = {"ecological-protection-red-line": 34100,
              "cultivated-land-protection": 5649e4 * 2000 / 3 / 1e6,
              "permanent-basic-farmland": 4748e4 * 2000 / 3 / 1e6}
    geod = __import__("pyproj").Geod(ellps="WGS84")
    for fid, km2 in stated.items():
        row = feats.loc[f"cn-shanxi-2035/control_lines/{fid}"]
        assert row.basis_badge == "envelope" and row.geometry_basis == "envelope"
        assert row.stated_area_km2 == pytest.approx(km2, rel=1e-3)
        assert row.stated_area_source.startswith("L")
        drawn = abs(geod.geometry_area_perimeter(shapely.segmentize(row.geometry, 0.01))[0]) / 1e6
        assert row.drawn_to_stated == pytest.approx(drawn / km2, rel=5e-3)
    # the envelope the audit measured: the red line is drawn at about twice its real size
    assert feats.loc["cn-shanxi-2035/control_lines/ecological-protection-red-line",
                     "drawn_to_stated"] > 1.5


def test_shanxi_envelopes_are_what_their_basis_detail_says():
    """Each Shanxi admin-unit polygon whose own basis_detail calls it an envelope is one."""
    feats = zoning.load("cn-shanxi-2035").features
    says = feats.basis_detail.str.contains(r"\benvelope\b", case=False) & (
        feats.geom_type.str.contains("Polygon"))
    says &= ~feats.geometry_basis.isin(["buffer", "gazetteer_buffer", "river_buffer"])
    assert says.sum() > 100
    wrong = feats[says & (feats.basis_badge != "envelope")]
    assert wrong.empty, wrong.feature_id.tolist()


def test_badge_order_comes_from_the_table():
    order = sorted(RANK, key=RANK.get)
    assert zoning.model.badge_order() == tuple(order)
    assert zoning.model.least_certain("approximate", "envelope", "authoritative") == "envelope"
    with pytest.raises(zoning.ZoningError):
        zoning.model.least_certain("approximate", "certain-ish")


#: Kinds of land or object a rule may aim at inside a zone, with the zone classes that *are*
#: that kind (a rule on wetlands applied to wetland zones needs no condition).
LAND_KINDS = {
    r"forest land|natural forest|public-benefit forest|woodland": {"protected_forest",
                                                                  "forestry_area"},
    r"meadow|grassland": {"grassland_protection"},
    r"wetland": {"wetland"},
    r"cultivated land|farmland": {"cultivated_land_protection", "permanent_basic_farmland"},
    r"relic|heritage|historic remain": {"heritage_site", "historic_cultural_protection_line"},
    r"water source": {"water_source_protection"},
    r"deposit|strategic mineral": {"mineral_resource_control_line", "mining_area"},
}
#: Rules the audit read and kept unconditional: their words name the zone itself, or the kind
#: of land is where the activity leads, not where the rule applies.
REVIEWED_UNCONDITIONAL = {
    "cl-farmland-in-out-balance",          # conversion *of* cultivated land *to* grassland …
    "cl-key-underground-space-control",    # underground development around the zones named
    "restricted-heritage-core-buffer",     # the zones are the heritage sites' core and buffer
    "env-strict-protection-zone",          # the zone's own components (L180)
    "env-emission-restricted-zone",        # the zone's own components (L181)
}


@pytest.mark.parametrize("plan_id", PLANS)
def test_rules_aimed_at_a_kind_of_land_inside_a_zone_are_conditions(plan_id):
    """The rule-scope audit as a test: a prohibiting or restricting rule whose words aim at a
    kind of land other than its zones' own class carries ``applies_if`` (or was read and kept
    unconditional, above)."""
    import re

    plan = zoning.load(plan_id)
    feats = plan.features.set_index("feature_id")
    missing = []
    for rule in plan.tables["rules"].itertuples():
        if rule.effect not in ("prohibited", "restricted") or rule.applies_if:
            continue
        classes = set(filter(None, rule.zone_classes.split(";"))) | {
            feats.zone_class[f] for f in filter(None, rule.features.split(";"))}
        for pattern, own in LAND_KINDS.items():
            if re.search(pattern, rule.text_en, re.I) and not classes <= own \
                    and rule.rule_id not in REVIEWED_UNCONDITIONAL:
                missing.append((rule.rule_id, pattern))
    assert not missing, missing

"""Kon Tum Provincial Plan 2021–2030: checks on the real encoding against the seed text."""

import re

import pytest
import shapely

from conftest import plan_or_skip
from zoning import reference
from zoning.geometry import tiling_report
from zoning.spec import seed_lines

PLAN = "vn-kontum-2030"


@pytest.fixture(scope="module")
def kontum(plans):
    return plan_or_skip(plans, PLAN)


def test_four_industrial_parks_sum_to_the_stated_total(kontum):
    parks = kontum["industrial_parks"]
    assert len(parks) == 4
    # the hectares as the seed states them in each park's cited words (decimal comma)
    stated = [float(re.search(r"\(([\d.,]+) ha", t).group(1).replace(".", "").replace(",", "."))
              for t in parks.source_text]
    assert parks.area_ha.tolist() == pytest.approx(stated)
    total = kontum.tables["indicators"].set_index("indicator_id").at["industrial-parks-area",
                                                                      "target_value"]
    assert sum(stated) == pytest.approx(total) == pytest.approx(575)


def test_the_stated_total_is_in_the_source_text(source_texts):
    assert "tổng diện tích 575 ha" in seed_lines("004_bf6c0796b2ee8ea2.txt")[138]


def test_every_district_seat_lies_inside_the_province(kontum):
    province, _ = reference.unit("NE:VN-28")
    src_places = kontum.features[kontum.features.layer == "districts"]
    assert len(src_places) >= 9
    from zoning import read_plan_source

    src = read_plan_source(PLAN)
    for feat in src.layers["districts"].features:
        ref = feat.geometry.place
        point = (reference.place(ref)[0] if isinstance(ref, int) else
                 shapely.Point(src.places[ref.removeprefix("local:")].longitude,
                               src.places[ref.removeprefix("local:")].latitude))
        assert province.contains(point), feat.id


def test_schematic_districts_tile_the_province(kontum):
    report = tiling_report(kontum["districts"], shapely.from_wkt(kontum.meta["extent_wkt"]))
    assert report["ok"], report
    assert set(kontum["districts"].geometry_basis) == {"schematic_voronoi"}


def test_reorganisation_successor_is_recorded(kontum):
    assert kontum.meta["successor_date"] == "2025-07-01"
    assert "Quảng Ngãi" in kontum.meta["successor"] + kontum.meta["successor_en"]


def test_vietnamese_names_are_nfc(kontum):
    import unicodedata

    for text in kontum.features.name:
        assert unicodedata.is_normalized("NFC", text)


def test_query_at_mang_den_returns_the_tourism_area_and_its_rules(kontum):
    from zoning.query import query_point

    town, _ = reference.place(8675985)   # Măng Đen township (GeoNames)
    hits = query_point(town.x, town.y, plans=PLAN).set_index("feature_id")
    tourism = "vn-kontum-2030/tourism_areas/mang-den-nta"
    assert tourism in hits.index
    row = hits.loc[tourism]
    rules = kontum.tables["rules"]
    applying = rules[rules.features.str.contains(tourism, regex=False)
                     | rules.zone_classes.str.split(";").map(lambda c: "tourism_area" in c)]
    assert len(applying) > 0
    for rule_id in applying.rule_id:
        assert rule_id in row.rule_ids
    assert row.basis_badge == "schematic"

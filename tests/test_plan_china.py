"""Shanxi 2021–2035 and Yongji 2020–2035 on the real encodings: nesting and placement."""

import geopandas as gpd
import pytest
import shapely

from conftest import plan_or_skip
from zoning import reference
from zoning.geometry import area_km2


@pytest.fixture(scope="module")
def shanxi(plans):
    return plan_or_skip(plans, "cn-shanxi-2035")


@pytest.fixture(scope="module")
def yongji(plans):
    return plan_or_skip(plans, "cn-yongji-2035")


def test_yongji_lies_inside_shanxi(yongji, shanxi):
    inner = shapely.from_wkt(yongji.meta["extent_wkt"])
    outer = shapely.from_wkt(shanxi.meta["extent_wkt"])
    outside = gpd.GeoSeries([inner.difference(outer)], crs=4326)
    assert area_km2(outside)[0] < 0.01 * yongji.meta["extent_area_km2"] / 100
    # and, independently, Yongji's GeoNames seat is inside both outlines
    seat, _ = reference.place(1784818)
    assert inner.contains(seat) and outer.contains(seat)


def test_every_yongji_town_point_lies_inside_yongji(yongji):
    county = shapely.from_wkt(yongji.meta["extent_wkt"])
    towns = yongji["town_system"]
    points = towns[towns.geom_type.isin(["Point", "MultiPoint"])]
    assert len(points) >= 1
    for fid, geom in zip(points.feature_id, points.geometry):
        assert county.contains(geom), fid


def test_yongji_extent_is_the_real_county_polygon(yongji):
    assert yongji.meta["extent_units"] == "CN:140881"
    # the seed's own figure: 1208.07 km² (line 5); the converted Amap outline is within 2 %
    assert yongji.meta["extent_area_km2"] == pytest.approx(1208.07, rel=0.02)


def test_shanxi_has_the_three_control_lines_with_binding_targets(shanxi):
    classes = set(shanxi.features.zone_class)
    assert {"ecological_protection_red_line", "permanent_basic_farmland",
            "urban_development_boundary"} <= classes
    controls = shanxi.features[shanxi.features.zone_class.isin(
        ["ecological_protection_red_line", "permanent_basic_farmland",
         "urban_development_boundary"])]
    assert (controls.regulation == "binding").all()
    indicators = shanxi.tables["indicators"]
    binding = indicators[indicators.nature == "binding"]
    assert len(binding) >= 4


def test_shanxi_has_its_eleven_prefecture_cities_inside_the_province(shanxi):
    province = shapely.from_wkt(shanxi.meta["extent_wkt"])
    cities = shanxi["cities"]
    assert len(cities) >= 11
    assert all(province.contains(g) for g in cities.geometry)


def test_seven_river_corridors_follow_real_river_lines(shanxi):
    corridors = shanxi["ecological_corridors"]
    # 七廊: Fen, Sanggan, Hutuo, Zhang, Qin, Sushui, Daqing — the Daqing corridor is its two
    # headwaters in Shanxi (Tang and Sha rivers), which do not meet inside the province
    rivers = {fid.rsplit("/", 1)[1].split("-")[0] for fid in corridors.feature_id}
    assert rivers == {"fen", "sanggan", "hutuo", "zhang", "qin", "sushui", "daqing"}
    # five follow curated WDB II river lines; Sushui, Tang and Sha have no WDB II line and are
    # schematic corridors through places on their banks
    basis = corridors.set_index(corridors.feature_id.str.rsplit("/", n=1).str[1]).geometry_basis
    assert (basis[["fen-river-corridor", "sanggan-river-corridor", "hutuo-river-corridor",
                   "zhang-river-corridor", "qin-river-corridor"]] == "river_buffer").all()
    assert set(basis) <= {"river_buffer", "schematic_corridor"}
    province = shapely.from_wkt(shanxi.meta["extent_wkt"])
    assert all(province.buffer(1e-6).contains(g) for g in corridors.geometry)

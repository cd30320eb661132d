"""Reference data: real boundaries, places and rivers, checked independently."""

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely

from zoning import reference
from zoning.geometry import area_km2

YONGJI = "140881"


def test_shanxi_has_11_prefectures_and_117_counties():
    assert len(reference.china_children("140000", "prefecture")) == 11
    assert len(reference.china_children("140000", "county")) == 117
    assert reference.china_unit_index().at[YONGJI, "name"] == "永济市"


def test_yongji_gcj02_conversion_moves_a_few_hundred_metres_and_stays_in_shanxi():
    index = reference.china_unit_index()
    raw = gpd.read_file(reference._cnmaps_root() / "datasets" / index.at[YONGJI, "path"])
    raw_geom = shapely.union_all(raw.geometry.values)
    converted = reference.china_unit(YONGJI)
    # same vertex count, every vertex moved by a few hundred metres (GCJ-02 offset)
    a = shapely.get_coordinates(raw_geom)
    b = shapely.get_coordinates(converted)
    assert a.shape == b.shape
    geod = pyproj.Geod(ellps="WGS84")
    _, _, dist = geod.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    assert 300 < np.median(dist) < 800
    assert dist.max() < 1000
    # inside Shanxi per Natural Earth (an independent outline), allowing edge slack
    ne = reference.admin1()
    shanxi = ne[ne.iso_3166_2 == "CN-SX"].geometry.iloc[0]
    share_inside = converted.intersection(shanxi).area / converted.area
    assert share_inside > 0.95
    assert shanxi.contains(converted.representative_point())


def test_areas_are_equal_area_and_match_geodesic_area():
    yongji = reference.china_unit(YONGJI)
    ours = area_km2(gpd.GeoSeries([yongji], crs="EPSG:4326"))[0]
    geodesic = abs(pyproj.Geod(ellps="WGS84").geometry_area_perimeter(yongji)[0]) / 1e6
    assert ours == pytest.approx(geodesic, rel=1e-4)
    # the seed gives 1208.07 km2 (Yongji plan, line 5); the Amap outline is within 2 %
    assert ours == pytest.approx(1208.07, rel=0.02)


def test_geonames_yongji_point_lies_in_yongji():
    point, label = reference.place(1784818)
    assert "Yongji" in label
    assert reference.china_unit(YONGJI).contains(point)


def test_unknown_references_name_the_reference():
    with pytest.raises(reference.ReferenceLookupError, match="CN:999999"):
        reference.unit("CN:999999")
    with pytest.raises(reference.ReferenceLookupError, match="NE:XX-99"):
        reference.unit("NE:XX-99")
    with pytest.raises(reference.ReferenceLookupError, match="123"):
        reference.place(123)


def test_natural_earth_ambiguous_iso_code_is_reported():
    # Natural Earth gives Alborz the ISO code of Tehran (IR-07)
    with pytest.raises(reference.ReferenceLookupError, match="ambiguous"):
        reference.unit("NE:IR-07")


def test_river_path_follows_real_lines_between_anchors():
    line, label = reference.river_line("test-huang-he")
    hancheng, _ = reference.place(1808981)
    sanmenxia, _ = reference.place(1796669)
    ends = shapely.points(shapely.get_coordinates(line)[[0, -1]])
    geod = pyproj.Geod(ellps="WGS84")
    for end, anchor in zip(ends, (hancheng, sanmenxia)):
        assert geod.inv(end.x, end.y, anchor.x, anchor.y)[2] < 12_000
    # every vertex of the path is a vertex of a WDB II line (no invented coordinates)
    wdb = np.round(shapely.get_coordinates(reference.rivers().geometry.values), 4)
    known = {tuple(v) for v in wdb}
    assert all(tuple(v) in known for v in np.round(shapely.get_coordinates(line), 4))
    # the river runs ~160 km from Hancheng to Sanmenxia: longer than the straight line
    straight = geod.inv(hancheng.x, hancheng.y, sanmenxia.x, sanmenxia.y)[2] / 1000
    length = geod.geometry_length(line) / 1000
    assert straight < length < 3 * straight


def test_gcj02_formula_matches_published_inverse_example():
    # the forward GCJ-02 shift at a point in Yongji is ~0.5 km west-north-west; the inverse
    # applied to the shifted point must return within a few metres of the start
    lon, lat = 110.45, 34.87
    dlon, dlat = reference._gcj_delta(np.array([lon]), np.array([lat]))
    forward = shapely.Point(lon + dlon[0], lat + dlat[0])
    back = reference.gcj02_to_wgs84(forward)
    assert pyproj.Geod(ellps="WGS84").inv(lon, lat, back.x, back.y)[2] < 10

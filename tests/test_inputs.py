"""Bad user input: clear errors or reported repairs, never silent damage."""

import warnings

import geopandas as gpd
import numpy as np
import pytest
import shapely

from zoning import CRSError, GeometryInputError
from zoning.inputs import GeometryRepairWarning, prepare

BOWTIE = shapely.Polygon([(110.3, 34.8), (110.4, 34.9), (110.4, 34.8), (110.3, 34.9)])


def test_missing_crs_is_an_error():
    with pytest.raises(CRSError, match="no CRS"):
        prepare(gpd.GeoDataFrame(geometry=[shapely.Point(110.4, 34.8)]))
    with pytest.raises(CRSError, match="crs="):
        prepare(shapely.Point(110.4, 34.8))


def test_other_crs_is_reprojected_and_index_kept():
    src = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(110.44, 34.87)], crs=4326,
                           index=[42]).to_crs(32649)
    out = prepare(src)
    assert out.crs.to_epsg() == 4326 and list(out.index) == [42]
    assert out.geometry.iloc[0].x == pytest.approx(110.44, abs=1e-9)
    assert src.crs.to_epsg() == 32649  # input untouched


def test_invalid_geometry_repaired_with_warning_or_rejected():
    gdf = gpd.GeoDataFrame(geometry=[BOWTIE], crs=4326)
    with pytest.warns(GeometryRepairWarning, match="Self-intersection"):
        out = prepare(gdf)
    assert out.is_valid.all()
    assert out.geometry.iloc[0].area == pytest.approx(shapely.make_valid(BOWTIE).area)
    with pytest.raises(GeometryInputError, match=r"invalid geometry in row\(s\) \[0\]"):
        prepare(gdf, invalid="raise")
    assert not gdf.is_valid.all()  # the caller's frame is not modified


@pytest.mark.parametrize("geom, message", [
    (None, "have no geometry"),
    (shapely.Polygon(), "empty geometry"),
    (shapely.Point(np.nan, 1), "NaN or infinite"),
])
def test_null_empty_and_nan_geometries_are_errors(geom, message):
    with pytest.raises(GeometryInputError, match=message):
        prepare(gpd.GeoDataFrame(geometry=[geom], crs=4326))


def test_mixed_geometry_types_are_accepted():
    mixed = gpd.GeoDataFrame(geometry=[shapely.Point(110.4, 34.8),
                                       shapely.LineString([(110.3, 34.8), (110.4, 34.9)]),
                                       shapely.box(110.3, 34.8, 110.4, 34.9)], crs=4326)
    assert list(prepare(mixed).geom_type) == ["Point", "LineString", "Polygon"]


def test_no_rows_and_wrong_type_are_errors():
    with pytest.raises(GeometryInputError, match="no rows"):
        prepare(gpd.GeoDataFrame(geometry=[], crs=4326))
    with pytest.raises(GeometryInputError, match="expected a GeoDataFrame"):
        prepare("a string")


def test_lon_lat_out_of_range_is_an_error():
    with pytest.raises(GeometryInputError, match="latitude"):
        prepare(gpd.GeoDataFrame(geometry=[shapely.Point(34.87, 110.44)], crs=4326))


def test_prepare_copies_unless_a_reader_says_it_only_reads():
    """A frame that needs no change is returned as a copy by default, as itself with
    copy=False (what zoning.query does: it only reads); a frame that needs a change is a new
    frame either way; and a query leaves the caller's frame as it was."""
    import geopandas as gpd
    import shapely

    import zoning
    from zoning.inputs import prepare

    mine = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Point(112.5, 37.8)],
                            crs="EPSG:4326")
    assert prepare(mine) is not mine
    assert prepare(mine, copy=False) is mine
    projected = mine.to_crs("EPSG:3857")
    back = prepare(projected, copy=False)
    assert back is not projected and back.crs.to_epsg() == 4326
    before = mine.copy()
    zoning.query(mine, "cn-shanxi-2035")
    assert list(mine.columns) == ["name", "geometry"] and mine.equals(before)

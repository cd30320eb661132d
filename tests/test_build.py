"""Build, GeoPackage and map output on the small real test plan."""

import sqlite3
import shutil
import subprocess

import geopandas as gpd
import pyogrio
import pyproj
import pytest
import shapely

import zoning
from zoning.geometry import area_km2, tiling_report
from zoning.io import write_gpkg
from zoning.files import atomic_path
from zoning.model import FEATURE_COLUMNS


def test_every_feature_has_common_columns_citation_and_basis(mini_plan):
    for name, gdf in mini_plan.layers.items():
        assert list(gdf.columns[:len(FEATURE_COLUMNS)]) == list(FEATURE_COLUMNS)
        assert gdf.crs.to_epsg() == 4326
        assert gdf.source_text.str.len().gt(0).all()
        assert gdf.geometry_basis.str.len().gt(0).all()
        assert gdf.is_valid.all() and not gdf.is_empty.any()


def test_recipes_give_the_expected_basis(mini_plan):
    basis = mini_plan.features.set_index("feature_id").geometry_basis
    assert basis["cn-test-mini/control_lines/ecological-protection-red-line"] == "river_buffer"
    assert basis["cn-test-mini/towns/yongji-city"] == "gazetteer_point"
    assert basis["cn-test-mini/districts/city"] == "schematic_voronoi"


def test_buffered_river_is_clipped_to_the_plan_area(mini_plan):
    red = mini_plan["control_lines"].geometry.iloc[0]
    extent = shapely.from_wkt(mini_plan.meta["extent_wkt"])
    assert red.difference(extent).area < 1e-9
    assert 0 < red.area < extent.area


def test_schematic_tiling_covers_plan_area_without_gaps_or_overlaps(mini_plan):
    report = tiling_report(mini_plan["districts"], shapely.from_wkt(mini_plan.meta["extent_wkt"]))
    assert report["ok"], report


def test_area_column_is_equal_area(mini_plan):
    gdf = mini_plan["districts"]
    geod = pyproj.Geod(ellps="WGS84")
    geodesic = [abs(geod.geometry_area_perimeter(g)[0]) / 1e6 for g in gdf.geometry]
    assert gdf.area_km2.to_numpy() == pytest.approx(geodesic, rel=1e-3)
    assert gdf.area_km2.to_numpy() == pytest.approx(area_km2(gdf))


def test_gpkg_round_trip_and_gdal_opens_it(mini_plan, tmp_path):
    path = write_gpkg(mini_plan, tmp_path / "mini.gpkg")
    layers = dict(pyogrio.list_layers(path))
    assert {"control_lines", "towns", "districts", "rules", "indicators", "plan"} <= set(layers)
    back = zoning.read_gpkg(path)
    for name, gdf in mini_plan.layers.items():
        got = back.layers[name]
        assert list(got.feature_id) == list(gdf.feature_id)
        assert list(got.source_text) == list(gdf.source_text)
        assert got.geometry.geom_equals_exact(gdf.geometry.reset_index(drop=True), 1e-12).all()
    with sqlite3.connect(path) as con:
        assert con.execute("select count(*) from gpkg_data_columns where "
                           "table_name='towns' and column_name='geometry_basis'").fetchone()[0] == 1
        meta = con.execute("select metadata from gpkg_metadata").fetchone()[0]
        assert "cn-test-mini" in meta
    if shutil.which("ogrinfo"):
        out = subprocess.run(["ogrinfo", "-ro", "-so", str(path), "control_lines"],
                             capture_output=True, text=True, check=True).stdout
        assert "Feature Count: 1" in out


def test_failed_write_leaves_previous_file_intact(mini_plan, tmp_path):
    target = tmp_path / "plan.gpkg"
    write_gpkg(mini_plan, target)
    before = target.read_bytes()
    with pytest.raises(zoning.ExportError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half a file")
            raise OSError("disk full")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["plan.gpkg"]


def test_swap_in_authoritative_geometry(mini_plan):
    official = gpd.GeoDataFrame(
        geometry=[shapely.box(110.3, 34.8, 110.4, 34.9)], crs="EPSG:4326").to_crs(3857)
    swapped = zoning.replace_layer(mini_plan, "control_lines", official,
                                      feature="ecological-protection-red-line")
    row = swapped["control_lines"].iloc[0]
    assert row.geometry_basis == "authoritative" and row.basis_badge == "authoritative"
    assert row.geometry.equals_exact(
        shapely.MultiPolygon([shapely.box(110.3, 34.8, 110.4, 34.9)]), 1e-9)
    assert row.area_km2 == pytest.approx(area_km2(gpd.GeoSeries([row.geometry], crs=4326))[0])
    # the original plan is untouched
    assert mini_plan["control_lines"].iloc[0].geometry_basis == "river_buffer"
    with pytest.raises(zoning.CRSError):
        zoning.replace_layer(mini_plan, "control_lines", official.set_crs(None, allow_override=True),
                             feature="ecological-protection-red-line")


def test_a_shapefile_without_crs_is_replaced_in_once_its_crs_is_given(mini_plan, tmp_path):
    box = shapely.box(110.3, 34.8, 110.4, 34.9)
    bare = tmp_path / "red_line.shp"
    pyogrio.write_dataframe(gpd.GeoDataFrame(geometry=[box]), bare)      # no .prj
    with pytest.raises(zoning.CRSError, match="no CRS"):
        zoning.replace_layer(mini_plan, "control_lines", bare,
                             feature="ecological-protection-red-line")
    swapped = zoning.replace_layer(mini_plan, "control_lines", bare, crs="EPSG:4326",
                                   feature="ecological-protection-red-line")
    # a Shapefile stores outer rings clockwise: the same polygon, the ring turned round
    assert swapped["control_lines"].iloc[0].geometry.equals(shapely.MultiPolygon([box]))


def test_drop_slivers_removes_noise_holes_and_keeps_enclaves():
    from zoning.geometry import drop_slivers

    # two cells whose shared edge was clipped apart by 1e-14°: their union has a noise hole
    left = shapely.Polygon([(0, 0), (1, 0), (1, 0.4), (1 - 1e-14, 0.5), (1, 0.6), (1, 1),
                            (0, 1)])
    right = shapely.box(1, 0, 2, 1)
    union = shapely.union_all([left, right])
    assert len(union.interiors) == 1 and union.interiors[0].length > 0
    cleaned = drop_slivers(union)
    assert len(cleaned.interiors) == 0
    assert cleaned.area == pytest.approx(2.0)
    # a real enclave (0.1° across) and a real small part stay
    enclave = shapely.box(0, 0, 1, 1).difference(shapely.box(0.4, 0.4, 0.5, 0.5))
    islands = shapely.MultiPolygon([enclave, shapely.box(3, 3, 3 + 1e-5, 3 + 1e-5)])
    assert drop_slivers(islands).equals(islands)
    # a geometry that is nothing but noise stays as it is rather than vanishing
    needle = shapely.Polygon([(0, 0), (1, 1e-15), (1, 2e-15)])
    assert drop_slivers(needle).equals(needle)


def test_no_plan_feature_carries_zero_width_holes(plans):
    """Unions of separately clipped cells used to leave ~1e-14° wide holes (259 of 295 holes)."""
    from zoning.geometry import SLIVER_WIDTH_DEG

    for plan in plans.values():
        for layer, gdf in plan.layers.items():
            for row in gdf.itertuples():
                for part in shapely.get_parts(row.geometry):
                    if not isinstance(part, shapely.Polygon):
                        continue
                    for ring in [part.exterior, *part.interiors]:
                        poly = shapely.Polygon(ring)
                        assert 2 * poly.area / poly.length >= SLIVER_WIDTH_DEG, row.feature_id


def _dem(tmp_path, values, nodata=-32768):
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    path = tmp_path / "dem.tif"
    data = np.asarray(values, dtype="int16")
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0],
                       count=1, dtype="int16", crs="EPSG:4326", nodata=nodata,
                       transform=from_origin(10.0, 20.0, 0.1, 0.1)) as dst:
        dst.write(data, 1)
    return path


def test_elevation_bands_tile_the_area_and_follow_the_dem(tmp_path):
    import numpy as np

    from zoning.geometry import elevation_bands

    # a ramp rising 100 m per column to the east; the clip's mask leaves a nodata corner
    values = np.tile(np.arange(20) * 100, (20, 1))
    values[:3, :3] = -32768
    path = _dem(tmp_path, values)
    within = shapely.Polygon([(10.05, 18.05), (11.95, 18.2), (11.9, 19.95), (10.05, 19.9)])
    low, mid, high = elevation_bands(path, [500, 1200], within)
    report = tiling_report(gpd.GeoDataFrame(geometry=[low, mid, high], crs="EPSG:4326"), within)
    assert report["ok"] and report["gap_km2"] < 1e-6 and report["overlap_km2"] < 1e-6
    # column c covers lon 10.0 + 0.1 c … and holds c * 100 m: 500 m starts at lon 10.5
    assert low.bounds[2] == pytest.approx(10.5) and mid.bounds[0] == pytest.approx(10.5)
    assert mid.bounds[2] == pytest.approx(11.2) and high.bounds[0] == pytest.approx(11.2)
    # a one-cell island of 2,000 m inside the low band goes with the sieve
    values[10, 1] = 2000
    _, _, high_sieved = elevation_bands(_dem(tmp_path, values), [500, 1200], within, sieve_px=2)
    assert not high_sieved.intersects(shapely.Point(10.15, 18.95))
    _, _, high_kept = elevation_bands(_dem(tmp_path, values), [500, 1200], within)
    assert high_kept.intersects(shapely.Point(10.15, 18.95))
    with pytest.raises(zoning.ReferenceLookupError, match="does not cover"):
        elevation_bands(path, [500], shapely.box(9, 18, 11, 19))

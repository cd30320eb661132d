"""Zonal statistics and rasterised zones on the real NOAA GLOBE clips, checked by brute force."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import rasterio.mask
import shapely

import zoning
from zoning.raster import rasterize_zones, share_above, zonal_stats
from zoning.reference import elevation_path

from conftest import plan_or_skip


def zones_of(plans, plan_id: str, raster: str) -> gpd.GeoDataFrame:
    """The plan's polygon features that lie wholly inside the raster clip."""
    plan = plan_or_skip(plans, plan_id)
    feats = plan.features
    feats = feats[feats.geom_type.isin(["Polygon", "MultiPolygon"])]
    with rasterio.open(elevation_path(raster)) as src:
        frame = shapely.box(*src.bounds)
    inside = feats[feats.within(frame)]
    counties = inside[inside.zone_class.isin(["admin_unit", "schematic_admin_unit"])]
    return (counties if len(counties) >= 2 else inside).reset_index(drop=True)


def masked(raster: str, geom) -> np.ma.MaskedArray:
    """Brute force: the cells whose centre lies in ``geom`` (rasterio.mask)."""
    with rasterio.open(elevation_path(raster)) as src:
        data, _ = rasterio.mask.mask(src, [geom], crop=True, filled=False)
    return data[0]


@pytest.mark.parametrize("plan_id,raster", [("ir-qom-1414", "qom"),
                                            ("ir-ardabil-1424", "ardabil")])
def test_elevation_statistics_per_zone_match_a_brute_force_mask(plans, plan_id, raster):
    zones = zones_of(plans, plan_id, raster)
    stats = zonal_stats(zones, elevation_path(raster), ["mean", "min", "max", "count"],
                        area_weighted=False)
    weighted = zonal_stats(zones, elevation_path(raster), ["mean"])
    assert stats.index.equals(zones.index)
    for i, geom in enumerate(zones.geometry):
        cells = masked(raster, geom)
        if cells.count() < 200:
            continue
        # exactextract also counts partly covered edge cells by their covered fraction
        assert stats["mean"][i] == pytest.approx(cells.mean(), rel=0.01)
        assert weighted["mean"][i] == pytest.approx(cells.mean(), rel=0.01)
        assert stats["count"][i] == pytest.approx(cells.count(), rel=0.03)
        assert stats["min"][i] <= cells.min() and stats["max"][i] >= cells.max()


def test_share_above_an_altitude_matches_the_cells_above_it(plans):
    zones = zones_of(plans, "ir-ardabil-1424", "ardabil")
    threshold = 1500.0
    shares = share_above(zones, elevation_path("ardabil"), threshold)
    for i, geom in enumerate(zones.geometry):
        cells = masked("ardabil", geom)
        if cells.count() < 200:
            continue
        expected = float((cells > threshold).sum() / cells.count())
        assert shares.share_above[i] == pytest.approx(expected, abs=0.02)
    assert shares.area_km2.to_numpy() == pytest.approx(zoning.geometry.area_km2(zones))
    assert (shares.area_above_km2 <= shares.valid_area_km2 + 1e-9).all()
    assert ((shares.share_above >= 0) & (shares.share_above <= 1)).all()


def test_nodata_cells_count_as_neither_above_nor_below(tmp_path):
    values = np.arange(100, dtype="int16").reshape(10, 10)
    values[:5, :5] = -32768  # north-west quarter has no data
    path = tmp_path / "dem.tif"
    with rasterio.open(path, "w", driver="GTiff", width=10, height=10, count=1, dtype="int16",
                       crs="EPSG:32639", nodata=-32768,
                       transform=rasterio.transform.from_origin(500000, 4000000, 1000, 1000)
                       ) as dst:
        dst.write(values, 1)
    zone = gpd.GeoDataFrame(geometry=[shapely.box(500000, 3990000, 510000, 4000000)],
                            crs="EPSG:32639")
    out = share_above(zone, path, 49.5)
    valid = values[values != -32768]
    assert out.share_above[0] == pytest.approx((valid > 49.5).sum() / valid.size)
    assert out.valid_area_km2[0] == pytest.approx(out.area_km2[0] * 0.75, rel=1e-9)
    stats = zonal_stats(zone, path, ["mean", "count"])
    assert stats["mean"][0] == pytest.approx(valid.mean())
    assert stats["count"][0] == valid.size


def test_rasterised_zones_burn_the_cells_a_brute_force_mask_selects(plans, tmp_path):
    zones = zones_of(plans, "ir-qom-1414", "qom")
    grid = rasterize_zones(zones, "feature_id", like=elevation_path("qom"))
    assert set(grid.labels.values()) <= set(zones.feature_id)
    with rasterio.open(elevation_path("qom")) as src:
        assert grid.array.shape == (src.height, src.width) and grid.transform == src.transform
    codes = {v: k for k, v in grid.labels.items()}
    for fid, geom in zip(zones.feature_id, zones.geometry):
        cells = masked("qom", geom)
        burnt = int((grid.array == codes[fid]).sum())
        # same centre-of-cell rule; the zones tile, so no zone overwrites another
        assert abs(burnt - int((~cells.mask).sum())) <= 1
    written = grid.write(tmp_path / "zones.tif")
    with rasterio.open(written) as src:
        assert (src.read(1) == grid.array).all()
        assert src.tags(1)["1"] == grid.labels[1]


def test_rasterise_at_a_resolution_and_reject_bad_input(mini_plan):
    grid = rasterize_zones(mini_plan["districts"], "name_en", resolution=0.01)
    assert set(np.unique(grid.array)) <= {0, 1, 2}
    cell_km2 = zoning.geometry.area_km2(gpd.GeoSeries(
        [shapely.box(110.5, 34.8, 110.51, 34.81)], crs="EPSG:4326"))[0]
    burnt_km2 = (grid.array > 0).sum() * cell_km2
    assert burnt_km2 == pytest.approx(mini_plan["districts"].area_km2.sum(), rel=0.05)
    with pytest.raises(zoning.ZoningError):
        rasterize_zones(mini_plan["districts"], "name_en")
    with pytest.raises(zoning.CRSError):
        zonal_stats(mini_plan["districts"].set_crs(None, allow_override=True),
                    elevation_path("qom"))
    with pytest.raises(zoning.ZoningError):
        zonal_stats(mini_plan["towns"], elevation_path("qom"))


def test_zones_in_a_projected_crs_give_the_same_statistics(plans):
    zones = zones_of(plans, "ir-qom-1414", "qom")
    here = zonal_stats(zones, elevation_path("qom"), ["mean", "max"])
    there = zonal_stats(zones.to_crs("EPSG:32639"), elevation_path("qom"), ["mean", "max"])
    assert there["mean"].to_numpy() == pytest.approx(here["mean"].to_numpy(), rel=1e-3)
    assert (there["max"] == here["max"]).all()

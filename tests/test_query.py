"""Site queries, slices and bulk assignment, checked against brute-force shapely."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from typer.testing import CliRunner

import zoning
from zoning import reference
from zoning.cli import app
from zoning.query import assign, plan_index, query, query_point
from zoning.slices import CellGrid, build_slices

from conftest import plan_or_skip

YONGJI_CITY = 1784818  # GeoNames: Yongji, Shanxi


@pytest.fixture(scope="module")
def all_plans(plans):
    return list(plans.values())


@pytest.fixture(scope="module")
def index(all_plans):
    return plan_index(all_plans)


def brute_pairs(sites: np.ndarray, features: gpd.GeoDataFrame) -> set[tuple[int, str]]:
    """(site position, feature_id) for every site that intersects a feature, without touching."""
    geoms = features.geometry.values
    out = set()
    for i, s in enumerate(sites):
        hit = shapely.intersects(geoms, s)
        if shapely.get_type_id(s) != 0:
            hit &= ~shapely.touches(geoms, s)
        out |= {(i, fid) for fid in features.feature_id.to_numpy()[hit]}
    return out


def assert_same(got: gpd.GeoDataFrame, expected: gpd.GeoDataFrame) -> None:
    pd.testing.assert_frame_equal(pd.DataFrame(got.drop(columns="geometry")),
                                  pd.DataFrame(expected.drop(columns="geometry")))
    assert shapely.equals_exact(got.geometry.values, expected.geometry.values, 0).all()


def random_points(plans, n_per_plan: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = []
    for plan in plans:
        minx, miny, maxx, maxy = shapely.from_wkt(plan.meta["extent_wkt"]).bounds
        pts.append(shapely.points(rng.uniform(minx, maxx, n_per_plan),
                                  rng.uniform(miny, maxy, n_per_plan)))
    return np.concatenate(pts)


def test_point_in_yongji_hits_the_yongji_and_shanxi_elements_that_contain_it(plans, index):
    yongji = plan_or_skip(plans, "cn-yongji-2035")
    shanxi = plan_or_skip(plans, "cn-shanxi-2035")
    point, _ = reference.place(YONGJI_CITY)
    hits = query(point, index.plans, crs="EPSG:4326")
    for plan in (yongji, shanxi):
        feats = plan.features
        expected = set(feats.feature_id[feats.intersects(point)])
        assert expected, f"no {plan.plan_id} element contains Yongji city"
        assert set(hits.feature_id[hits.plan_id == plan.plan_id]) == expected
    assert set(hits.plan_id) == {"cn-yongji-2035", "cn-shanxi-2035"}
    # the fast path says the same
    fast = query_point(point.x, point.y, index.plans)
    assert list(fast.feature_id) == list(hits.feature_id)


def test_random_points_agree_with_brute_force_on_every_plan(all_plans, index):
    sites = random_points(all_plans, 400, seed=6)
    hits = query(gpd.GeoSeries(sites, crs="EPSG:4326"), all_plans)
    got = set(zip(hits.index, hits.feature_id))
    assert got == brute_pairs(sites, index.features)
    assert len(got) > len(sites)  # the plans overlap: most points hit several features


def test_a_few_points_take_the_per_point_path_with_the_same_answer(all_plans, index,
                                                                  monkeypatch):
    import importlib

    q = importlib.import_module("zoning.query")
    sites = gpd.GeoDataFrame({"id": range(30)}, geometry=random_points(all_plans, 6, seed=9),
                             crs="EPSG:4326").set_index("id")
    assert len(sites) <= q._FEW_POINTS
    fast = query(sites, all_plans)
    assert set(zip(fast.index, fast.feature_id)) == brute_pairs(sites.geometry.values,
                                                                index.features)
    monkeypatch.setattr(q, "_FEW_POINTS", 0)
    assert_same(fast, query(sites, all_plans))


def test_points_in_boundary_cells_and_on_vertices_agree_with_brute_force(all_plans, index):
    feats = index.features
    polys = feats[feats.geom_type == "MultiPolygon"].geometry.values
    rng = np.random.default_rng(3)
    vertices = shapely.get_coordinates(polys)[rng.choice(
        len(shapely.get_coordinates(polys)), 300, replace=False)]
    jitter = vertices + rng.normal(0, 0.002, vertices.shape)
    sites = shapely.points(np.vstack([vertices, jitter]))
    hits = query(list(sites), all_plans, crs="EPSG:4326")
    assert set(zip(hits.index, hits.feature_id)) == brute_pairs(sites, feats)


def test_polygon_and_line_sites_overlap_in_equal_area(all_plans, index):
    centres = random_points(all_plans, 6, seed=11)
    polygons = shapely.buffer(centres, 0.05)
    lines = shapely.linestrings([[(p.x - 0.1, p.y - 0.05), (p.x + 0.1, p.y + 0.05)]
                                 for p in centres])
    sites = np.concatenate([polygons, lines])
    frame = gpd.GeoDataFrame({"kind": ["site"] * len(sites)}, geometry=sites, crs="EPSG:4326")
    hits = query(frame, all_plans)
    assert set(zip(hits.index, hits.feature_id)) == brute_pairs(sites, index.features)
    geod = pyproj.Geod(ellps="WGS84")
    feats = index.features.set_index("feature_id").geometry
    sample = hits.iloc[::7]
    for site, row in sample.iterrows():
        feature = feats[row.feature_id]
        piece = shapely.intersection(sites[site], feature)
        if shapely.get_dimensions(feature) == 2 and site < len(polygons):
            geodesic_km2 = abs(geod.geometry_area_perimeter(piece)[0]) / 1e6
            whole = abs(geod.geometry_area_perimeter(sites[site])[0]) / 1e6
            assert row.overlap_km2 == pytest.approx(geodesic_km2, rel=1e-3, abs=1e-6)
            assert row.share == pytest.approx(geodesic_km2 / whole, rel=1e-3, abs=1e-6)
        elif shapely.get_dimensions(piece) == 0:  # a line crossing a line: a point
            assert np.isnan(row.overlap_km) and np.isnan(row.overlap_km2)
        elif shapely.get_dimensions(feature) >= 1:
            km = geod.geometry_length(piece) / 1000
            assert row.overlap_km == pytest.approx(km, rel=1e-6, abs=1e-9)
            assert np.isnan(row.overlap_km2)
            if site >= len(polygons):
                whole = geod.geometry_length(sites[site]) / 1000
                assert row.share == pytest.approx(km / whole, rel=1e-6)
    assert hits.overlap_km2.notna().any() and hits.overlap_km.notna().any()


def test_result_carries_rules_citations_and_basis(mini_plan):
    red = mini_plan["control_lines"].geometry.iloc[0]
    hits = query(red.representative_point(), mini_plan, crs="EPSG:4326")
    row = hits.set_index("layer").loc["control_lines"]
    assert row.zone_class == "ecological_protection_red_line"
    assert set(row.prohibited.split(";")) == {"construction", "industry", "mining"}
    assert row.rule_ids == "epr-no-construction"
    assert "三条控制线" in row.rule_citations and "L249" in row.rule_citations
    assert row.basis_badge == "schematic" and row.geometry_basis == "river_buffer"
    assert hits.loc[hits.layer == "districts", "prohibited"].eq("").all()


def test_any_crs_is_reprojected_and_a_missing_crs_is_an_error(mini_plan):
    towns = mini_plan["towns"]
    sites = gpd.GeoDataFrame({"name": ["a", "b"]}, index=["x", "y"], geometry=[
        mini_plan["districts"].geometry.iloc[0].representative_point(),
        mini_plan["districts"].geometry.iloc[1].representative_point()], crs="EPSG:4326")
    in_metres = query(sites.to_crs("EPSG:3857"), mini_plan)
    in_degrees = query(sites, mini_plan)
    assert list(in_metres.index) == list(in_degrees.index)
    assert list(in_metres.feature_id) == list(in_degrees.feature_id)
    assert set(in_degrees.index) == {"x", "y"} and len(towns)
    with pytest.raises(zoning.CRSError):
        query(sites.set_crs(None, allow_override=True), mini_plan)
    with pytest.raises(zoning.CRSError):
        query(shapely.Point(110.4, 34.9), mini_plan)
    with pytest.raises(zoning.GeometryInputError):
        query_point(float("nan"), 34.9, mini_plan)


def test_a_site_outside_every_plan_has_no_rows(mini_plan):
    assert query(shapely.Point(0, 0), mini_plan, crs="EPSG:4326").empty
    assert query_point(0.0, 0.0, mini_plan).empty


def test_slices_partition_the_union_and_list_their_covering_features(mini_plan):
    feats = mini_plan.features
    polys = feats[feats.geom_type == "MultiPolygon"].reset_index(drop=True)
    slices = build_slices(polys)
    table = slices.table
    union = shapely.union_all(polys.geometry.values)
    assert table.area_km2.sum() == pytest.approx(
        zoning.geometry.area_km2(gpd.GeoSeries([union], crs="EPSG:4326"))[0], rel=1e-8)
    for i, geom in enumerate(table.geometry):
        inside = geom.representative_point()
        expected = set(np.flatnonzero(polys.intersects(inside)))
        assert set(slices.members(i)) == expected
    assert len(set(map(tuple, (slices.members(i) for i in range(slices.n_slices))))) == \
        slices.n_slices


def test_cell_grid_matches_shapely_including_points_on_edges():
    counties = reference.china_units(reference.china_children("140800"))
    polys = counties.geometry.to_numpy()
    grid = CellGrid(polys)
    minx, miny, maxx, maxy = shapely.total_bounds(polys)
    rng = np.random.default_rng(0)
    x = rng.uniform(minx - 0.1, maxx + 0.1, 30000)
    y = rng.uniform(miny - 0.1, maxy + 0.1, 30000)
    on_edges = shapely.get_coordinates(shapely.boundary(polys))[::37]
    x, y = np.concatenate([x, on_edges[:, 0]]), np.concatenate([y, on_edges[:, 1]])
    pts = shapely.points(x, y)
    shapely.prepare(polys)
    for predicate, test in (("intersects", shapely.intersects), ("contains", shapely.contains)):
        got = grid.locate(x, y, predicate=predicate)
        hit = np.array([test(polys, p) for p in pts])
        first = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)
        assert (got == first).all()
    assert (grid.cells(x, y) == -2).mean() < 0.1  # most points need no exact test


def test_assign_gives_each_point_its_county_like_sjoin():
    counties = reference.china_units(reference.china_children("140800"))
    minx, miny, maxx, maxy = counties.total_bounds
    rng = np.random.default_rng(1)
    pts = gpd.GeoDataFrame(geometry=shapely.points(rng.uniform(minx, maxx, 20000),
                                                   rng.uniform(miny, maxy, 20000)),
                           index=pd.RangeIndex(20000) + 500, crs="EPSG:4326")
    got = assign(pts.to_crs("EPSG:3857"), counties, column="adcode")
    joined = gpd.sjoin(pts, counties, predicate="intersects")
    expected = joined[~joined.index.duplicated()].adcode.reindex(pts.index)
    assert got.index.equals(pts.index)
    assert (got.isna() == expected.isna()).all()
    assert (got[got.notna()] == expected[got.notna()]).all()
    assert got.isna().any() and got.notna().any()


def test_assign_gives_overlapping_zones_to_the_first_listed():
    zones = gpd.GeoDataFrame({"name": ["big", "small"]}, geometry=[
        shapely.box(110, 34, 111, 35), shapely.box(110.2, 34.2, 110.4, 34.4)], crs="EPSG:4326")
    pts = gpd.GeoSeries(shapely.points([110.3, 110.6, 112], [34.3, 34.6, 34]), crs="EPSG:4326")
    assert assign(pts, zones, column="name").tolist() == ["big", "big", pd.NA]
    assert assign(pts, zones.iloc[::-1], column="name").tolist() == ["small", "big", pd.NA]


def test_dask_engine_gives_identical_results(all_plans, index):
    import dask

    geoms = np.concatenate([random_points(all_plans, 400, seed=21),
                            shapely.buffer(random_points(all_plans, 40, seed=22), 0.03)])
    sites = gpd.GeoDataFrame({"n": np.arange(len(geoms))}, geometry=geoms, crs="EPSG:4326")
    in_memory = query(sites, all_plans)
    with dask.config.set(scheduler="threads"):
        threaded = query(sites, all_plans, engine="dask", npartitions=5)
    assert_same(threaded, in_memory)
    counties = reference.china_units(reference.china_children("140000"))
    pts = sites[sites.geom_type == "Point"]
    with dask.config.set(scheduler="threads"):
        pd.testing.assert_series_equal(assign(pts, counties, column="adcode", engine="dask"),
                                       assign(pts, counties, column="adcode"))


def test_dask_engine_on_a_local_cluster_matches(mini_plan):
    import dask_geopandas
    from distributed import Client, LocalCluster

    extent = shapely.from_wkt(mini_plan.meta["extent_wkt"])
    minx, miny, maxx, maxy = extent.bounds
    rng = np.random.default_rng(5)
    sites = gpd.GeoDataFrame(geometry=shapely.points(rng.uniform(minx, maxx, 3000),
                                                     rng.uniform(miny, maxy, 3000)),
                             crs="EPSG:4326")
    expected = query(sites, mini_plan)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        lazy = query(dask_geopandas.from_geopandas(sites, npartitions=4), mini_plan)
        got = lazy.compute()
    assert_same(got, expected)


def test_cli_query_by_lon_lat_and_by_file(mini_plan, tmp_path, monkeypatch):
    runner = CliRunner()
    point, _ = reference.place(YONGJI_CITY)
    result = runner.invoke(app, ["query", "--lon", str(point.x), "--lat", str(point.y),
                                 "--plans", "cn-yongji-2035", "--out",
                                 str(tmp_path / "hits.csv")], env={"COLUMNS": "200"})
    if "does not validate" in result.output or "cn-yongji-2035" not in zoning.plan_ids():
        pytest.skip("cn-yongji-2035 is not encoded")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "hits.csv")
    expected = query_point(point.x, point.y, "cn-yongji-2035")
    assert list(table.feature_id) == list(expected.feature_id)
    # a site near (not on) the city's own point, in a projected CRS
    near = shapely.Point(point.x + 0.013, point.y - 0.007)
    sites = tmp_path / "sites.gpkg"
    gpd.GeoDataFrame({"name": ["site"]}, geometry=[near], crs="EPSG:4326").to_crs(
        "EPSG:32649").to_file(sites)
    result = runner.invoke(app, ["query", str(sites), "-p", "cn-yongji-2035", "-o",
                                 str(tmp_path / "hits.gpkg")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    back = gpd.read_file(tmp_path / "hits.gpkg")
    feats = zoning.load("cn-yongji-2035").features
    assert sorted(back.feature_id) == sorted(feats.feature_id[feats.intersects(near)])
    assert runner.invoke(app, ["query"]).exit_code == 2

"""Area tabulation, overlaps and indicator verification against independent computations."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from typer.testing import CliRunner

import zoning
from zoning.cli import app
from zoning.geometry import area_km2
from zoning.io import write_table
from zoning.stats import (AREA_UNITS_KM2, MIN_AREA_KM2, admin_units, overlap_matrix,
                          overlaps, tabulate, verify_indicators)

from conftest import plan_or_skip

GEOD = pyproj.Geod(ellps="WGS84")


def geodesic_km2(geom) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6 if not geom.is_empty else 0.0


def class_unions(features: gpd.GeoDataFrame) -> dict[str, shapely.Geometry]:
    polys = features[features.geom_type.isin(["Polygon", "MultiPolygon"])]
    return {c: shapely.union_all(g.geometry.values) for c, g in polys.groupby("zone_class")}


@pytest.mark.parametrize("plan_id", ["cn-yongji-2035", "ir-qom-1414", "vn-kontum-2030"])
def test_tabulation_equals_geopandas_overlay_of_dissolved_classes(plans, plan_id):
    plan = plan_or_skip(plans, plan_id)
    table = tabulate(plan)
    units = admin_units(plan)
    feats = plan.features[plan.features.geom_type.isin(["Polygon", "MultiPolygon"])]
    dissolved = feats.dissolve("zone_class").reset_index()[["zone_class", "geometry"]]
    pieces = gpd.overlay(units, dissolved, how="intersection", keep_geom_type=True)
    pieces["area_km2"] = area_km2(pieces)
    expected = pieces.groupby(["unit_id", "zone_class"]).area_km2.sum()
    got = table.set_index(["unit", "zone_class"]).area_km2
    assert (got > MIN_AREA_KM2).all()
    # pieces near the dust threshold may fall either side of it in either computation
    assert set(got[got > 1e-2].index) == set(expected[expected > 1e-2].index)
    expected = expected[expected > MIN_AREA_KM2]
    assert set(expected.index) <= set(got.index)
    assert got.loc[expected.index].to_numpy() == pytest.approx(expected.to_numpy(), rel=1e-6,
                                                                abs=1e-4)
    assert (table.share_of_unit <= 1 + 1e-6).all()


def test_slices_give_every_class_exactly_the_area_of_its_union(plans):
    """Thin sliver faces once got the wrong members (their interior point fell on an edge)."""
    from zoning.stats import slices_of

    for plan in plans.values():
        slices = slices_of([plan])
        areas = slices.table.area_km2.to_numpy()
        classes = slices.features.zone_class.to_numpy()
        for code, union in class_unions(plan.features).items():
            covering = [i for i in range(slices.n_slices)
                        if (classes[slices.members(i)] == code).any()]
            expected = area_km2(gpd.GeoSeries([union], crs="EPSG:4326"))[0]
            assert areas[covering].sum() == pytest.approx(expected, rel=1e-7, abs=1e-6), \
                (plan.plan_id, code)


def test_tabulation_by_user_polygons_in_any_crs_is_geodesically_right(mini_plan):
    extent = shapely.from_wkt(mini_plan.meta["extent_wkt"])
    minx, miny, maxx, maxy = extent.bounds
    midx = (minx + maxx) / 2
    boxes = gpd.GeoDataFrame({"name": ["west", "east"]}, geometry=[
        shapely.box(minx, miny, midx, maxy), shapely.box(midx, miny, maxx, maxy)],
        crs="EPSG:4326")
    table = tabulate(mini_plan, boxes.to_crs("EPSG:3857"), unit_column="name")
    unions = class_unions(mini_plan.features)
    for row in table.itertuples():
        box = boxes.set_index("name").geometry[row.unit]
        expected = geodesic_km2(shapely.intersection(unions[row.zone_class], box))
        assert row.area_km2 == pytest.approx(expected, rel=1e-3)
    # every class present in a box is tabulated
    for name, box in zip(boxes.name, boxes.geometry):
        present = {c for c, u in unions.items() if geodesic_km2(u.intersection(box)) > 1e-6}
        assert set(table.zone_class[table.unit == name]) == present


def test_overlapping_features_of_one_class_are_not_counted_twice(mini_plan):
    feats = mini_plan.features
    district = feats[feats.layer == "districts"].iloc[[0]]
    doubled = pd.concat([feats, district.assign(feature_id="copy/of/city")], ignore_index=True)
    doubled = gpd.GeoDataFrame(doubled, crs="EPSG:4326")
    units = gpd.GeoDataFrame({"unit_id": ["all"]},
                             geometry=[shapely.from_wkt(mini_plan.meta["extent_wkt"])],
                             crs="EPSG:4326")
    once = tabulate(mini_plan, units).set_index("zone_class").area_km2
    twice = tabulate(doubled, units).set_index("zone_class").area_km2
    assert twice["schematic_admin_unit"] == pytest.approx(once["schematic_admin_unit"], rel=1e-9)
    by_feature = tabulate(doubled, units, by="feature_id").set_index("feature_id").area_km2
    assert by_feature["copy/of/city"] == pytest.approx(
        by_feature["cn-test-mini/districts/city"], rel=1e-9)


def test_overlap_matrix_and_combinations_match_shapely(plans):
    plan = plan_or_skip(plans, "cn-yongji-2035")
    unions = class_unions(plan.features)
    classes = sorted(unions)[:4]
    matrix = overlap_matrix(plan, classes)
    assert list(matrix.index) == classes and list(matrix.columns) == classes
    assert np.allclose(matrix.to_numpy(), matrix.to_numpy().T)
    for a in classes:
        for b in classes:
            piece = unions[a] if a == b else shapely.intersection(unions[a], unions[b])
            assert matrix.loc[a, b] == pytest.approx(geodesic_km2(piece), rel=1e-3, abs=1e-3)
    combos = overlaps(plan, classes[:2]).set_index("combination").area_km2
    a, b = classes[:2]
    expected = {f"{a} & {b}": shapely.intersection(unions[a], unions[b]),
                a: shapely.difference(unions[a], unions[b]),
                b: shapely.difference(unions[b], unions[a])}
    for name, geom in expected.items():
        assert combos.get(name, 0.0) == pytest.approx(geodesic_km2(geom), rel=1e-3, abs=1e-3)


def test_admin_units_of_county_provincial_and_non_chinese_plans(plans):
    yongji = plan_or_skip(plans, "cn-yongji-2035")
    assert admin_units(yongji).unit_id.tolist() == ["CN:140881"]
    shanxi = plan_or_skip(plans, "cn-shanxi-2035")
    counties = admin_units(shanxi)
    assert len(counties) == len(zoning.reference.china_children("140000"))
    assert counties.unit_id.str.startswith("CN:14").all()
    qom = plan_or_skip(plans, "ir-qom-1414")
    units = admin_units(qom)
    own = qom.features[qom.features.zone_class.isin(["admin_unit", "schematic_admin_unit"])]
    assert sorted(units.unit_id) == sorted(own.feature_id)


def test_indicator_measures_convert_units_and_apply_comparators(mini_plan):
    district_area = area_km2(mini_plan["districts"]).sum()
    extent_km2 = mini_plan.meta["extent_area_km2"]
    districts = "area_km2:zone_class=schematic_admin_unit"
    rows = [
        ("area-km2", "km2", district_area * 1.01, ">=", districts),
        ("area-mu", "万亩", district_area / 6.6667, "~", districts),
        ("area-ha", "ha", 1.0, "<=", districts),
        ("area-pct", "%", 50.0, ">", districts),
        ("towns", "count", 1, "=", "count:zone_class=urban_centre"),
        ("none", "count", 3, ">=", "count:zone_class=nature_reserve"),
        ("words", "persons", 5, ">=", ""),
    ]
    table = pd.DataFrame([{"plan_id": "cn-test-mini", "indicator_id": i, "name": i, "name_en": i,
                           "unit": u, "base_value": None, "base_year": None, "target_value": t,
                           "target_year": 2035, "comparator": c, "nature": "binding",
                           "measure": m, "section": "", "lines": "1", "text": ""}
                          for i, u, t, c, m in rows])
    plan = replace(mini_plan, tables=MappingProxyType({**mini_plan.tables, "indicators": table}))
    out = verify_indicators(plan).set_index("indicator_id")
    union_km2 = geodesic_km2(shapely.union_all(mini_plan["districts"].geometry.values))
    assert out.measured["area-km2"] == pytest.approx(union_km2, rel=1e-3)
    assert out.meets["area-km2"] is False or out.meets["area-km2"] == False  # noqa: E712
    assert out.measured["area-mu"] == pytest.approx(union_km2 / (1e4 / 1500), rel=1e-3)
    assert bool(out.meets["area-mu"])
    assert out.measured["area-ha"] == pytest.approx(union_km2 * 100, rel=1e-3)
    assert out.difference["area-ha"] == pytest.approx(union_km2 * 100 - 1, rel=1e-3)
    assert out.measured["area-pct"] == pytest.approx(100 * union_km2 / extent_km2, rel=1e-3)
    assert out.measured["towns"] == 1 and bool(out.meets["towns"])
    assert out.basis["towns"] == "approximate" and out.basis["area-km2"] == "schematic"
    assert out.status["none"] == "no features of class nature_reserve"
    assert out.status["words"] == "no measure" and np.isnan(out.measured["words"])
    assert AREA_UNITS_KM2["万亩"] == pytest.approx(6.6667, rel=1e-4)


def test_real_indicators_with_a_measure_are_measured(plans):
    for plan in plans.values():
        table = verify_indicators(plan)
        measured = table[table.measure.astype(bool)]
        for row in measured.itertuples():
            code = row.measure.split("=", 1)[1]
            feats = plan.features[plan.features.zone_class == code]
            if feats.empty:
                assert row.status.startswith("no features")
            elif row.measure.startswith("count"):
                assert row.measured == len(feats)
            else:
                assert np.isfinite(row.measured) and row.measured > 0


def test_write_table_csv_and_geopackage_keep_other_tables(mini_plan, tmp_path):
    table = tabulate(mini_plan)
    write_table(table, tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv")
    assert back.area_km2.to_numpy() == pytest.approx(table.area_km2.to_numpy())
    gpkg = tmp_path / "t.gpkg"
    write_table(table, gpkg, layer="zone_area")
    write_table(verify_indicators(mini_plan), gpkg, layer="indicators")
    layers = dict(pyogrio.list_layers(gpkg))
    assert {"zone_area", "indicators"} <= set(layers)
    again = pyogrio.read_dataframe(gpkg, layer="zone_area")
    assert list(again.unit) == list(table.unit)
    with pytest.raises(zoning.ZoningError):
        write_table(table, tmp_path / "t.xlsx")


def test_cli_tabulate_and_indicators(plans, tmp_path):
    plan = plan_or_skip(plans, "cn-yongji-2035")
    runner = CliRunner()
    out = tmp_path / "yongji.gpkg"
    result = runner.invoke(app, ["tabulate", plan.plan_id, "-o", str(out)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    written = pyogrio.read_dataframe(out, layer="yongji")
    assert written.area_km2.sum() == pytest.approx(tabulate(plan).area_km2.sum())
    result = runner.invoke(app, ["indicators", plan.plan_id, "-o", str(tmp_path / "i.csv")],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "i.csv")) == len(plan.tables["indicators"])
    classes = ",".join(sorted(class_unions(plan.features))[:2])
    result = runner.invoke(app, ["tabulate", plan.plan_id, "--overlap", classes],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "&" in result.output


def test_tabulation_of_parcels_on_dask_is_identical(plans):
    import dask
    import dask_geopandas

    plan = plan_or_skip(plans, "cn-yongji-2035")
    extent = shapely.from_wkt(plan.meta["extent_wkt"])
    minx, miny, maxx, maxy = extent.bounds
    xs, ys = np.meshgrid(np.linspace(minx, maxx, 9)[:-1], np.linspace(miny, maxy, 9)[:-1])
    step = ((maxx - minx) / 8, (maxy - miny) / 8)
    parcels = gpd.GeoDataFrame(
        {"parcel": [f"p{i}" for i in range(xs.size)]},
        geometry=[shapely.box(x, y, x + step[0], y + step[1]) for x, y in zip(xs.ravel(),
                                                                               ys.ravel())],
        crs="EPSG:4326")
    expected = tabulate(plan, parcels, unit_column="parcel")
    with dask.config.set(scheduler="threads"):
        threaded = tabulate(plan, parcels, unit_column="parcel", engine="dask", npartitions=4)
        lazy = tabulate(plan, dask_geopandas.from_geopandas(parcels, npartitions=3),
                        unit_column="parcel")
        from_lazy = lazy.compute()
    pd.testing.assert_frame_equal(threaded, expected)
    resorted = from_lazy.sort_values(["unit", "plan_id", "area_km2"],
                                     ascending=[True, True, False]).reset_index(drop=True)
    pd.testing.assert_frame_equal(resorted, expected)
    # the parcels tile the extent's bounding box: per class, their areas add up to the class
    by_class = expected.groupby("zone_class").area_km2.sum()
    whole = tabulate(plan, gpd.GeoDataFrame({"unit_id": ["box"]},
                                            geometry=[shapely.box(minx, miny, maxx, maxy)],
                                            crs="EPSG:4326")).set_index("zone_class").area_km2
    assert by_class.to_numpy() == pytest.approx(whole[by_class.index].to_numpy(), rel=1e-6)

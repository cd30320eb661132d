"""A plan survives its GeoPackage: build → write_gpkg → read_gpkg gives back every table, every
layer and every metadata field of each of the five real plans."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pandas as pd
import pytest
import shapely

import zoning
from zoning.io import MEASURE_COLUMNS
from zoning.model import FEATURE_COLUMNS, PlanRecord

from conftest import plan_or_skip

PLAN_IDS = ["cn-shanxi-2035", "cn-yongji-2035", "ir-ardabil-1424", "ir-qom-1414",
            "vn-kontum-2030"]
#: Feature columns that hold numbers; the rest of FEATURE_COLUMNS are text.
NUMERIC_FEATURE_COLUMNS = {"accuracy_m", "stated_area_km2", "drawn_to_stated"}


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _same_cell(want, got, typed: bool) -> bool:
    """``want`` (in memory) and ``got`` (read back) hold the same value.

    A typed column (numbers, booleans) must come back typed and equal; every other column
    comes back as the text the GeoPackage stores (``str`` of the value, NULL for missing).
    """
    if _missing(want) or _missing(got):
        return _missing(want) and _missing(got)
    if typed:
        return isinstance(got, (bool, int, float, np.number, np.bool_)) and got == want
    return isinstance(got, str) and got == str(want)


def assert_same_frame(want: pd.DataFrame, got: pd.DataFrame, where: str,
                      typed: set[str] = frozenset()) -> None:
    # GDAL puts the geometry column last; the built layers have it before the measures
    assert ([c for c in got.columns if c != "geometry"]
            == [c for c in want.columns if c != "geometry"]), f"{where}: columns differ"
    assert len(got) == len(want), f"{where}: row count differs"
    for column in want.columns:
        if column == "geometry":
            continue
        if column in typed:
            kinds = "b" if want[column].dtype.kind == "b" else "fi"
            assert got[column].dtype.kind in kinds, f"{where}.{column}: {got[column].dtype}"
        bad = [(i, w, g) for i, (w, g) in enumerate(zip(want[column], got[column]))
               if not _same_cell(w, g, column in typed)]
        assert not bad, f"{where}.{column}: rows differ (row, built, read back): {bad[:3]}"


def assert_same_plan(plan, back, path) -> None:
    """Every metadata field, table and layer of ``plan`` is in ``back`` unchanged."""
    # metadata, field by field, with its type
    assert list(back.meta.keys()) == list(PlanRecord.model_fields) == list(plan.meta.keys())
    for name in PlanRecord.model_fields:
        want, got = getattr(plan.meta, name), getattr(back.meta, name)
        assert got == want and type(got) is type(want), f"meta.{name}: {want!r} → {got!r}"
    # the file itself has a plan column per field (not only a default filled in on reading)
    with sqlite3.connect(path) as con:
        stored = [row[1] for row in con.execute('pragma table_info("plan")')]
    assert stored == ["fid", *PlanRecord.model_fields]

    assert set(back.tables) == set(plan.tables)
    for name, table in plan.tables.items():
        assert_same_frame(table, back.tables[name], f"table {name}")

    assert list(back.layers) == list(plan.layers)
    for name, gdf in plan.layers.items():
        got = back.layers[name]
        assert got.crs == gdf.crs, f"layer {name}: CRS {got.crs} ≠ {gdf.crs}"
        assert got.geometry.name == "geometry"
        # write_gpkg stores the measures as REAL always, other columns as their dtype says
        typed = set(MEASURE_COLUMNS) | {c for c in gdf.columns
                                        if c != "geometry" and gdf[c].dtype.kind in "fib"}
        assert_same_frame(gdf, got, f"layer {name}", typed)
        for column in FEATURE_COLUMNS.keys() - NUMERIC_FEATURE_COLUMNS:
            assert got[column].dtype.kind in "OT" or str(got[column].dtype) == "str", \
                f"layer {name}.{column} came back as {got[column].dtype}"
        assert (got.geom_type.to_numpy() == gdf.geom_type.to_numpy()).all(), name
        same = shapely.equals_exact(got.geometry.to_numpy(), gdf.geometry.to_numpy(),
                                    tolerance=0)
        assert same.all(), f"layer {name}: geometry of rows {np.flatnonzero(~same)[:5]} differs"


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_plan_round_trips_through_its_geopackage(plans, plan_id, tmp_path):
    plan = plan_or_skip(plans, plan_id)
    path = zoning.write_gpkg(plan, tmp_path / f"{plan_id}.gpkg")
    back = zoning.read_gpkg(path)
    assert_same_plan(plan, back, path)
    # what query, consistency and export index: the plan area, usable as read back
    extent = shapely.from_wkt(back.meta["extent_wkt"])
    features = shapely.union_all(back.features.geometry.to_numpy())
    assert extent.area > 0 and extent.intersects(features)


def test_comparison_fails_on_a_dropped_column_or_a_changed_value(plans, tmp_path):
    """The comparison above is not blind: what a lossy writer would do is caught."""
    plan = plan_or_skip(plans, "ir-qom-1414")
    path = zoning.write_gpkg(plan, tmp_path / "qom.gpkg")
    back = zoning.read_gpkg(path)
    layer = next(iter(plan.layers))
    dropped = dict(back.layers, **{layer: back.layers[layer].drop(columns="source_text")})
    with pytest.raises(AssertionError, match="columns differ"):
        assert_same_plan(plan, back.__class__(back.meta, dropped, back.tables), path)
    rules = back.tables["rules"].copy()
    rules.loc[0, "text"] = rules.loc[0, "text"] + " "
    with pytest.raises(AssertionError, match="table rules.text"):
        assert_same_plan(plan, back.__class__(back.meta, back.layers,
                                              dict(back.tables, rules=rules)), path)
    moved = dict(back.layers, **{layer: back.layers[layer].translate(1e-9)})
    with pytest.raises(AssertionError, match="geometry"):
        assert_same_plan(plan, back.__class__(back.meta, moved, back.tables), path)


def test_a_plan_table_without_the_plan_area_is_reported(plans, tmp_path):
    """A GeoPackage whose plan table lacks a field (one written before extent_wkt was stored,
    or edited by hand) is refused with the field named, not read into a plan missing it."""
    plan = plan_or_skip(plans, "ir-qom-1414")
    path = zoning.write_gpkg(plan, tmp_path / "qom.gpkg")
    with sqlite3.connect(path) as con:
        con.execute('alter table "plan" drop column extent_wkt')
    with pytest.raises(zoning.PlanSpecError, match=r"plan\.extent_wkt: Field required"):
        zoning.read_gpkg(path)


def test_plan_record_reads_like_the_mapping_it_replaced(plans):
    plan = plan_or_skip(plans, "ir-qom-1414")
    meta = plan.meta
    assert dict(meta) == {name: getattr(meta, name) for name in PlanRecord.model_fields}
    assert {**meta, "plan_id": "ir-other"}["plan_id"] == "ir-other"
    assert meta.get("no_such_key", "x") == "x" and "extent_wkt" in meta
    with pytest.raises(KeyError):
        meta["no_such_key"]
    # a mapping given to Plan is validated into a record; a bad one names its fields
    assert zoning.Plan(dict(meta), plan.layers, plan.tables).meta == meta
    with pytest.raises(zoning.PlanSpecError, match=r"(?s)horizon_year.*extent_wkt"):
        zoning.Plan({**meta, "horizon_year": "soon", "extent_wkt": "POINT (1 2)"},
                    plan.layers, plan.tables)

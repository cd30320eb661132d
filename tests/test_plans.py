"""The five real plans: each validates, builds, and honours the model's promises."""

import pytest
import shapely

import zoning
from zoning.geometry import tiling_report
from zoning.model import FEATURE_COLUMNS, geometry_bases

EXPECTED_PLANS = ["cn-shanxi-2035", "cn-yongji-2035", "ir-ardabil-1424", "ir-qom-1414",
                  "vn-kontum-2030"]


def test_all_five_plans_are_present():
    assert zoning.plan_ids() == EXPECTED_PLANS


@pytest.mark.parametrize("plan_id", EXPECTED_PLANS)
def test_plan_builds_with_cited_valid_features(plan_id):
    plan = zoning.load(plan_id)
    feats = plan.features
    assert len(feats) > 0
    assert feats.feature_id.is_unique
    for col in ("source_text", "source_lines", "geometry_basis", "basis_detail", "name", "name_en"):
        assert feats[col].astype(str).str.strip().str.len().gt(0).all(), col
    assert feats.geometry_basis.isin(geometry_bases().index).all()
    assert feats.is_valid.all() and not feats.is_empty.any()
    assert list(plan.layers.values())[0].columns[:len(FEATURE_COLUMNS)].tolist() == list(FEATURE_COLUMNS)
    # every feature lies (essentially) within the plan area, or is a corridor / relation that
    # the text runs beyond it
    extent = shapely.from_wkt(plan.meta["extent_wkt"]).buffer(0.05)
    inside = feats.geometry.intersects(extent)
    assert inside.mean() > 0.9, feats.loc[~inside, "feature_id"].tolist()


@pytest.mark.parametrize("plan_id", EXPECTED_PLANS)
def test_tiling_layers_tile_their_area(plan_id):
    src = zoning.read_plan_source(plan_id)
    plan = zoning.load(plan_id)
    for name, spec in src.layers.items():
        if spec.family != "tiling":
            continue
        within = spec.tessellation.within if spec.tessellation else "plan_area"
        region = (shapely.from_wkt(plan.meta["extent_wkt"]) if within == "plan_area"
                  else plan.features.set_index("feature_id").geometry[f"{plan_id}/{within}"])
        report = tiling_report(plan[name], region)
        assert report["ok"], (name, report)

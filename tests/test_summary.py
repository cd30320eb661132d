"""Plan statistics: counts by layer/class/badge and targets vs measured values."""

import pytest

import zoning

from conftest import plan_or_skip
from zoning.summary import feature_counts, format_statistics, plan_statistics


def test_counts_add_up_to_every_feature(plans, mini_plan):
    for plan in [mini_plan, *plans.values()]:
        counts = feature_counts(plan)
        assert counts.features.sum() == sum(len(g) for g in plan.layers.values())
        assert (counts[list(zoning.model.badge_order())].sum(axis=1)
                == counts.features).all()
        for row in counts.itertuples():
            layer = plan.layers[row.layer]
            sel = layer[layer.zone_class == row.zone_class]
            if sel.area_km2.notna().any():
                assert row.area_km2 == pytest.approx(sel.area_km2.astype(float).sum(), abs=0.05)


def test_derived_shapes_inherit_the_least_certain_badge(plans):
    kontum = plan_or_skip(plans, "vn-kontum-2030")
    feats = kontum.features
    # unions of schematic Voronoi districts are schematic, not merely approximate
    derived_from_cells = feats[(feats.geometry_basis == "derived")
                               & feats.basis_detail.str.contains("districts/")]
    assert len(derived_from_cells) > 0
    assert (derived_from_cells.basis_badge == "schematic").all()


def test_statistics_report_measured_targets(plans):
    kontum = plan_or_skip(plans, "vn-kontum-2030")
    stats = plan_statistics(kontum)
    targets = stats["targets"].set_index("indicator_id")
    assert targets.at["industrial-parks", "measured"] == len(kontum["industrial_parks"]) == 4
    text = format_statistics(stats)
    assert text.startswith("vn-kontum-2030:") and "industrial-parks" in text
    assert stats["totals"].at[0, "features"] == len(kontum.features)

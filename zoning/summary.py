"""Plan statistics: what is encoded, and how each numeric target compares with the layers.

A reader should see at once which parts of a plan rest on authoritative geometry and which
are approximate, envelopes or schematic, and how far a measured value can be trusted.
"""

from __future__ import annotations

import pandas as pd

from .model import Plan, badge_order


def feature_counts(plan: Plan) -> pd.DataFrame:
    """Encoded features by layer and zone class, with their geometry-basis badges.

    Returns
    -------
    DataFrame
        One row per (layer, zone_class): ``features``, a count per badge, total
        ``area_km2`` (polygons, equal-area; overlapping features counted once each) and
        ``length_km`` (lines).

    Examples
    --------
    >>> counts = feature_counts(zoning.load("vn-kontum-2030"))
    >>> counts[["layer", "zone_class", "features"]].head(3)
                         layer                    zone_class  features
    0     construction_regions               planning_region        11
    1  development_orientation  development_orientation_area         4
    2       development_spaces                   growth_pole         3
    """
    frames = [g[["layer", "zone_class", "basis_badge", "area_km2", "length_km"]]
              for g in plan.layers.values() if len(g)]
    feats = pd.concat(frames, ignore_index=True)
    feats[["area_km2", "length_km"]] = feats[["area_km2", "length_km"]].apply(
        pd.to_numeric, errors="coerce")
    grouped = feats.groupby(["layer", "zone_class"], sort=True)
    out = grouped.size().rename("features").to_frame()
    badges = pd.crosstab([feats.layer, feats.zone_class], feats.basis_badge)
    for badge in badge_order():
        out[badge] = badges[badge] if badge in badges else 0
    out["area_km2"] = grouped.area_km2.sum(min_count=1).round(1)
    out["length_km"] = grouped.length_km.sum(min_count=1).round(1)
    out = out.reset_index()
    out.insert(0, "plan_id", plan.plan_id)
    out[list(badge_order())] = out[list(badge_order())].fillna(0).astype(int)
    return out


def plan_statistics(plan: Plan) -> dict[str, pd.DataFrame]:
    """Feature counts and the indicator verification of one plan.

    Returns
    -------
    dict
        ``features`` (:func:`feature_counts`), ``targets`` (every numeric target next to
        what the encoded layers measure, from :func:`zoning.stats.verify_indicators`) and
        ``totals`` (one row: counts of features, rules, statements, indicator rows and the
        share of features per badge).
    """
    from .stats import verify_indicators

    counts = feature_counts(plan)
    targets = verify_indicators(plan)
    n = int(counts.features.sum())
    totals = pd.DataFrame([{
        "plan_id": plan.plan_id, "layers": len(plan.layers), "features": n,
        **{f"{b}_share": round(counts[b].sum() / n, 3) if n else 0.0 for b in badge_order()},
        "rules": len(plan.tables["rules"]), "statements": len(plan.tables["statements"]),
        "indicator_rows": len(plan.tables["indicators"]),
        "indicators_measured": int(targets["measured"].notna().sum()) if len(targets) else 0,
    }])
    return {"totals": totals, "features": counts, "targets": targets}


def format_statistics(stats: dict[str, pd.DataFrame]) -> str:
    """Plain-text rendering for the CLI."""
    t = stats["totals"].iloc[0]
    lines = [f"{t.plan_id}: {t.features} features in {t.layers} layers — "
             f"{t.authoritative_share:.0%} authoritative, {t.approximate_share:.0%} approximate, "
             f"{t.envelope_share:.0%} envelope, "
             f"{t.schematic_share:.0%} schematic; {t.rules} rules, {t.statements} statements, "
             f"{t.indicator_rows} indicator rows ({t.indicators_measured} measurable from layers)",
             "", stats["features"].drop(columns="plan_id").to_string(index=False)]
    measured = stats["targets"]
    if len(measured):
        measured = measured[measured["measured"].notna()]
    if len(measured):
        cols = ["indicator_id", "unit", "target_value", "target_year", "measured", "difference",
                "basis", "status"]
        lines += ["", "Targets measurable from the encoded layers:",
                  measured[cols].to_string(index=False)]
    return "\n".join(lines)


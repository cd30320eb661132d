"""Cross-level consistency: where a lower-level plan's zones contradict a higher-level plan.

Which class pairs conflict is data (``layers/consistency_rules.csv``): e.g. a county's urban
development boundary must not overlap the province's ecological protection red line. The
check intersects the two plans' polygons, measures each overlap in the equal-area CRS and
attaches the higher plan's rules for the class that is overlapped.
"""

from __future__ import annotations

from functools import cache

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .geometry import area_km2
from .settings import settings
from .model import CRS, Plan, rule_matches

REPORT_COLUMNS = ["severity", "relation", "lower_feature_id", "lower_name", "lower_name_en",
                  "lower_class", "lower_basis", "upper_feature_id", "upper_name", "upper_name_en",
                  "upper_class", "upper_basis", "overlap_km2", "share_of_lower", "explanation",
                  "upper_rules"]
_SEVERITY_ORDER = {"conflict": 0, "review": 1, "info": 2}


@cache
def consistency_rules() -> pd.DataFrame:
    """The class pairs checked across levels (``layers/consistency_rules.csv``)."""
    return pd.read_csv(settings.layers_dir / "consistency_rules.csv", keep_default_na=False)


def _plan_area(plan: Plan) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"plan_id": [plan.plan_id], "feature_id": [f"{plan.plan_id}/plan_area"],
         "name": [plan.meta["title"]],
         "name_en": [plan.meta["title_en"]], "zone_class": ["plan_area"],
         "geometry_basis": ["plan_extent"]},
        geometry=[shapely.from_wkt(plan.meta["extent_wkt"])], crs=CRS)


def _polygons(plan: Plan, classes: set[str]) -> gpd.GeoDataFrame:
    feats = plan.features
    feats = feats[feats.zone_class.isin(classes)
                  & feats.geom_type.isin(["Polygon", "MultiPolygon"])]
    if "plan_area" in classes:
        feats = pd.concat([feats, _plan_area(plan)], ignore_index=True)
    return gpd.GeoDataFrame(feats.reset_index(drop=True), crs=CRS)


def _rules_text(plan: Plan, feature: pd.Series) -> str:
    """The plan's prohibiting and restricting rules that apply to ``feature``."""
    rules = plan.tables["rules"]
    if rules.empty:
        return ""
    hit = rules.iloc[rule_matches(feature.to_frame().T, rules).rule]
    hit = hit[hit.effect.isin(["prohibited", "restricted"])]
    return " | ".join(f"{r.rule_id} ({r.effect}, L{r.source_lines}): {r.text_en}"
                      for r in hit.itertuples())


def check_against(lower: Plan, upper: Plan, *, min_overlap_km2: float = 0.01
                  ) -> gpd.GeoDataFrame:
    """Report where ``lower``'s zones overlap or leave ``upper``'s as the rules forbid.

    Parameters
    ----------
    lower, upper : Plan
        E.g. a county plan and the provincial plan it must follow.
    min_overlap_km2 : float
        Overlaps smaller than this (slivers of approximate geometry) are not reported.

    Returns
    -------
    GeoDataFrame
        One row per finding (columns :data:`REPORT_COLUMNS`), geometry = the overlap (or, for
        ``must_be_within``, the part outside), sorted by severity then area.

    Examples
    --------
    >>> report = check_against(zoning.load("cn-yongji-2035"), zoning.load("cn-shanxi-2035"))
    >>> report.empty        # no Yongji zone contradicts a Shanxi zone it lies in
    True
    """
    rules = consistency_rules()
    lower_polys = _polygons(lower, set(rules.lower_class))
    upper_polys = _polygons(upper, set(rules.upper_class))
    rows, geoms = [], []
    pairs = rules.set_index(["lower_class", "upper_class"])
    if len(lower_polys) and len(upper_polys):
        tree = shapely.STRtree(upper_polys.geometry.values)
        li, ui = tree.query(lower_polys.geometry.values, predicate="intersects")
        lc = lower_polys.zone_class.to_numpy()[li]
        uc = upper_polys.zone_class.to_numpy()[ui]
        keep = np.array([(a, b) in pairs.index for a, b in zip(lc, uc)], dtype=bool)
        li, ui = li[keep], ui[keep]
        for i, j in zip(li, ui):
            lo, up = lower_polys.iloc[i], upper_polys.iloc[j]
            rule = pairs.loc[(lo.zone_class, up.zone_class)]
            if rule.relation == "must_not_overlap":
                piece = shapely.intersection(lo.geometry, up.geometry)
            else:
                piece = shapely.difference(lo.geometry, up.geometry)
            if piece.is_empty:
                continue
            rows.append((rule, lo, up))
            geoms.append(piece)
    # a lower plan entirely outside an upper plan's area is a conflict too
    if ("plan_area", "plan_area") in pairs.index:
        lo, up = _plan_area(lower).iloc[0], _plan_area(upper).iloc[0]
        if not lo.geometry.intersects(up.geometry):
            rows.append((pairs.loc[("plan_area", "plan_area")], lo, up))
            geoms.append(lo.geometry)
    if not rows:
        return gpd.GeoDataFrame(columns=REPORT_COLUMNS + ["geometry"], geometry="geometry",
                                crs=CRS)
    pieces = gpd.GeoSeries(geoms, crs=CRS)
    overlap = area_km2(pieces)
    lower_area = area_km2(gpd.GeoSeries([lo.geometry for _, lo, _ in rows], crs=CRS))
    records = [{
        "severity": rule.severity, "relation": rule.relation,
        "lower_feature_id": lo.feature_id, "lower_name": lo["name"], "lower_name_en": lo.name_en,
        "lower_class": lo.zone_class, "lower_basis": lo.geometry_basis,
        "upper_feature_id": up.feature_id, "upper_name": up["name"], "upper_name_en": up.name_en,
        "upper_class": up.zone_class, "upper_basis": up.geometry_basis,
        "overlap_km2": round(float(a), 4),
        "share_of_lower": round(float(a / la), 4) if la > 0 else np.nan,
        "explanation": rule.explanation,
        "upper_rules": _rules_text(upper, up),
    } for (rule, lo, up), a, la in zip(rows, overlap, lower_area)]
    report = gpd.GeoDataFrame(records, geometry=list(pieces), crs=CRS)
    report = report[report.overlap_km2 >= min_overlap_km2]
    order = report.severity.map(_SEVERITY_ORDER)
    return report.assign(_o=order).sort_values(["_o", "overlap_km2"], ascending=[True, False]
                                               ).drop(columns="_o").reset_index(drop=True)


def check_consistency(lower: Plan | str, against: Plan | str, *,
                      min_overlap_km2: float = 0.01) -> gpd.GeoDataFrame:
    """Cross-level consistency of a lower plan with the higher plan it must follow.

    The one entry point for the job the CLI calls ``zoning check-consistency``; plans are
    :class:`Plan` objects or plan ids. See :func:`check_against` for the report.

    Examples
    --------
    >>> report = check_consistency("cn-yongji-2035", against="cn-shanxi-2035")
    >>> set(report.severity) <= set(consistency_rules().severity)
    True
    """
    from .build import load

    lower = lower if isinstance(lower, Plan) else load(str(lower))
    against = against if isinstance(against, Plan) else load(str(against))
    return check_against(lower, against, min_overlap_km2=min_overlap_km2)


def format_report(report: gpd.GeoDataFrame, lower: Plan, upper: Plan) -> str:
    """Plain-text summary of :func:`check_against` for the CLI and notebooks."""
    head = f"{lower.plan_id} checked against {upper.plan_id}: "
    if report.empty:
        return head + "no conflicts found."
    counts = report.severity.value_counts()
    lines = [head + ", ".join(f"{counts[s]} {s}" for s in _SEVERITY_ORDER if s in counts)]
    from .model import geometry_bases

    bases = geometry_bases()
    loose = {"schematic": set(bases.index[bases.badge == "schematic"]),
             "envelope": set(bases.index[bases.badge == "envelope"])}
    for r in report.itertuples():
        pair = {r.lower_basis, r.upper_basis}
        flag = (" (rests on schematic geometry)" if pair & loose["schematic"] else
                " (rests on an envelope: the element covers only part of the drawn area)"
                if pair & loose["envelope"] else "")
        lines.append(f"- [{r.severity}] {r.lower_name_en} ({r.lower_class}) ∩ {r.upper_name_en} "
                     f"({r.upper_class}): {r.overlap_km2:.2f} km² = {r.share_of_lower:.1%} of the "
                     f"lower element{flag}. {r.explanation}.")
        if r.upper_rules:
            lines.append(f"    rules of {upper.plan_id}: {r.upper_rules}")
    return "\n".join(lines)

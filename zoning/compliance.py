"""Compliance check: the plans' rules turned into verdicts for proposed projects.

A project gets a verdict for every rule of every plan feature it touches whose activities
include the project's activity or a broader one (activities form a tree in
``layers/activities.csv``: a rule on *construction* judges a *housing* project; a rule on
``any`` judges every project): ``prohibited`` → *violation*, ``restricted`` and ``required`` →
*needs permit*, ``permitted`` and ``encouraged`` → *allowed*. A rule on a narrower activity
(*polluting industry* for an *industry* project) is reported too, with a ``condition`` ("if
the project is polluting industry"); it decides the project's summary verdict only when no
unconditional rule speaks. A project that no rule speaks to gets *unknown*, with the reason
(outside every plan, or no rule on that activity where it lies). Every verdict carries the
rule's words, its citation and the geometry basis of the feature, so a verdict resting on a
schematic shape says so.
"""

from __future__ import annotations

from functools import cache

import geopandas as gpd
import numpy as np
import pandas as pd

from ._errors import ZoningError
from .inputs import prepare
from .model import activities, activity_lineage
from .query import plan_index, site_hits

VERDICTS = ("violation", "needs permit", "allowed", "unknown")
#: Verdict for each rule effect.
EFFECT_VERDICT = {"prohibited": "violation", "restricted": "needs permit",
                  "required": "needs permit", "permitted": "allowed", "encouraged": "allowed"}
_BADGE_RANK = {"authoritative": 0, "approximate": 1, "schematic": 2}
VERDICT_COLUMNS = ("activity", "verdict", "condition", "plan_id", "rule_id", "effect",
                   "rule_activities", "reason", "text", "text_en", "citation", "feature_ids",
                   "feature_names", "zone_classes", "share", "basis_badge", "caveat")


def _activities_of(projects: gpd.GeoDataFrame, activity, column: str) -> np.ndarray:
    if activity is not None:
        acts = np.full(len(projects), str(activity), dtype=object)
    elif column in projects:
        acts = projects[column].astype(str).to_numpy(dtype=object)
    else:
        raise ZoningError(f"give activity= or an {column!r} column on the projects")
    known = set(activities().index)
    unknown = sorted(set(acts) - known)
    if unknown:
        raise ZoningError(f"unknown activit{'y' if len(unknown) == 1 else 'ies'} {unknown}; "
                          f"codes are in layers/activities.csv: {', '.join(sorted(known))}")
    return acts


def _caveat(badge: str, accuracy_m) -> str:
    if badge == "authoritative":
        return ""
    around = (f" (about ±{float(accuracy_m) / 1000:g} km)"
              if accuracy_m is not None and pd.notna(accuracy_m) else "")
    if badge == "schematic":
        return (f"rests on a schematic geometry{around}: the plan gives no boundary here; "
                "confirm against the official map")
    return f"rests on an approximate geometry{around}; confirm near its edge"


def comply(projects, activity: str | None = None, plans=None, *, crs=None,
           activity_column: str = "activity",
           summary: bool = False) -> pd.DataFrame | gpd.GeoDataFrame:
    """Verdicts of the plans' rules on proposed projects.

    Parameters
    ----------
    projects : GeoDataFrame, GeoSeries or shapely geometries
        Project sites (points, lines or polygons, any CRS; one without a CRS is an error).
    activity : str, optional
        Activity code from ``layers/activities.csv`` (``industry``, ``mining`` …) for every
        project; without it each project's ``activity_column`` is used.
    plans : None, str, Plan or iterable of them
        Plans whose rules apply (default: every plan that validates).
    summary : bool
        Return one row per project (its worst verdict) instead of one per (project, rule).

    Returns
    -------
    DataFrame or GeoDataFrame
        Long form, indexed by the project's index: :data:`VERDICT_COLUMNS` — the verdict, the
        rule (plan, id, effect, original text, English text, citation), the features that
        carry it and the share of the project inside them, the least certain geometry basis
        among them and a caveat when that basis is not authoritative. Summary form: one row
        per project with ``verdict``, counts per verdict, the reasons and the geometry.

    Examples
    --------
    >>> v = zoning.comply(projects, activity="industry")                   # doctest: +SKIP
    >>> v[v.verdict == "violation"][["rule_id", "reason", "citation"]]      # doctest: +SKIP
    """
    sites = prepare(projects, crs=crs, what="projects")
    acts = _activities_of(sites, activity, activity_column)
    index = plan_index(plans)
    site_pos, feat_pos, _, measures = site_hits(sites, index)
    cover = index.cover(np.asarray(sites.geometry.values, dtype=object))[site_pos]
    applying = index.pair_rules(cover, feat_pos)
    pairs = pd.DataFrame({"site": site_pos[applying.row.to_numpy(dtype=np.int64)],
                          "feature": feat_pos[applying.row.to_numpy(dtype=np.int64)],
                          "share": measures["share"][applying.row.to_numpy(dtype=np.int64)],
                          "rule": applying.rule.to_numpy(dtype=np.int64)})
    rule_acts = index.rules.activities.fillna("").to_numpy()
    matches = [_match(a, r) for a, r in zip(acts[pairs.site.to_numpy()],
                                            rule_acts[pairs.rule.to_numpy()])]
    pairs["condition"] = [m[0] if m else "" for m in matches]
    pairs["subject"] = [m[1] if m else "" for m in matches]
    applies = np.array([m is not None for m in matches], dtype=bool)
    judged = _judge(pairs[applies], index, acts)
    unjudged = np.setdiff1d(np.arange(len(sites)), judged.site.to_numpy())
    long = pd.concat([judged, _unknown(unjudged, site_pos, feat_pos, index, acts)],
                     ignore_index=True)
    long["condition"] = long.condition.fillna("")
    long["rank"] = long.verdict.map({v: i for i, v in enumerate(VERDICTS)})
    long["conditional"] = long.condition != ""
    long = long.sort_values(["site", "conditional", "rank", "plan_id", "rule_id"],
                            kind="stable")
    if summary:
        return _summarise(long, sites, acts)
    site_index = sites.index[long.site.to_numpy()]
    long = long.reindex(columns=list(VERDICT_COLUMNS)).set_axis(site_index, axis=0)
    long.index.name = sites.index.name or "project"
    return long


@cache
def _match(activity: str, rule_activities: str) -> tuple[str, str] | None:
    """Whether a rule on ``rule_activities`` (``;``-joined) judges a project of ``activity``.

    ``(condition, subject)``: the condition is ``""`` when the rule judges the project
    outright (it names the activity, a broader one or ``any``) and "if the project is …"
    when it names only narrower activities (for a project of activity ``any`` — not yet
    decided — every specific rule is such a condition); the subject names the activity the
    verdict speaks of (``housing (as construction)``). ``None`` when the rule does not apply.
    """
    named = set(rule_activities.split(";")) - {""}
    lineage = activity_lineage()
    broader = [code for code in lineage[activity] if code in named]   # most specific first
    if broader:
        label = _label(activity)
        return "", label if broader[0] == activity else f"{label} (as {_label(broader[0])})"
    narrower = sorted(code for code in named if activity in lineage.get(code, ()))
    if narrower:
        which = " or ".join(_label(c) for c in narrower)
        return f"if the project is {which}", which
    return None


def _label(code: str) -> str:
    return code.replace("_", " ")


def _judge(pairs: pd.DataFrame, index, acts: np.ndarray) -> pd.DataFrame:
    """One verdict row per (site, rule) from (site, feature, share, rule) pairs."""
    if pairs.empty:
        return pd.DataFrame(columns=["site", *VERDICT_COLUMNS])
    feats = index.features
    take = pairs.feature.to_numpy()
    badge = feats.basis_badge.to_numpy()[take]
    rows = pairs.assign(
        feature_id=feats.feature_id.to_numpy()[take], name=feats.name.astype(str).to_numpy()[take],
        name_en=feats.name_en.astype(str).to_numpy()[take],
        zone_class=feats.zone_class.to_numpy()[take], badge=badge,
        badge_rank=pd.Series(badge).map(_BADGE_RANK).fillna(1).to_numpy(),
        accuracy_m=pd.to_numeric(feats.accuracy_m, errors="coerce").to_numpy()[take])
    unique = lambda s: ";".join(dict.fromkeys(s))  # noqa: E731
    grouped = rows.groupby(["site", "rule"], sort=True)
    out = grouped.agg(feature_ids=("feature_id", ";".join), feature_names=("name", ";".join),
                      where=("name_en", lambda s: ", ".join(dict.fromkeys(s))),
                      zone_classes=("zone_class", unique), share=("share", "max"))
    # the least certain geometry among the features carrying the rule, and its accuracy
    least = rows.sort_values("badge_rank", ascending=False, kind="stable").groupby(
        ["site", "rule"], sort=True).first()
    out["basis_badge"] = least.badge
    out["caveat"] = [_caveat(b, a) for b, a in zip(least.badge, least.accuracy_m)]
    out = out.reset_index()
    rule = index.rules.iloc[out.rule.to_numpy()].reset_index(drop=True)
    out["activity"] = acts[out.site.to_numpy()]
    out["verdict"] = rule.effect.map(EFFECT_VERDICT).to_numpy()
    for col in ("plan_id", "rule_id", "effect", "text", "text_en"):
        out[col] = rule[col].to_numpy()
    out["rule_activities"] = rule.activities.to_numpy()
    first = pairs.groupby(["site", "rule"], sort=True)[["condition", "subject"]].first()
    out["condition"] = first.condition.to_numpy()
    out["reason"] = (np.where(out.condition != "", out.condition + ": ", "")
                     + first.subject.to_numpy() + " is " + out.effect + " in " + out["where"]
                     + ": " + out.text_en.astype(str))
    out["citation"] = (rule.plan_id + ": " + rule.source_section.astype(str) + ", lines "
                       + rule.source_lines.astype(str)).to_numpy()
    return out[["site", *VERDICT_COLUMNS]]


def _unknown(sites: np.ndarray, site_pos: np.ndarray, feat_pos: np.ndarray, index,
             acts: np.ndarray) -> pd.DataFrame:
    """An *unknown* row for each site no rule speaks to, saying why."""
    feats = index.features
    touched = pd.DataFrame({"site": site_pos, "feature": feat_pos})
    touched = touched[touched.site.isin(sites)]
    plans = feats.plan_id.to_numpy()[touched.feature.to_numpy()]
    classes = feats.zone_class.to_numpy()[touched.feature.to_numpy()]
    where = touched.assign(plan=plans, zone_class=classes).groupby("site").agg(
        plans=("plan", lambda s: ", ".join(dict.fromkeys(s))),
        classes=("zone_class", lambda s: ", ".join(dict.fromkeys(s))))
    reasons = [f"no rule of {where.plans[s]} on {acts[s]} in the zones here "
               f"({where.classes[s]})" if s in where.index else "outside every loaded plan"
               for s in sites]
    return pd.DataFrame({"site": sites, "activity": acts[sites], "verdict": "unknown",
                         "reason": reasons}).reindex(columns=["site", *VERDICT_COLUMNS])


def _summarise(long: pd.DataFrame, sites: gpd.GeoDataFrame, acts: np.ndarray
               ) -> gpd.GeoDataFrame:
    """One row per project (positional ``site`` in ``long``): its worst verdict and counts.

    Only unconditional rules decide the verdict; a project that only conditional rules speak
    to is *unknown*, with those rules' conditions as its reasons and counted in
    ``n_conditional``.
    """
    n = len(sites)
    conditional = long.conditional.to_numpy()
    firm = long[~conditional]
    counts = pd.crosstab(firm.site, firm.verdict).reindex(
        index=range(n), columns=list(VERDICTS), fill_value=0)
    # rows are sorted worst first: the first firm row decides
    worst = firm.groupby("site").verdict.first().reindex(range(n)).fillna("unknown")
    top = firm[firm.verdict.to_numpy() == worst.to_numpy()[firm.site.to_numpy()]]
    only_conditional = long[conditional & ~long.site.isin(firm.site).to_numpy()]
    joined = pd.concat([top, only_conditional]).groupby("site").agg(
        reasons=("reason", " | ".join), rule_ids=("rule_id", lambda s: ";".join(s.dropna())),
        caveats=("caveat", lambda s: " | ".join(dict.fromkeys(c for c in s.dropna() if c))))
    joined = joined.reindex(range(n))
    counts.loc[only_conditional.site.unique(), "unknown"] = 1
    n_conditional = long[conditional].groupby("site").size().reindex(range(n), fill_value=0)
    return gpd.GeoDataFrame({
        "activity": acts, "verdict": worst.to_numpy(),
        **{f"n_{v.replace(' ', '_')}": counts[v].to_numpy() for v in VERDICTS},
        "n_conditional": n_conditional.to_numpy(),
        "rule_ids": joined.rule_ids.to_numpy(), "reasons": joined.reasons.to_numpy(),
        "caveats": joined.caveats.fillna("").to_numpy(),
    }, geometry=sites.geometry.to_numpy(), index=sites.index, crs=sites.crs)


def check(*args, **kwargs):
    """Deprecated name of :func:`comply` (``zoning.check`` read like the consistency check).

    Kept for one release; use ``zoning.comply``.
    """
    import warnings

    warnings.warn("zoning.check is deprecated and will be removed in the next release; "
                  "use zoning.comply (compliance) or zoning.check_consistency (two plans)",
                  DeprecationWarning, stacklevel=2)
    return comply(*args, **kwargs)

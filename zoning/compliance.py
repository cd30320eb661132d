"""Compliance check: the plans' rules turned into verdicts for proposed projects.

A project gets a verdict for every rule of every plan feature it touches whose activities
include the project's activity or a broader one (activities form a tree in
``layers/activities.csv``: a rule on *construction* judges a *housing* project; a rule on
``any`` judges every project). A rule on a narrower activity (*polluting industry* for an
*industry* project), or one aimed at a kind of land or object inside the zone (Class-I forest
land, a water source …, the rule's ``applies_if``), is reported with a ``condition`` and
decides the summary verdict only when no unconditional rule speaks.

**The verdict ladder** follows how sure the governing shape is (its ``basis_badge``):

* ``prohibited`` on a *footprint* (authoritative or approximate) that holds the site by more
  than the shape's accuracy → ``violation``;
* ``prohibited`` on a footprint whose edge is within its accuracy of the site →
  ``near boundary``;
* ``prohibited`` on an *envelope* (an area the element mainly lies within) or a *schematic*
  stand-in → ``possible conflict`` — check against the official delineation (with the reason
  and, where the plan states it, the element's real size);
* ``restricted`` / ``required`` → ``needs permit``; ``permitted`` / ``encouraged`` → ``allowed``.

**Jurisdiction:** a feature binds only inside its own plan's area. A rule carried by a feature
of a plan whose area does not hold the site is reported as ``context`` (``in_plan_area`` is
False) and never decides a verdict; a site inside no plan's area gets ``no plan applies``.

The work is vectorised: sites with the same features, shape certainty, activity and plan
areas (every point of one slice, say) are judged once, and sites are processed in chunks so
memory stays bounded.
"""

from __future__ import annotations

from functools import cache

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import InvalidArgumentError
from .inputs import prepare
from .model import FOOTPRINT_BADGES, activities, activity_lineage, badge_order
from .query import plan_index, site_hits

#: Verdicts from worst to best; ``context`` rows (rules of a plan whose area does not hold the
#: site) never enter a summary.
VERDICTS = ("violation", "near boundary", "possible conflict", "needs permit", "allowed",
            "unknown", "no plan applies")
CONTEXT = "context"
#: Verdict for each rule effect on a footprint that holds the site firmly (see the ladder).
EFFECT_VERDICT = {"prohibited": "violation", "restricted": "needs permit",
                  "required": "needs permit", "permitted": "allowed", "encouraged": "allowed"}
#: Certainty level of a (site, feature) pair: firmly inside a footprint, within a footprint's
#: accuracy of its edge, or on an envelope / schematic shape.
FIRM, NEAR, LOOSE = 0, 1, 2
_LADDER = {FIRM: "violation", NEAR: "near boundary", LOOSE: "possible conflict"}
VERDICT_COLUMNS = ("activity", "verdict", "condition", "in_plan_area", "plan_id", "rule_id",
                   "effect", "rule_activities", "reason", "text", "text_en", "citation",
                   "feature_ids", "feature_names", "zone_classes", "share", "basis_badge",
                   "stated_area_km2", "caveat")
#: Sites per chunk: bounds memory on millions of sites.
CHUNK = 250_000
#: A point in a grid cell that a boundary crosses takes the slice of the face holding it only
#: when it lies farther than this (degrees, about 1 m) from every face edge and every line or
#: point feature; a closer point is located against the features themselves. The faces'
#: edges are the features' edges noded, which moves them by many orders of magnitude less.
EDGE_MARGIN_DEG = 1e-5


def _activities_of(projects: gpd.GeoDataFrame, activity, column: str) -> np.ndarray:
    if activity is not None:
        acts = np.full(len(projects), str(activity), dtype=object)
    elif column in projects:
        acts = projects[column].astype(str).to_numpy(dtype=object)
    else:
        raise InvalidArgumentError(f"give activity= or an {column!r} column on the projects")
    known = set(activities().index)
    unknown = sorted(set(pd.unique(acts)) - known)
    if unknown:
        raise InvalidArgumentError(f"unknown activit{'y' if len(unknown) == 1 else 'ies'} "
                                   f"{unknown}; codes are in layers/activities.csv: "
                                   f"{', '.join(sorted(known))}")
    return acts


def _km(metres) -> str:
    return f"{float(metres) / 1000:g} km"


def _caveat(badge: str, accuracy_m, level: int, stated_km2, ratio) -> str:
    """Why a verdict is as sure as it is, from the governing shape's badge and the level."""
    has_acc = accuracy_m is not None and pd.notna(accuracy_m) and float(accuracy_m) > 0
    around = f" (about ±{_km(accuracy_m)})" if has_acc else ""
    if badge == "envelope":
        size = ""
        if stated_km2 is not None and pd.notna(stated_km2):
            size = f"; the plan states its real size as {float(stated_km2):,.0f} km²"
            if ratio is not None and pd.notna(ratio):
                size += f", the drawn area is {float(ratio):.1f}× that"
        return ("the shape is an envelope: the element mainly lies within it but covers only "
                f"part of it{size}; check against the official delineation")
    if badge == "schematic":
        return (f"rests on a schematic geometry{around}: the plan gives no boundary here; "
                "check against the official delineation")
    if level == NEAR:
        return (f"the site is within the shape's accuracy{around} of its edge; check against "
                "the official delineation")
    if badge == "authoritative":
        return ""
    return f"rests on an approximate geometry{around}; the site is inside it by more than that"


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


def comply(projects, activity: str | None = None, plans=None, *, crs=None,
           activity_column: str = "activity", summary: bool = False,
           chunk_size: int = CHUNK) -> pd.DataFrame | gpd.GeoDataFrame:
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
    chunk_size : int
        Sites judged at a time (memory bound).

    Returns
    -------
    DataFrame or GeoDataFrame
        Long form, indexed by the project's index: :data:`VERDICT_COLUMNS` — the verdict on
        the ladder (see the module), the condition if any, whether the site lies in the rule's
        plan area, the rule (plan, id, effect, original text, English text, citation), the
        features that carry it and the share of the project inside them, the basis badge of
        the governing shape, the element's stated real size where the plan gives one, and a
        caveat. Summary form: one row per project with ``verdict``, counts per verdict, the
        reasons and the geometry.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> projects = gpd.GeoSeries([shapely.Point(110.45, 34.87).buffer(0.01)], crs="EPSG:4326")
    >>> v = zoning.comply(projects, activity="industry", plans="cn-yongji-2035")
    >>> v.groupby("verdict").size().to_dict()
    {'allowed': 1, 'needs permit': 5}
    """
    sites = prepare(projects, crs=crs, what="projects")
    acts = _activities_of(sites, activity, activity_column)
    index = plan_index(plans)
    chunk_size = max(int(chunk_size), 1)
    act_code, act_values = pd.factorize(acts)
    # Depth inside a footprint changes a verdict only where some rule speaks to one of the
    # activities there: other footprints need no point-in-polygon test.
    speaks = _relevant(index, tuple(act_values)).any(axis=0)
    judged = _Judged(summary)
    groups, parts = [], []
    for start in range(0, max(len(sites), 1), chunk_size):
        chunk = sites.iloc[start:start + chunk_size]
        group = _judge_chunk(chunk, acts[start:start + chunk_size],
                             act_code[start:start + chunk_size], index, judged, speaks)
        if summary:
            groups.append(group)
        else:
            parts.append(_long_form(judged.expand(group), chunk))
        if not len(sites):
            break
    if not summary:
        return pd.concat(parts) if len(parts) > 1 else parts[0]
    # one summary per group of alike sites, taken for every site of the group
    out = judged.summaries().take(np.concatenate(groups))
    out.index = sites.index
    out["geometry"] = sites.geometry.to_numpy()
    return gpd.GeoDataFrame(out, geometry="geometry", crs=sites.crs, copy=False)


class _Judged:
    """Verdicts of the groups of alike sites judged so far, kept across chunks.

    Points of one slice, activity, plan areas and depth inside each footprint (one
    *pre-group*) get the same verdict rows wherever they are, so a pre-group already judged in
    an earlier chunk is not judged again: over Shanxi's bounding box every chunk of 250,000
    uniform points meets mostly the same few thousand pre-groups.
    """

    def __init__(self, summary: bool):
        self.summary = summary
        self.n = 0                       # groups so far
        self.known: dict[str, dict[bytes, int]] = {"pre": {}, "exact": {}}
        self.parts: list[pd.DataFrame] = []
        self._long = None

    def lookup(self, kind: str, keys: np.ndarray) -> np.ndarray:
        """Group of each key (rows of ``keys``) of a kind, -1 where not judged yet."""
        known = self.known[kind]
        return np.fromiter((known.get(k.tobytes(), -1) for k in keys), dtype=np.int64,
                           count=len(keys))

    def remember(self, kind: str, keys: np.ndarray, groups: np.ndarray) -> None:
        self.known[kind].update(zip((k.tobytes() for k in keys), groups.tolist()))

    def add(self, long: pd.DataFrame, acts: np.ndarray) -> np.ndarray:
        """Take the verdict rows of newly judged groups (``long.site`` numbering them from 0,
        ``acts`` their activities); returns their group numbers."""
        groups = np.arange(self.n, self.n + len(acts))
        if self.summary:
            table = _summarise(long, len(acts), acts)
            # Arrow-backed text columns copy every string on take; object columns copy
            # pointers (2.4 s → 0.1 s for a million sites).
            self.parts.append(table.astype({c: object for c in table.columns
                                            if pd.api.types.is_string_dtype(table[c])}))
        else:
            self.parts.append(long.assign(site=long.site.to_numpy(dtype=np.int64) + self.n))
            self._long = None
        self.n += len(acts)
        return groups

    def summaries(self) -> pd.DataFrame:
        """One summary row per group, in group order."""
        return pd.concat(self.parts, ignore_index=True) if len(self.parts) > 1 else self.parts[0]

    def expand(self, group: np.ndarray) -> pd.DataFrame:
        """The rows of each site's group, for sites of the given groups (positional ``site``)."""
        if self._long is None:
            long = pd.concat(self.parts, ignore_index=True) if len(self.parts) > 1 \
                else self.parts[0]
            # stable: the rows of one group keep their order (the verdict order)
            order = np.argsort(long.site.to_numpy(dtype=np.int64), kind="stable")
            self._long = long.iloc[order].reset_index(drop=True)
        long = self._long
        counts = np.bincount(long.site.to_numpy(dtype=np.int64), minlength=self.n)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        per_site = counts[group]
        take = (np.repeat(starts[group] - np.cumsum(per_site) + per_site, per_site)
                + np.arange(per_site.sum()))
        out = long.take(take).reset_index(drop=True)
        out["site"] = np.repeat(np.arange(len(group)), per_site)
        return out


def _long_form(long: pd.DataFrame, sites: gpd.GeoDataFrame) -> pd.DataFrame:
    site_index = sites.index[long.site.to_numpy()]
    out = long.reindex(columns=list(VERDICT_COLUMNS)).set_axis(site_index, axis=0)
    out["in_plan_area"] = out.in_plan_area.fillna(False).astype(bool)
    for col in ("share", "stated_area_km2"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    # text columns as object columns, like the summary's, whichever way their rows were put
    # together (pandas gives a column built from several pieces either dtype)
    text = [c for c in out.columns if c not in ("in_plan_area", "share", "stated_area_km2")]
    out = out.astype(dict.fromkeys(text, object))
    out.index.name = sites.index.name or "project"
    return out


# --------------------------------------------------------------------------- the work


def _mix(values: np.ndarray, seed: int) -> np.ndarray:
    """A 64-bit mix (splitmix64) of integer codes: an order-free per-site sum of these is a
    signature of the site's set of (feature, level) pairs."""
    z = (values.astype(np.uint64) + np.uint64(seed)) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _levels(index, geoms: np.ndarray, site_pos: np.ndarray, feat_pos: np.ndarray) -> np.ndarray:
    """Certainty level of each (site, feature) pair (:data:`FIRM`, :data:`NEAR`, :data:`LOOSE`).

    A footprint polygon holds a site firmly when the site reaches its interior shrunk by the
    shape's accuracy; a footprint line or point can only be *near*. Envelopes and schematic
    shapes are loose.
    """
    footprint, inner = _footprints(index)
    level = np.full(len(feat_pos), LOOSE, dtype=np.int8)
    fp = footprint[feat_pos]
    level[fp] = NEAR
    test = np.flatnonzero(fp & ~shapely.is_missing(inner[feat_pos]))
    if len(test):
        hit = shapely.intersects(inner[feat_pos[test]], geoms[site_pos[test]])
        level[test[hit]] = FIRM
    return level


def _footprints(index) -> tuple[np.ndarray, np.ndarray]:
    """Per feature of the index: whether it is a footprint, and (for footprint polygons) the
    polygon shrunk by its accuracy (cached on the index)."""
    cached = index.__dict__.get("_compliance_footprints")
    if cached is not None:
        return cached
    from .geometry import buffer_km

    feats = index.features
    footprint = feats.basis_badge.isin(FOOTPRINT_BADGES).to_numpy()
    geoms = index.slices.geometries
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
    accuracy = pd.to_numeric(feats.accuracy_m, errors="coerce").fillna(0).to_numpy()
    inner = np.full(len(feats), None, dtype=object)
    for i in np.flatnonzero(footprint & polygonal):
        g = geoms[i] if accuracy[i] <= 0 else buffer_km(geoms[i], -accuracy[i] / 1000)
        inner[i] = None if g is None or g.is_empty else g
    shapely.prepare(inner[~shapely.is_missing(inner)])
    index.__dict__["_compliance_footprints"] = (footprint, inner)
    return footprint, inner


def _relevant(index, acts: tuple[str, ...]) -> np.ndarray:
    """``[activity, feature]``: whether any rule that could reach the feature (its own plan's,
    or another plan's naming its zone class) speaks to the activity, outright or as a
    condition. A superset of the rules that apply at a given site, so grouping sites by
    their relevant features never merges sites judged differently."""
    cache = index.__dict__.setdefault("_compliance_relevant", {})
    missing = [a for a in acts if a not in cache]
    if missing:
        rules = index.rules
        feats = index.features
        own = index.matches
        cls = index.class_rules[["rule", "zone_class"]].merge(
            pd.DataFrame({"feature": np.arange(len(feats)),
                          "zone_class": feats.zone_class.to_numpy()}), on="zone_class")
        pairs = pd.concat([own[["feature", "rule"]], cls[["feature", "rule"]]])
        rule_acts = rules.activities.fillna("").to_numpy(dtype=object)
        for a in missing:
            speaks = np.array([_match(a, r) is not None for r in rule_acts], dtype=bool)
            out = np.zeros(len(feats), dtype=bool)
            out[pairs.feature.to_numpy()[speaks[pairs.rule.to_numpy()]]] = True
            cache[a] = out
    return np.vstack([cache[a] for a in acts]) if acts else np.zeros((0, len(index.features)),
                                                                     dtype=bool)


def _judge_chunk(sites: gpd.GeoDataFrame, acts: np.ndarray, act_code: np.ndarray, index,
                 judged: _Judged, speaks: np.ndarray) -> np.ndarray:
    """The group (in ``judged``) of each site of one chunk, judging the groups not seen yet.

    Points are grouped first without locating them one by one: the cell grid of the slices
    gives the slice of most points (one set of features), so points of one slice, activity
    and plan areas — and the same depth inside each footprint there — are judged once. Only
    their representatives, and the points in cells a boundary crosses, are located exactly.
    """
    pre = _pregroup_points(index, np.asarray(sites.geometry.values, dtype=object), act_code,
                           speaks)
    if pre is None:
        return _judge_exact(sites, acts, act_code, index, judged)
    pre_of, pre_reps, keys, alone = pre
    group = judged.lookup("pre", keys)
    todo = np.flatnonzero(group < 0)
    if len(todo):
        sub = pre_reps[todo]
        group[todo] = _judge_exact(sites.iloc[sub], acts[sub], act_code[sub], index, judged)
        # a point left on its own is keyed by its place in the chunk: not remembered
        shared = todo[~alone[todo]]
        judged.remember("pre", keys[shared], group[shared])
    return group[pre_of]


def _group_rows(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(group of each row, first row of each group)`` of an integer array, rows equal in
    every column forming a group; groups are numbered in order of their first row (as a
    pandas groupby with ``sort=False`` would, without its per-column factorising)."""
    if not len(key):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.lexsort(key.T[::-1])                      # stable: a run starts at its first row
    ordered = key[order]
    differs = np.r_[True, (ordered[1:] != ordered[:-1]).any(axis=1)]
    starts = np.flatnonzero(differs)
    by_first = np.argsort(order[starts])
    number = np.empty(len(starts), dtype=np.int64)
    number[by_first] = np.arange(len(starts))
    group = np.empty(len(key), dtype=np.int64)
    group[order] = number[np.cumsum(differs) - 1]
    return group, order[starts][by_first]


def _pregroup_points(index, geoms: np.ndarray, act_code: np.ndarray, speaks: np.ndarray):
    """``(pre-group of each site, representative of each pre-group, key of each pre-group,
    whether the pre-group is a point left on its own)`` for a chunk of points, or None when
    the chunk holds other geometries.

    A key is the row (slice, or -1 outside every slice, or -3 - position for a point left on
    its own; activity code; plan areas; two 64-bit signatures of the footprint depths).
    Only points in cells the grid proves to lie inside one slice (or outside all) are
    grouped: a point in a cell a boundary crosses is left on its own and located exactly
    against the features themselves. (The slices' faces are the noded boundaries, which can
    differ from the features' own edges in the last bits: a point a hair's breadth from an
    edge can be in a face and not in the feature, so faces never decide a verdict.)
    """
    n = len(geoms)
    if n < 2 or not (shapely.get_type_id(geoms) == 0).all():
        return None
    x, y = shapely.get_x(geoms), shapely.get_y(geoms)
    scode = index.slices.grid.cells(x, y)
    # plan areas: most points from the extents' grid, the rest exactly
    ext = index.extents
    ecode = ext.grid.cells(x, y)
    cover = np.zeros(n, dtype=np.int64)
    ok = ecode >= 0
    cover[ok] = _extent_bits(index)[ecode[ok]]
    exact = np.flatnonzero(ecode == -2)
    if len(exact):
        cover[exact] = index.cover(geoms[exact])
    sig1 = np.zeros(n, dtype=np.uint64)
    sig2 = np.zeros(n, dtype=np.uint64)
    _add_footprint_depth(index, np.flatnonzero(scode >= 0), scode, speaks, x, y, sig1, sig2)
    bnd = np.flatnonzero(scode == -2)
    if len(bnd):
        scode = scode.copy()
        scode[bnd] = _place_off_edges(index, geoms[bnd], x[bnd], y[bnd])
        # near a boundary: the depth inside each footprint is always tested
        _add_footprint_depth(index, bnd[scode[bnd] >= 0], scode, speaks, x, y, sig1, sig2,
                             off_boundary=False)
    where = np.where(scode >= -1, scode, -3 - np.arange(n))
    key = np.stack([where, act_code.astype(np.int64), cover, sig1.view(np.int64),
                    sig2.view(np.int64)], axis=1)
    group, reps = _group_rows(key)
    return group, reps, key[reps], where[reps] < -1


def _place_off_edges(index, pts: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Slice of each point (in cells a boundary crosses) that lies inside one face farther
    than :data:`EDGE_MARGIN_DEG` from its edges, -1 for a point that far from every face,
    -2 for the rest (and for points that near a line or point feature).

    Faces do not overlap, so no other face edge is within the margin of such a point either:
    no feature edge passes within it, and the features holding it are those holding the
    face's interior — the slice's members. Points closer to an edge are located exactly
    against the features, never by the faces.
    """
    slices = index.slices
    faces, edges = _face_edges(index)
    margin = EDGE_MARGIN_DEG
    pi, fi = slices.face_tree.query(pts)
    inside = shapely.intersects_xy(faces[fi], x[pi], y[pi])
    n_inside = np.bincount(pi[inside], minlength=len(x))
    face_of = np.zeros(len(x), dtype=np.int64)
    face_of[pi[inside]] = fi[inside]
    doubtful = n_inside > 1
    # in one face: only that face's edges (holes included) can come near
    one = np.flatnonzero(n_inside == 1)
    doubtful[one] = shapely.dwithin(edges[face_of[one]], pts[one], margin)
    # in none: no face may come near (faces whose box is near, then their prepared edges)
    out = np.flatnonzero(n_inside == 0)
    oi, of = slices.face_tree.query(shapely.box(x[out] - margin, y[out] - margin,
                                                x[out] + margin, y[out] + margin))
    close = shapely.dwithin(edges[of], pts[out[oi]], margin)
    doubtful[out[oi[close]]] = True
    lines = _non_polygons(index)
    if lines is not None:
        lp, _ = lines[0].query(pts, predicate="dwithin", distance=margin)
        doubtful[lp] = True
    return np.where(doubtful, -2, np.where(n_inside == 1, slices.face_slice[face_of], -1))


def _face_edges(index) -> tuple[np.ndarray, np.ndarray]:
    """The slices' faces and their edges, prepared (cached on the index)."""
    if "_compliance_face_edges" not in index.__dict__:
        faces = index.slices.faces
        edges = shapely.boundary(faces)
        shapely.prepare(faces)
        shapely.prepare(edges)
        index.__dict__["_compliance_face_edges"] = (faces, edges)
    return index.__dict__["_compliance_face_edges"]


def _non_polygons(index):
    """(STRtree, pieces) of the index's line and point features, or None (cached).

    The pieces are the lines' single segments and the single points: a segment's bounding
    box is tight where a long line's is not (over Shanxi a whole-line tree sent ~8 candidate
    lines per boundary-cell point to the distance test, the segment tree well under one).
    """
    if "_compliance_lines" not in index.__dict__:
        geoms = index.slices.geometries
        pick = ~np.isin(shapely.get_type_id(geoms), (3, 6)) & ~shapely.is_missing(geoms)
        parts = shapely.get_parts(geoms[pick])
        linear = np.isin(shapely.get_type_id(parts), (1, 2))
        xy, part = shapely.get_coordinates(parts[linear], return_index=True)
        same = part[1:] == part[:-1]
        start, end = xy[:-1][same], xy[1:][same]
        degenerate = (start == end).all(axis=1)
        pieces = np.concatenate([
            shapely.linestrings(np.stack([start[~degenerate], end[~degenerate]], axis=1)),
            shapely.points(start[degenerate]),
            parts[~linear]])
        index.__dict__["_compliance_lines"] = ((shapely.STRtree(pieces), pieces) if len(pieces)
                                               else None)
    return index.__dict__["_compliance_lines"]


def _extent_bits(index) -> np.ndarray:
    """Plan-area bits of each slice of the plans' extents (cached on the index)."""
    if "_compliance_extent_bits" not in index.__dict__:
        ext = index.extents
        index.__dict__["_compliance_extent_bits"] = np.array(
            [np.bitwise_or.reduce(np.left_shift(1, ext.members(i)).astype(np.int64))
             if len(ext.members(i)) else 0 for i in range(ext.n_slices)], dtype=np.int64)
    return index.__dict__["_compliance_extent_bits"]


def _add_footprint_depth(index, placed: np.ndarray, scode: np.ndarray, speaks: np.ndarray,
                         x: np.ndarray, y: np.ndarray, sig1: np.ndarray, sig2: np.ndarray,
                         off_boundary: bool = True) -> None:
    """Add to each placed point's signature whether it is firmly inside (:data:`FIRM`) or near
    the edge of (:data:`NEAR`) each footprint polygon of its slice that a rule on one of the
    call's activities (``speaks``) makes matter.

    With ``off_boundary`` the points lie in cells the grid does not mark as boundary cells:
    no boundary is in such a cell or its eight neighbours, so its points lie at least one
    cell width from every edge — firmly inside each footprint whose accuracy is less than
    that. A point whose slice has only such footprints takes the slice's precomputed
    signature; the others (and every point without ``off_boundary``) are tested against the
    footprints shrunk by their accuracy.
    """
    if not len(placed):
        return
    slices = index.slices
    footprint, inner = _footprints(index)
    has_inner = footprint & ~shapely.is_missing(inner) & speaks
    accuracy = pd.to_numeric(index.features.accuracy_m, errors="coerce").fillna(0).to_numpy()
    # per slice: the signature of being firmly inside all its footprints, and their largest
    # accuracy
    member_slice = np.repeat(np.arange(slices.n_slices), np.diff(slices.member_ptr))
    counted = has_inner[slices.member_idx]
    member_slice, members = member_slice[counted], slices.member_idx[counted]
    code = members.astype(np.int64) * 4 + FIRM
    firm1 = np.zeros(slices.n_slices, dtype=np.uint64)
    firm2 = np.zeros(slices.n_slices, dtype=np.uint64)
    np.add.at(firm1, member_slice, _mix(code, 1))
    np.add.at(firm2, member_slice, _mix(code, 2))
    widest = np.zeros(slices.n_slices)
    np.maximum.at(widest, member_slice, accuracy[members])
    sl = scode[placed]
    sure = widest[sl] * 1.05 < _cell_width_m(slices.cell, y[placed])
    if not off_boundary:
        sure[:] = False
    sig1[placed[sure]] += firm1[sl[sure]]
    sig2[placed[sure]] += firm2[sl[sure]]
    placed, sl = placed[~sure], sl[~sure]
    if not len(placed):
        return
    counts = slices.member_ptr[sl + 1] - slices.member_ptr[sl]
    pts = np.repeat(placed, counts)
    offsets = np.repeat(slices.member_ptr[sl] - np.cumsum(counts) + counts, counts)
    feats = slices.member_idx[np.arange(counts.sum()) + offsets]
    keep = has_inner[feats]
    pts, feats = pts[keep], feats[keep]
    firm = (accuracy[feats] * 1.05 < _cell_width_m(slices.cell, y[pts]) if off_boundary
            else np.zeros(len(pts), dtype=bool))
    test = np.flatnonzero(~firm)
    firm[test] = shapely.intersects_xy(inner[feats[test]], x[pts[test]], y[pts[test]])
    code = feats.astype(np.int64) * 4 + np.where(firm, FIRM, NEAR)
    np.add.at(sig1, pts, _mix(code, 1))
    np.add.at(sig2, pts, _mix(code, 2))


def _cell_width_m(cell_deg: float, lat: np.ndarray) -> np.ndarray:
    """A lower bound of a grid cell's width and height in metres at each latitude (a degree
    of latitude is at least 110,574 m; of longitude at least 111,320 m × cos(latitude))."""
    return cell_deg * np.minimum(110_574.0, 111_320.0 * np.cos(np.radians(np.abs(lat))))


def _judge_exact(sites: gpd.GeoDataFrame, acts: np.ndarray, act_code: np.ndarray, index,
                 judged: _Judged) -> np.ndarray:
    """The group (in ``judged``) of each site, every site located exactly; groups not seen
    yet are judged."""
    n = len(sites)
    geoms = np.asarray(sites.geometry.values, dtype=object)
    site_pos, feat_pos, _, measures = site_hits(sites, index)
    share = measures["share"]
    cover = index.cover(geoms) if n else np.zeros(0, dtype=np.int64)
    level = _levels(index, geoms, site_pos, feat_pos)
    # Sites with the same (feature, level) pairs, activity and plan areas get the same rows:
    # judge one representative of each. Non-point sites carry their own shares, so only
    # points are grouped.
    # Only features that carry some rule on the site's activity shape its verdict rows by
    # their level; every feature counts by its presence, since a site that no binding rule
    # speaks to is described by all its zones (its *unknown* reason).
    local_act, act_values = pd.factorize(acts)
    relevant = _relevant(index, tuple(act_values))[local_act[site_pos], feat_pos]
    code = feat_pos.astype(np.int64) * 4 + np.where(relevant, level, 3)
    sig1 = np.zeros(n, dtype=np.uint64)
    sig2 = np.zeros(n, dtype=np.uint64)
    np.add.at(sig1, site_pos, _mix(code, 1))
    np.add.at(sig2, site_pos, _mix(code, 2))
    is_point = shapely.get_type_id(geoms) == 0
    own = np.where(is_point, -1, np.arange(n))
    key = np.stack([own, act_code.astype(np.int64), cover, sig1.view(np.int64),
                    sig2.view(np.int64)], axis=1)
    rep_of, reps = _group_rows(key)
    group = judged.lookup("exact", key[reps])
    new = np.flatnonzero(group < 0)
    if len(new):
        is_new = np.zeros(n, dtype=bool)
        is_new[reps[new]] = True
        keep = is_new[site_pos]
        long = _judge_sites(reps[new], site_pos[keep], feat_pos[keep], share[keep], level[keep],
                            cover, acts, index)
        local = np.full(n, -1, dtype=np.int64)
        local[reps[new]] = np.arange(len(new))
        group[new] = judged.add(long.assign(site=local[long.site.to_numpy(dtype=np.int64)]),
                                acts[reps[new]])
        # a site that is not a point is keyed by its place in the chunk: not remembered
        shared = new[is_point[reps[new]]]
        judged.remember("exact", key[reps[shared]], group[shared])
    return group[rep_of]


def _judge_sites(reps, site_pos, feat_pos, share, level, cover, acts, index
                 ) -> pd.DataFrame:
    """Verdict rows for the representative sites (positional ``site``), sorted worst first."""
    applying = index.pair_rules(cover[site_pos], feat_pos)
    row = applying.row.to_numpy(dtype=np.int64)
    rule = applying.rule.to_numpy(dtype=np.int64)
    rules = index.rules
    rule_acts = rules.activities.fillna("").to_numpy(dtype=object)
    applies_if = (rules["applies_if"].fillna("").to_numpy(dtype=object) if "applies_if" in rules
                  else np.full(len(rules), "", dtype=object))
    pairs = pd.DataFrame({"site": site_pos[row], "feature": feat_pos[row], "share": share[row],
                          "level": level[row], "rule": rule})
    # activity match, once per distinct (activity, rule activities)
    combo = pd.Series(acts[pairs.site.to_numpy()]) + "|" + rule_acts[rule]
    codes, uniques = pd.factorize(combo)
    matched = [_match(*u.split("|", 1)) for u in uniques]
    ok = np.array([m is not None for m in matched], dtype=bool)
    cond = np.array([m[0] if m else "" for m in matched], dtype=object)
    subj = np.array([m[1] if m else "" for m in matched], dtype=object)
    sel = ok[codes] if len(codes) else np.zeros(0, dtype=bool)
    pairs = pairs[sel].reset_index(drop=True)
    codes = codes[sel]
    pairs["condition"] = cond[codes] if len(codes) else np.zeros(0, dtype=object)
    pairs["subject"] = subj[codes] if len(codes) else np.zeros(0, dtype=object)
    scope = applies_if[pairs.rule.to_numpy()]
    scoped = scope != ""
    if scoped.any():
        c = pairs.condition.to_numpy(dtype=object).copy()
        c[scoped] = np.where(c[scoped] != "", c[scoped] + " and ", "if ") + \
            "the site is " + scope[scoped]
        pairs["condition"] = c
    plan_bit = index.feature_bits
    pairs["in_area"] = (cover[pairs.site.to_numpy()] & plan_bit[pairs.feature.to_numpy()]) != 0
    judged = _aggregate(pairs, index, acts)
    spoken = np.zeros(len(cover), dtype=bool)
    firm_sites = judged.site[judged.verdict != CONTEXT].to_numpy(dtype=np.int64)
    spoken[firm_sites] = True
    silent = reps[~spoken[reps]]
    long = pd.concat([judged, _unknown(silent, site_pos, feat_pos, cover, index, acts)],
                     ignore_index=True)
    long["site"] = long.site.astype(np.int64)
    long["condition"] = long.condition.fillna("")
    rank = {v: i for i, v in enumerate(VERDICTS)}
    rank[CONTEXT] = len(VERDICTS)
    long["rank"] = long.verdict.map(rank)
    long["conditional"] = long.condition != ""
    return long.sort_values(["site", "conditional", "rank", "plan_id", "rule_id"],
                            kind="stable").reset_index(drop=True)


def _aggregate(pairs: pd.DataFrame, index, acts: np.ndarray) -> pd.DataFrame:
    """One verdict row per (site, rule, in plan area) from (site, feature, rule) pairs."""
    if pairs.empty:
        return pd.DataFrame(columns=["site", *VERDICT_COLUMNS])
    feats = index.features
    take = pairs.feature.to_numpy()
    order = badge_order()
    badge = feats.basis_badge.to_numpy()[take]
    rows = pairs.assign(
        feature_id=feats.feature_id.to_numpy()[take],
        name=feats.name.astype(str).to_numpy()[take],
        name_en=feats.name_en.astype(str).to_numpy()[take],
        zone_class=feats.zone_class.to_numpy()[take], badge=badge,
        # the governing shape: the surest level, then the most certain badge
        key=pairs.level.to_numpy().astype(np.int64) * 16 + pd.Series(badge).map(
            {b: i for i, b in enumerate(order)}).fillna(len(order)).to_numpy().astype(np.int64),
        accuracy_m=pd.to_numeric(feats.accuracy_m, errors="coerce").to_numpy()[take],
        stated=(pd.to_numeric(feats["stated_area_km2"], errors="coerce").to_numpy()[take]
                if "stated_area_km2" in feats else np.full(len(take), np.nan)),
        ratio=(pd.to_numeric(feats["drawn_to_stated"], errors="coerce").to_numpy()[take]
               if "drawn_to_stated" in feats else np.full(len(take), np.nan)))
    rows = rows.sort_values(["site", "rule", "in_area", "key", "feature"], kind="stable")
    by = ["site", "rule", "in_area"]
    keys = rows[by].to_numpy(dtype=np.int64)
    new_group = np.ones(len(rows), dtype=bool)
    new_group[1:] = (keys[1:] != keys[:-1]).any(axis=1)
    starts = np.flatnonzero(new_group)
    # the first row of each group is its governing shape (surest level, most certain badge)
    out = rows.iloc[starts][by + ["level", "badge", "accuracy_m", "stated", "ratio",
                                  "condition", "subject"]].reset_index(drop=True)
    out["share"] = np.maximum.reduceat(rows.share.to_numpy(dtype=float), starts)
    for col, src, sep in (("feature_ids", "feature_id", ";"), ("feature_names", "name", ";"),
                          ("where", "name_en", ", "), ("zone_classes", "zone_class", ";")):
        out[col] = _join_groups(rows[src].to_numpy(dtype=object), starts, sep)
    out["zone_classes"] = _unique_parts(out.zone_classes.to_numpy(dtype=object), ";")
    out["where"] = _unique_parts(out["where"].to_numpy(dtype=object), ", ")
    rule = index.rules.iloc[out.rule.to_numpy()].reset_index(drop=True)
    out["activity"] = acts[out.site.to_numpy()]
    effect = rule.effect.to_numpy(dtype=object)
    verdict = pd.Series(effect).map(EFFECT_VERDICT).to_numpy(dtype=object)
    prohibited = effect == "prohibited"
    verdict[prohibited] = pd.Series(out.level.to_numpy()[prohibited]).map(_LADDER).to_numpy()
    in_area = out.in_area.to_numpy(dtype=bool)
    verdict[~in_area] = CONTEXT
    out["verdict"] = verdict
    out["in_plan_area"] = in_area
    for col in ("plan_id", "rule_id", "effect", "text", "text_en"):
        out[col] = rule[col].to_numpy()
    out["rule_activities"] = rule.activities.to_numpy()
    out["basis_badge"] = out.badge
    out["stated_area_km2"] = out.stated
    out["caveat"] = [_caveat(b, a, lv, s, r) for b, a, lv, s, r in zip(
        out.badge, out.accuracy_m, out.level, out.stated, out.ratio)]
    lead = np.where(out.condition != "", out.condition + ": ", "")
    tail = np.select([out.verdict == "near boundary", out.verdict == "possible conflict",
                      out.verdict == CONTEXT],
                     [" — near the edge of the shape: check against the official delineation",
                      " — possible conflict: check against the official delineation",
                      " — context only: the site is outside this plan's area"], "")
    out["reason"] = (lead + out.subject + " is " + out.effect + " in " + out["where"] + ": "
                     + out.text_en.astype(str) + tail)
    out["citation"] = (rule.plan_id + ": " + rule.source_section.astype(str) + ", lines "
                       + rule.source_lines.astype(str)).to_numpy()
    return out[["site", *VERDICT_COLUMNS]]


def _join_groups(values: np.ndarray, starts: np.ndarray, sep: str) -> np.ndarray:
    """``sep``-joined strings of consecutive groups starting at ``starts`` (one C loop)."""
    if not len(values):
        return np.zeros(0, dtype=object)
    lead = np.asarray(sep + pd.Series(values).astype(str), dtype=object)
    joined = np.add.reduceat(lead, starts)
    return np.asarray(pd.Series(joined).str.slice(len(sep)), dtype=object)


def _unique_parts(values: np.ndarray, sep: str) -> np.ndarray:
    """Each joined string with repeated parts dropped (first kept), computed once per
    distinct string."""
    codes, uniques = pd.factorize(values)
    done = np.array([sep.join(dict.fromkeys(u.split(sep))) for u in uniques], dtype=object)
    return done[codes] if len(codes) else np.zeros(0, dtype=object)


def _unknown(sites: np.ndarray, site_pos: np.ndarray, feat_pos: np.ndarray, cover: np.ndarray,
             index, acts: np.ndarray) -> pd.DataFrame:
    """A row for each site no binding rule speaks to: *unknown* inside a plan's area (saying
    which zones lie there), *no plan applies* outside every plan's area."""
    feats = index.features
    plan_bit = index.feature_bits
    touched = pd.DataFrame({"site": site_pos, "feature": feat_pos})
    touched = touched[np.isin(touched.site.to_numpy(), sites)
                      & ((cover[touched.site.to_numpy()] & plan_bit[touched.feature.to_numpy()])
                         != 0)]
    f = touched.feature.to_numpy()
    where = touched.assign(plan=feats.plan_id.to_numpy()[f],
                           zone_class=feats.zone_class.to_numpy()[f]).groupby("site").agg(
        plans=("plan", lambda s: ", ".join(dict.fromkeys(s))),
        classes=("zone_class", lambda s: ", ".join(dict.fromkeys(s))))
    names = {bit: p.plan_id for p, bit in ((p, index.plan_bit[p.plan_id]) for p in index.plans)}
    verdicts, reasons = [], []
    for s in sites:
        if cover[s] == 0:
            verdicts.append("no plan applies")
            reasons.append("no plan applies: the site lies outside the area of every loaded "
                           "plan")
        elif s in where.index:
            verdicts.append("unknown")
            reasons.append(f"no rule of {where.plans[s]} on {acts[s]} in the zones here "
                           f"({where.classes[s]})")
        else:
            inside = ", ".join(pid for bit, pid in names.items() if cover[s] & bit)
            verdicts.append("unknown")
            reasons.append(f"inside the area of {inside} but in none of its zones")
    return pd.DataFrame({"site": sites, "activity": acts[sites], "verdict": verdicts,
                         "in_plan_area": cover[sites] != 0, "reason": reasons}
                        ).reindex(columns=["site", *VERDICT_COLUMNS])


def _summarise(long: pd.DataFrame, n: int, acts: np.ndarray) -> pd.DataFrame:
    """One row per site (positional ``site`` in ``long``, ``n`` sites): its worst verdict
    and counts.

    Only unconditional rules of a plan whose area holds the site decide the verdict; a
    project that only conditional rules speak to is *unknown*, with those rules' conditions
    as its reasons and counted in ``n_conditional``; ``context`` rows are left out. A site
    outside every plan's area is *no plan applies*.
    """
    long = long[long.verdict.to_numpy() != CONTEXT]
    sites = long.site.to_numpy(dtype=np.int64)
    conditional = long.conditional.to_numpy(dtype=bool)
    firm = long[~conditional]
    fs = sites[~conditional]
    vcode = pd.Categorical(firm.verdict, categories=list(VERDICTS)).codes.astype(np.int64)
    counts = np.zeros((n, len(VERDICTS)), dtype=np.int64)
    np.add.at(counts, (fs, vcode), 1)
    worst_code = np.full(n, len(VERDICTS), dtype=np.int64)
    np.minimum.at(worst_code, fs, vcode)
    has_firm = worst_code < len(VERDICTS)
    worst_code[~has_firm] = VERDICTS.index("unknown")
    top = firm[vcode == worst_code[fs]]
    only_conditional = long[conditional & ~has_firm[sites]]
    spoken = pd.concat([top, only_conditional])
    at = spoken.site.to_numpy(dtype=np.int64)
    counts[only_conditional.site.unique(), VERDICTS.index("unknown")] = 1
    return pd.DataFrame({
        "activity": acts, "verdict": np.asarray(VERDICTS, dtype=object)[worst_code],
        **{f"n_{v.replace(' ', '_')}": counts[:, i] for i, v in enumerate(VERDICTS)},
        "n_conditional": np.bincount(sites[conditional], minlength=n),
        "rule_ids": _joined_per_site(at, spoken.rule_id.to_numpy(dtype=object), n, ";"),
        "reasons": _joined_per_site(at, spoken.reason.to_numpy(dtype=object), n, " | "),
        "caveats": pd.Series(_joined_per_site(at, spoken.caveat.to_numpy(dtype=object), n,
                                              " | ", distinct=True)).fillna("").to_numpy(),
    })


def _joined_per_site(site: np.ndarray, values: np.ndarray, n: int, sep: str,
                     distinct: bool = False) -> np.ndarray:
    """For each of ``n`` sites, the ``sep``-joined values of its rows in row order (missing
    values left out; with ``distinct`` also empty strings and repeats), NaN for a site with no
    rows — a vectorised ``groupby(site).agg(sep.join)``."""
    order = np.argsort(site, kind="stable")
    site, values = site[order], values[order]
    out = np.full(n, np.nan, dtype=object)
    out[site] = ""
    keep = pd.notna(values)
    site, values = site[keep], values[keep]
    if distinct:
        keep = (values != "") & ~pd.DataFrame({"site": site, "value": values}
                                               ).duplicated().to_numpy()
        site, values = site[keep], values[keep]
    if len(site):
        starts = np.flatnonzero(np.r_[True, site[1:] != site[:-1]])
        out[site[starts]] = _join_groups(values, starts, sep)
    return out


def check(*args, **kwargs):
    """Deprecated name of :func:`comply` (``zoning.check`` read like the consistency check).

    Kept for one release; use ``zoning.comply``.
    """
    import warnings

    warnings.warn("zoning.check is deprecated and will be removed in the next release; "
                  "use zoning.comply (compliance) or zoning.check_consistency (two plans)",
                  DeprecationWarning, stacklevel=2)
    return comply(*args, **kwargs)

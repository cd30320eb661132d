"""Site queries — "what applies here?" across every loaded plan.

:func:`query` returns one row per (site, plan feature it touches) with the feature's plan,
layer, class, names and regulation, the rules that apply there (prohibited / restricted /
permitted / encouraged / required activities, with citations), the overlap measured in the
equal-area CRS, and the geometry basis of the hit, so a planner sees when an answer rests on
a schematic shape. Points are located through the plans' slices (:mod:`zoning.slices`);
lines and polygons are intersected with the features themselves.

:func:`assign` is the bulk form for points and a zone layer (parcels → counties): one label per
point, through a :class:`~zoning.slices.CellGrid`.
"""

from __future__ import annotations

import hashlib
import math
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from geopandas.array import from_shapely

from ._errors import GeometryInputError, InvalidArgumentError, PlanSpecError
from .geometry import area_km2, length_km
from .inputs import prepare
from .model import CRS, RULE_EFFECTS, Plan, rule_classes, rule_matches
from .slices import CellGrid, Slices, build_slices

#: Columns of a query result, after the site index and before the geometry.
QUERY_COLUMNS = (
    "plan_id", "layer", "feature_id", "name", "name_en", "zone_class", "zone_class_label",
    "regulation", "in_plan_area", "overlap_km2", "overlap_km", "share", "geometry_basis", "basis_badge",
    "accuracy_m", "prohibited", "restricted", "permitted", "encouraged", "required",
    "rule_ids", "rule_citations", "source_section", "source_lines", "lifecycle",
)
_FEATURE_COLUMNS = ("plan_id", "layer", "feature_id", "name", "name_en", "zone_class",
                    "zone_class_label", "regulation", "geometry_basis", "basis_badge",
                    "accuracy_m", "source_section", "source_lines", "lifecycle")


class SkippedPlanWarning(UserWarning):
    """A plan under ``layers/`` does not validate and was left out of a query."""


_INVALID: set[tuple] = set()


def resolve_plans(plans=None) -> list[Plan]:
    """Turn ``plans`` into a list of built plans.

    Parameters
    ----------
    plans : None, str, Plan or iterable of them
        ``None`` means every plan under ``layers/`` that validates (a plan that does not is
        skipped with a :class:`SkippedPlanWarning`); ids are loaded with :func:`zoning.load`.

    Examples
    --------
    >>> [p.plan_id for p in resolve_plans(["cn-yongji-2035"])]
    ['cn-yongji-2035']
    """
    from .build import load
    from .model import plan_ids

    if plans is None:
        from .cache import fingerprint

        out = []
        for pid in plan_ids():
            stamp = (pid, fingerprint(pid))
            if stamp in _INVALID:
                continue
            try:
                out.append(load(pid))
            except PlanSpecError as exc:
                # Remember the failure until the plan's files change, and say so once.
                _INVALID.add(stamp)
                warnings.warn(f"plan {pid} does not validate and is left out "
                              f"({len(exc.problems)} problem(s); run `zoning validate {pid}`)",
                              SkippedPlanWarning, stacklevel=3)
        return out
    if isinstance(plans, (str, Plan)):
        plans = [plans]
    out = [p if isinstance(p, Plan) else load(str(p)) for p in plans]
    if not out:
        raise InvalidArgumentError("no plans to query")
    return out


def _rule_columns(pair_rules: pd.DataFrame, rules: pd.DataFrame, n: int) -> dict:
    """The rule summary columns of a query for ``n`` rows, from (row, rule, cross) triples."""
    columns = {c: np.full(n, "", dtype=object) for c in (*RULE_EFFECTS, "rule_ids",
                                                          "rule_citations")}
    if not len(pair_rules):
        return columns
    m = pair_rules.join(rules, on="rule")
    acts = m.assign(activity=m.activities.fillna("").str.split(";")).explode("activity")
    acts = acts[acts.activity != ""].drop_duplicates(["row", "effect", "activity"])
    for (row, effect), joined in acts.groupby(["row", "effect"], sort=False).activity.agg(
            ";".join).items():
        columns[effect][row] = joined
    # A rule of another plan than the feature's is named with its plan.
    qualified = np.where(m.cross.to_numpy(), m.plan_id + ":" + m.rule_id, m.rule_id)
    ids = pd.Series(qualified, index=m.index).groupby(m.row.to_numpy()).agg(";".join)
    columns["rule_ids"][ids.index.to_numpy()] = ids.to_numpy()
    cites = (pd.Series(qualified, index=m.index) + " (" + m.source_section.astype(str) + ", L"
             + m.source_lines.astype(str) + ")").groupby(m.row.to_numpy()).agg(" | ".join)
    columns["rule_citations"][cites.index.to_numpy()] = cites.to_numpy()
    return columns


@dataclass(eq=False)
class PlanIndex:
    """Every feature and rule of a set of plans, flattened into slices for fast lookups.

    Build with :func:`plan_index` (cached). ``hits`` holds, per feature, the columns a query
    returns that do not depend on the site, rules of the feature's own plan included, so a
    point query is a slice lookup plus a row take. Rules of other plans that name the
    feature's zone class apply where the site lies in their plan's area; they are added per
    site (:meth:`pair_rules`).
    """

    plans: tuple[Plan, ...]
    slices: Slices
    rules: pd.DataFrame
    matches: pd.DataFrame

    @property
    def features(self) -> gpd.GeoDataFrame:
        return self.slices.features

    @cached_property
    def extents(self) -> Slices:
        """Slices of the plans' areas; feature ``i`` is the area of ``plans[i]``."""
        return build_slices(gpd.GeoDataFrame(
            {"feature_id": [p.plan_id for p in self.plans],
             "plan_id": [p.plan_id for p in self.plans], "zone_class": "plan_area"},
            geometry=[shapely.from_wkt(p.meta["extent_wkt"]) for p in self.plans], crs=CRS))

    @cached_property
    def plan_ids(self) -> tuple[str, ...]:
        return tuple(p.plan_id for p in self.plans)

    @cached_property
    def plan_bit(self) -> dict[str, int]:
        return {pid: 1 << i for i, pid in enumerate(self.plan_ids)}

    @cached_property
    def feature_bits(self) -> np.ndarray:
        """Per feature: the bit of its own plan (:attr:`plan_bit`)."""
        return self.features.plan_id.map(self.plan_bit).to_numpy(dtype=np.int64)

    @cached_property
    def class_rules(self) -> pd.DataFrame:
        """(rule, plan bit, zone_class) of every class-based rule."""
        table = rule_classes(self.rules)
        return table.assign(bit=table.plan_id.map(self.plan_bit).astype(np.int64))

    @cached_property
    def cross_mask(self) -> np.ndarray:
        """Per feature: bits of the *other* plans that have rules for its zone class."""
        bits = self.class_rules.groupby("zone_class").bit.agg(np.bitwise_or.reduce)
        own = self.feature_bits
        mask = self.features.zone_class.map(bits).fillna(0).to_numpy(dtype=np.int64)
        return mask & ~own

    def cover(self, geoms: np.ndarray) -> np.ndarray:
        """Bits of the plans whose area each site lies in (touches with some area/length)."""
        geoms = np.asarray(geoms, dtype=object)
        out = np.zeros(len(geoms), dtype=np.int64)
        bits = np.array([self.plan_bit[pid] for pid in self.plan_ids], dtype=np.int64)
        points = shapely.get_type_id(geoms) == 0
        if points.any():
            idx = np.flatnonzero(points)
            pts, plans = self.extents.locate(shapely.get_x(geoms[idx]), shapely.get_y(geoms[idx]))
            np.bitwise_or.at(out, idx[pts], bits[plans])
        if (~points).any():
            idx = np.flatnonzero(~points)
            si, pi = self.extents.tree.query(geoms[idx], predicate="intersects")
            keep = ~shapely.touches(geoms[idx][si], self.extents.geometries[pi])
            np.bitwise_or.at(out, idx[si[keep]], bits[pi[keep]])
        return out

    def in_plan_area(self, feature_pos: np.ndarray, cover: np.ndarray) -> np.ndarray:
        """Per (site, feature) pair: whether the site lies in the area of the feature's own
        plan. A feature outside it (a partner province, a link to a neighbour) is context
        there, never binding."""
        own = self.feature_bits
        return (np.asarray(cover, dtype=np.int64) & own[np.asarray(feature_pos, dtype=np.int64)]
                ) != 0

    def pair_rules(self, cover: np.ndarray, feature_pos: np.ndarray,
                   cross_only: bool = False) -> pd.DataFrame:
        """Rules applying to (site, feature) pairs: ``row`` (pair position), ``rule``, ``cross``.

        ``cover`` holds, per pair, the plan bits of the site (:meth:`cover`). Own-plan rules
        come from :attr:`matches`; another plan's rule applies when it names the feature's
        zone class and the site lies in that plan's area.
        """
        feature_pos = np.asarray(feature_pos, dtype=np.int64)
        frames = []
        if not cross_only:
            own = pd.DataFrame({"row": np.arange(len(feature_pos)), "feature": feature_pos})
            frames.append(own.merge(self.matches, on="feature")[["row", "rule"]].assign(
                cross=False))
        extra = np.flatnonzero(self.cross_mask[feature_pos] & cover)
        if len(extra):
            pairs = pd.DataFrame({"row": extra, "zone_class": self.features.zone_class.to_numpy()[
                feature_pos[extra]], "cover": cover[extra]})
            joined = pairs.merge(self.class_rules, on="zone_class")
            own_bit = self.feature_bits[feature_pos[joined.row.to_numpy()]]
            keep = ((joined.bit.to_numpy() & joined.cover.to_numpy()) != 0) & (
                joined.bit.to_numpy() != own_bit)
            frames.append(joined.loc[keep, ["row", "rule"]].assign(cross=True))
        if not frames:
            return pd.DataFrame({"row": [], "rule": [], "cross": []}, dtype=object)
        out = pd.concat(frames, ignore_index=True).drop_duplicates(["row", "rule"])
        return out.sort_values(["row", "cross", "rule"]).reset_index(drop=True)

    @cached_property
    def hits(self) -> pd.DataFrame:
        feats = self.features
        n = len(feats)
        columns = {c: feats[c].to_numpy() for c in _FEATURE_COLUMNS}
        own = self.matches.rename(columns={"feature": "row"}).assign(cross=False)
        columns.update(_rule_columns(own, self.rules, n))
        columns["accuracy_m"] = pd.to_numeric(columns["accuracy_m"], errors="coerce")
        columns.update(overlap_km2=np.full(n, np.nan), overlap_km=np.full(n, np.nan),
                       share=np.ones(n), in_plan_area=np.ones(n, dtype=bool))
        return _two_blocks(columns, n)

    def rows(self, feature_pos: np.ndarray, cover: np.ndarray) -> pd.DataFrame:
        """The query rows of (site, feature) pairs, other plans' rules added where they apply.

        Each (feature, set of other plans whose rules reach it) gets one row of a growing
        table, computed the first time it is met, so repeated queries stay one row take.
        """
        feature_pos = np.asarray(feature_pos, dtype=np.int64)
        extra = self.cross_mask[feature_pos] & cover
        row = feature_pos.copy()
        with _ROWS_LOCK:
            table = self.__dict__.get("_table")
            if table is None:
                table = self.__dict__["_table"] = self.hits
                self.__dict__["_combo_row"] = {}
            combo_row = self.__dict__["_combo_row"]
            todo = np.flatnonzero(extra)
            if len(todo):
                combos, inverse = np.unique(np.column_stack([feature_pos[todo], extra[todo]]),
                                            axis=0, return_inverse=True)
                keys = list(map(tuple, combos.tolist()))
                missing = [k for k in keys if k not in combo_row]
                if missing:
                    table = self._add_combos(table, missing, combo_row)
                row[todo] = np.array([combo_row[k] for k in keys])[inverse.ravel()]
        return table.take(row)

    def _add_combos(self, table: pd.DataFrame, combos: list[tuple[int, int]],
                    combo_row: dict) -> pd.DataFrame:
        feats = np.array([f for f, _ in combos], dtype=np.int64)
        masks = np.array([m for _, m in combos], dtype=np.int64)
        new = self.hits.take(feats).reset_index(drop=True)
        for name, values in _rule_columns(self.pair_rules(masks, feats), self.rules,
                                          len(feats)).items():
            new[name] = values
        start = len(table)
        both = pd.concat([table, new[table.columns]], ignore_index=True)
        table = _two_blocks({c: both[c].to_numpy() for c in QUERY_COLUMNS}, len(both))
        self.__dict__["_table"] = table
        combo_row.update({k: start + i for i, k in enumerate(combos)})
        return table

    def warm(self) -> "PlanIndex":
        """Build the lazy parts now (before threads share the index)."""
        self.slices.grid, self.slices.tree, self.hits, self.extents.grid  # noqa: B018
        return self

    def stored(self) -> "_StoredIndex":
        """This index with its lazy parts, for the persistent cache."""
        return _StoredIndex(self)

    def __getstate__(self):
        state = self.__dict__.copy()
        for cached in ("hits", "extents", "_table", "_combo_row"):
            state.pop(cached, None)
        return state


class _StoredIndex:
    """Pickles a :class:`PlanIndex` with the parts that transfers to workers leave out.

    Unpickled, it *is* the index (``__reduce__`` rebuilds the PlanIndex itself).
    """

    def __init__(self, index: PlanIndex):
        self.index = index

    def __reduce__(self):
        index = self.index
        extents = index.extents
        # The plans themselves are in the plan cache: a point question never needs them.
        state = {k: v for k, v in index.__getstate__().items() if k != "plans"}
        return (_restore_index, (state, index.plan_ids, index.hits, extents, extents.grid))


class _PlansOnDemand(Sequence):
    """The plans of a stored index, loaded (from the plan cache) when first needed."""

    def __init__(self, plan_ids: tuple[str, ...]):
        self.plan_ids = plan_ids

    @cached_property
    def _plans(self) -> tuple[Plan, ...]:
        from .build import load

        return tuple(load(pid) for pid in self.plan_ids)

    def __getitem__(self, i):
        return self._plans[i]

    def __len__(self) -> int:
        return len(self.plan_ids)


def _restore_index(state: dict, plan_ids: tuple[str, ...], hits: pd.DataFrame,
                   extents: Slices, grid) -> PlanIndex:
    index = PlanIndex.__new__(PlanIndex)
    index.__dict__.update(state, plans=_PlansOnDemand(plan_ids), plan_ids=plan_ids, hits=hits,
                          extents=extents)
    extents.__dict__["grid"] = grid
    return index


def _two_blocks(columns: dict, n: int) -> pd.DataFrame:
    """The query columns as two consolidated blocks (text, numbers).

    A point query is little more than a row take, and taking from two blocks is ~8x faster
    than from one block per column.
    """
    numeric = ["accuracy_m", "overlap_km2", "overlap_km", "share"]
    text = [c for c in QUERY_COLUMNS if c not in numeric]
    text_block = pd.DataFrame(
        np.column_stack([np.asarray(columns[c], dtype=object) for c in text])
        if n else np.empty((0, len(text)), dtype=object), columns=text, dtype=object)
    number_block = pd.DataFrame({c: np.asarray(columns[c], dtype=float) for c in numeric})
    return pd.concat([text_block, number_block], axis=1)[list(QUERY_COLUMNS)]


_INDEX_CACHE: OrderedDict[tuple, PlanIndex] = OrderedDict()
_ROWS_LOCK = threading.Lock()


def plan_index(plans=None) -> PlanIndex:
    """The (cached) :class:`PlanIndex` of ``plans`` (see :func:`resolve_plans`).

    The in-memory cache holds the last few plan sets, keyed by the built Plan objects, so a
    plan rebuilt from changed sources gets a new index. Indexes of plans named by id (or of
    every plan) are also kept in the persistent cache (:mod:`zoning.cache`), keyed by the
    plans' source fingerprints, so a new process reads the index instead of building it.
    """
    ids = _plan_ids_of(plans)
    if ids is not None:
        from .cache import cached, fingerprint

        key = "|".join(f"{pid}:{fingerprint(pid)}" for pid in ids) + f"|all={plans is None}"
        memory_key = ("ids", key)
        if memory_key not in _INDEX_CACHE:
            name = "all" if plans is None else hashlib.sha256(
                ",".join(ids).encode()).hexdigest()[:12]
            index = cached("index", key, lambda: _build_index(tuple(resolve_plans(plans)))
                           .warm(), stored=PlanIndex.stored,
                           label="building the query index", name=name)
            _INDEX_CACHE[memory_key] = index
        _INDEX_CACHE.move_to_end(memory_key)
        return _INDEX_CACHE[memory_key]
    resolved = tuple(resolve_plans(plans))
    key = tuple(id(p) for p in resolved)
    if key not in _INDEX_CACHE:
        _INDEX_CACHE[key] = _build_index(resolved)
    _INDEX_CACHE.move_to_end(key)
    while len(_INDEX_CACHE) > 4:
        _INDEX_CACHE.popitem(last=False)
    return _INDEX_CACHE[key]


def _plan_ids_of(plans) -> list[str] | None:
    """Plan ids when ``plans`` names plans by id only (None: every plan), else None."""
    if plans is None:
        from .model import plan_ids

        return plan_ids()
    if isinstance(plans, str):
        return [plans]
    if isinstance(plans, Plan):
        return None
    plans = list(plans)
    return plans if plans and all(isinstance(p, str) for p in plans) else None


def _build_index(resolved: tuple[Plan, ...]) -> PlanIndex:
    frames = [p.features for p in resolved]
    features = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=CRS)
    rule_tables = [p.tables["rules"] for p in resolved if "rules" in p.tables]
    rules = (pd.concat(rule_tables, ignore_index=True) if rule_tables
             else pd.DataFrame(columns=["plan_id", "rule_id", "effect", "activities",
                                        "zone_classes", "features", "text", "text_en",
                                        "source_section", "source_lines"]))
    return PlanIndex(resolved, build_slices(features), rules, rule_matches(features, rules))


def _dimension(geoms: np.ndarray) -> np.ndarray:
    """Topological dimension of each geometry (0 point, 1 line, 2 polygon; -1 empty)."""
    return np.where(shapely.is_empty(geoms), -1, shapely.get_dimensions(geoms))


def _result(index: PlanIndex, sites: gpd.GeoDataFrame, site_pos: np.ndarray,
            feature_pos: np.ndarray, geometry: np.ndarray, measures: dict,
            cover: np.ndarray | None = None) -> gpd.GeoDataFrame:
    if cover is None:
        site_geoms = np.asarray(sites.geometry.values, dtype=object)
        cover = index.cover(site_geoms)[site_pos] if len(site_pos) else np.zeros(0, np.int64)
    table = index.rows(feature_pos, cover).reset_index(drop=True)
    for col, values in measures.items():
        table[col] = values
    table["in_plan_area"] = index.in_plan_area(feature_pos, cover)
    site_index = sites.index[site_pos]
    table.index = site_index
    table.index.name = sites.index.name or "site"
    return _geoframe(table, np.asarray(geometry, dtype=object))


@cache
def _wgs84() -> pyproj.CRS:
    return pyproj.CRS.from_user_input(CRS)


def _geoframe(table: pd.DataFrame, geometry: np.ndarray) -> gpd.GeoDataFrame:
    """``table`` with ``geometry`` (EPSG:4326) as a GeoDataFrame.

    The geometry is already a valid array in the frame's CRS, so geopandas' constructor checks
    (about 0.8 ms, most of a one-point query) are skipped: the frame is re-classed the way
    geopandas' own methods build their results.
    """
    table["geometry"] = from_shapely(geometry, crs=_wgs84())
    table.__class__ = gpd.GeoDataFrame
    table._geometry_column_name = "geometry"
    return table


#: Up to this many point sites, :func:`query` takes :func:`query_point`'s per-point path.
_FEW_POINTS = 32


def _query_few_points(index: PlanIndex, sites: gpd.GeoDataFrame,
                      geoms: np.ndarray) -> gpd.GeoDataFrame:
    """:func:`query_prepared` for a few point sites: one cell lookup per point."""
    xy = shapely.get_coordinates(geoms)
    members = [index.slices.members_at(x, y) for x, y in xy]
    site_pos = np.repeat(np.arange(len(xy)), [len(m) for m in members])
    feature_pos = (np.concatenate(members) if members else np.empty(0)).astype(np.int64)
    cover = np.zeros(len(feature_pos), dtype=np.int64)
    if (index.cross_mask[feature_pos] != 0).any():
        for i, (x, y) in enumerate(xy):
            bits = 0
            for plan in index.extents.members_at(x, y):
                bits |= 1 << int(plan)
            cover[site_pos == i] = bits
    # A point has no overlap area or length and lies wholly in each of its features: the
    # index rows already hold exactly that (NaN, NaN, share 1).
    return _result(index, sites, site_pos, feature_pos, geoms[site_pos], {}, cover=cover)


def _query_points(index: PlanIndex, sites: gpd.GeoDataFrame, rows: np.ndarray):
    xy = shapely.get_coordinates(sites.geometry.values[rows])
    pts, feats = index.slices.locate(xy[:, 0], xy[:, 1])
    site_pos = rows[pts]
    n = len(pts)
    return site_pos, feats, sites.geometry.values[site_pos], {
        "overlap_km2": np.full(n, np.nan), "overlap_km": np.full(n, np.nan),
        "share": np.ones(n)}


def _query_shapes(index: PlanIndex, sites: gpd.GeoDataFrame, rows: np.ndarray):
    site_geoms = np.asarray(sites.geometry.values[rows], dtype=object)
    shapely.prepare(site_geoms)
    pi, fi = index.slices.tree.query(site_geoms, predicate="intersects")
    feats = index.slices.geometries
    # Sharing only boundary points (a parcel next to a zone) is not being in it.
    keep = ~shapely.touches(site_geoms[pi], feats[fi])
    pi, fi = pi[keep], fi[keep]
    order = np.lexsort((fi, pi))
    pi, fi = pi[order], fi[order]
    a, b = site_geoms[pi], feats[fi]
    # A site wholly inside a feature is its own intersection: skip the overlay.
    inside = shapely.contains_properly(b, a)
    inter = np.empty(len(pi), dtype=object)
    inter[inside] = a[inside]
    inter[~inside] = shapely.intersection(a[~inside], b[~inside])
    # Measure the part of the site inside the feature by its own dimension: an area where
    # the two share area, a length where a line crosses, a share only of like with like.
    site_dim, inter_dim = _dimension(a), _dimension(inter)
    overlap_km2 = np.full(len(pi), np.nan)
    overlap_km = np.full(len(pi), np.nan)
    share = np.full(len(pi), np.nan)
    areal = inter_dim == 2
    if areal.any():
        overlap_km2[areal] = area_km2(gpd.GeoSeries(inter[areal], crs=CRS))
        whole = area_km2(gpd.GeoSeries(a[areal], crs=CRS))
        share[areal] = np.where(whole > 0, overlap_km2[areal] / whole, np.nan)
    linear = inter_dim == 1
    if linear.any():
        overlap_km[linear] = length_km(gpd.GeoSeries(
            [_linear_part(g) for g in inter[linear]], crs=CRS))
        of_line = linear & (site_dim == 1)
        whole = length_km(gpd.GeoSeries(a[of_line], crs=CRS))
        share[of_line] = np.where(whole > 0, overlap_km[of_line] / whole, np.nan)
    points = site_dim == 0
    if points.any():
        share[points] = (shapely.get_num_geometries(inter[points])
                         / shapely.get_num_geometries(a[points]))
    return rows[pi], fi, inter, {"overlap_km2": overlap_km2, "overlap_km": overlap_km,
                                 "share": share}


def _linear_part(geom):
    parts = [g for g in shapely.get_parts(geom) if shapely.get_dimensions(g) == 1]
    return shapely.union_all(parts) if parts else shapely.LineString()


def site_hits(sites: gpd.GeoDataFrame, index: PlanIndex):
    """The (site, feature) pairs of :func:`query`, before the table is built.

    Returns site positions, feature positions (sorted by site, then feature), the part of
    each site inside its feature, and a dict of ``overlap_km2`` / ``overlap_km`` / ``share``.
    """
    types = shapely.get_type_id(np.asarray(sites.geometry.values, dtype=object))
    point_rows = np.flatnonzero(types == 0)
    shape_rows = np.flatnonzero(types != 0)
    parts = []
    if len(point_rows):
        parts.append(_query_points(index, sites, point_rows))
    if len(shape_rows):
        parts.append(_query_shapes(index, sites, shape_rows))
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0, dtype=object), {
            k: np.empty(0) for k in ("overlap_km2", "overlap_km", "share")}
    site_pos = np.concatenate([p[0] for p in parts]).astype(np.int64)
    feats = np.concatenate([p[1] for p in parts]).astype(np.int64)
    geoms = np.concatenate([np.asarray(p[2], dtype=object) for p in parts])
    order = np.lexsort((feats, site_pos))
    measures = {k: np.concatenate([p[3][k] for p in parts])[order] for k in parts[0][3]}
    return site_pos[order], feats[order], geoms[order], measures


def query_prepared(sites: gpd.GeoDataFrame, index: PlanIndex) -> gpd.GeoDataFrame:
    """:func:`query` on sites already passed through :func:`zoning.inputs.prepare`."""
    if len(sites) <= _FEW_POINTS:
        geoms = np.asarray(sites.geometry.values, dtype=object)
        if (shapely.get_type_id(geoms) == 0).all():
            return _query_few_points(index, sites, geoms)
    return _result(index, sites, *site_hits(sites, index))


def query(sites, plans=None, *, crs=None, engine: Literal["shapely", "dask"] = "shapely",
          npartitions: int | None = None) -> gpd.GeoDataFrame:
    """What applies at each site: one row per (site, plan feature it touches).

    Parameters
    ----------
    sites : GeoDataFrame, GeoSeries, shapely geometry or list of geometries
        Points, lines or polygons in any CRS (reprojected); an input without a CRS is a
        :class:`~zoning.CRSError` (pass ``crs=`` for bare shapely geometries). A
        ``dask_geopandas.GeoDataFrame`` runs partition by partition and returns a lazy
        dask frame.
    plans : None, str, Plan or iterable of them
        The plans to ask (default: every plan that validates).
    crs : optional
        CRS of bare shapely geometries.
    engine : {"shapely", "dask"}
        ``"dask"`` splits the sites into ``npartitions`` and runs on the current dask
        scheduler (threads, or a ``distributed`` cluster); the result is identical.
    npartitions : int, optional
        Partitions for ``engine="dask"`` (default: one per 50,000 sites, at least 2).

    Returns
    -------
    GeoDataFrame
        Indexed by the site's index label (repeated for each hit), with
        :data:`QUERY_COLUMNS`: plan, layer, feature and class, regulation;
        ``overlap_km2`` (polygon sites, EPSG:6933), ``overlap_km`` (line sites, geodesic),
        ``share`` of the site inside the feature; ``geometry_basis`` / ``basis_badge`` /
        ``accuracy_m`` of the feature; ``in_plan_area``: whether the site lies in the area
        of the feature's own plan (a feature outside it is context, not binding there); the
        activities the plan's rules prohibit / restrict /
        permit / encourage / require there with ``rule_ids`` and ``rule_citations``. The
        geometry is the part of the site inside the feature. Sites that touch nothing are
        absent.

    Examples
    --------
    >>> import shapely
    >>> hits = zoning.query(shapely.Point(110.45, 34.87), crs="EPSG:4326",
    ...                     plans="cn-yongji-2035")
    >>> hits[["layer", "zone_class", "basis_badge"]].head(3)  # doctest: +NORMALIZE_WHITESPACE
                       layer                    zone_class  basis_badge
    site
    0            admin_units                    admin_unit  approximate
    0            agriculture  agricultural_production_area    schematic
    0     central_urban_area            central_urban_area    schematic
    """
    from .scale import is_dask, map_sites

    index = plan_index(plans)
    if is_dask(sites) or engine == "dask":
        return map_sites(query_prepared, sites, index, crs=crs, npartitions=npartitions,
                         what="sites")
    if engine != "shapely":
        raise InvalidArgumentError(f"unknown engine {engine!r}; use 'shapely' or 'dask'")
    return query_prepared(prepare(sites, crs=crs, what="sites", copy=False), index)


def query_point(lon: float, lat: float, plans=None) -> pd.DataFrame:
    """What applies at one WGS 84 longitude/latitude: the fast path of :func:`query`.

    One cell lookup gives the point's slice, whose features and rules are precomputed, so
    this is fast enough to call per mouse click. Returns the columns of :func:`query`
    without the geometry (the site is the point given).

    Examples
    --------
    >>> zoning.query_point(110.45, 34.87, plans="cn-yongji-2035").zone_class.tolist()[:3]
    ['admin_unit', 'agricultural_production_area', 'central_urban_area']
    """
    lon, lat = float(lon), float(lat)
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180
            and -90 <= lat <= 90):
        raise GeometryInputError(f"longitude {lon} / latitude {lat} is not a WGS 84 position")
    index = plan_index(plans)
    members = index.slices.members_at(lon, lat)
    cover = 0
    if len(members):
        for plan in index.extents.members_at(lon, lat):
            cover |= 1 << int(plan)
    covers = np.full(len(members), cover, dtype=np.int64)
    table = index.rows(members, covers)
    table["in_plan_area"] = index.in_plan_area(members, covers)
    table.index = pd.Index(np.zeros(len(table), dtype=np.int64), name="site")
    return table


def assign(points, zones, *, column: str | None = None, crs=None,
           predicate: Literal["intersects", "contains"] = "intersects",
           engine: Literal["shapely", "dask"] = "shapely",
           npartitions: int | None = None) -> pd.Series:
    """The zone holding each point (bulk point-in-polygon through a cell grid).

    Parameters
    ----------
    points : GeoDataFrame, GeoSeries or point geometries
        Any CRS (reprojected); non-point geometries are an error.
    zones : GeoDataFrame or GeoSeries
        Polygons, any CRS. Where zones overlap, a point gets the zone listed first (use
        :func:`query` to get every zone).
    column : str, optional
        Column of ``zones`` to return (default: the zones' index label).
    predicate : {"intersects", "contains"}
        Whether a point on a zone's boundary belongs to it.
    engine : {"shapely", "dask"}
        ``"dask"`` runs partition by partition; identical result.

    Returns
    -------
    Series
        Aligned to ``points``' index; missing where no zone holds the point.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> counties = zoning.reference.china_units(zoning.reference.china_children("140000"))
    >>> parcels = gpd.GeoSeries([shapely.Point(110.45, 34.87), shapely.Point(112.55, 37.87)],
    ...                         crs="EPSG:4326")
    >>> assign(parcels, counties, column="adcode").tolist()
    ['140881', '140107']
    """
    from .scale import is_dask, map_assign

    zones = prepare(zones, crs=crs, what="zones")
    polys = np.asarray(zones.geometry.values, dtype=object)
    if not np.isin(shapely.get_type_id(polys), (3, 6)).all():
        raise GeometryInputError("zones must be polygons")
    values = zones.index.to_numpy() if column is None else zones[column].to_numpy()
    grid = CellGrid(polys)
    if is_dask(points) or engine == "dask":
        return map_assign(assign_prepared, points, grid, values, predicate=predicate, crs=crs,
                          npartitions=npartitions)
    if engine != "shapely":
        raise InvalidArgumentError(f"unknown engine {engine!r}; use 'shapely' or 'dask'")
    return assign_prepared(prepare(points, crs=crs, what="points"), grid, values, predicate)


def assign_prepared(points: gpd.GeoDataFrame, grid: CellGrid, values: np.ndarray,
                    predicate: str = "intersects") -> pd.Series:
    """:func:`assign` on points already passed through :func:`zoning.inputs.prepare`."""
    geoms = np.asarray(points.geometry.values, dtype=object)
    if not (shapely.get_type_id(geoms) == 0).all():
        raise GeometryInputError("assign() takes points; use query() for lines and polygons")
    x, y = shapely.get_x(geoms), shapely.get_y(geoms)
    label = grid.locate(x, y, predicate=predicate)
    # A nullable array keeps one dtype whether or not some points fall outside every zone.
    taken = pd.array(values).take(np.where(label >= 0, label, -1), allow_fill=True)
    return pd.Series(taken, index=points.index)

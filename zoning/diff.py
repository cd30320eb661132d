"""Plan diff: what changed between two versions of a plan, by feature, by area and by rule.

:func:`diff` compares two versions of a plan — plan ids, built :class:`~zoning.model.Plan`
objects, GeoPackages written by :func:`zoning.write_gpkg`, or a plan at a git revision of
``layers/`` (``"cn-yongji-2035@HEAD~3"``) — and returns a :class:`PlanDiff` with:

* ``features``: every feature added, removed or changed — the attributes that changed
  (old → new), the area or length gained and lost (equal-area / geodesic), and the change of
  precision badge (an envelope replaced by an authoritative delineation is reported as such,
  with the feature's stated size met or not);
* ``transitions``: the area moving from each zone class to each other class per admin unit
  (or per user polygons), from the slices of both versions (:mod:`zoning.slices`);
* ``classes``: the area each class gained and lost per unit, which reconciles with
  :func:`zoning.tabulate` of each version (``new = old + gained − lost``);
* ``rules``, ``indicators``, ``statements``: added, removed, changed, with the text
  difference and both citations;
* ``changes``: the change polygons (one per distinct before/after combination of features).

Only the features that differ are overlaid (with the unchanged features that touch them),
so a diff costs less than tabulating either version. See ``docs/diff.md``.
"""

from __future__ import annotations

import difflib
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import (DependencyError, InputFileError, InvalidArgumentError, UnknownColumnError,
                      UnknownPlanError, ZoningError)
from .geometry import area_km2, length_km
from .model import CRS, Plan
from .slices import Slices, build_slices

#: Attribute columns that state a feature's size in the plan text, with km² per unit. When
#: a feature's geometry changes, its new area is checked against the stated size.
STATED_SIZE_COLUMNS = {"stated_area_km2": 1.0, "delineated_km2": 1.0, "area_km2_stated": 1.0,
                       "target_km2": 1.0,
                       "area_ha": 0.01}
#: Relative tolerance within which a measured area "meets" a stated size.
STATED_SIZE_TOLERANCE = 0.1
#: Columns derived from the geometry: their change is reported as area/length, not attributes.
_DERIVED = ("geometry", "area_km2", "length_km")
#: Pieces smaller than this (100 m²) are float dust along shared edges, as in ``tabulate``.
_DUST_KM2 = 1e-4
_POLYGONAL = (3, 6)

#: The comparable tables, their key column and the citation columns.
_TABLE_KEYS = {
    "rules": ("rule_id", ("source_section", "source_lines")),
    "indicators": ("indicator_id", ("section", "lines")),
    "statements": ("statement_id", ("source_section", "source_lines")),
}
_TEXT_COLUMNS = ("text", "text_en")

FEATURE_DIFF_COLUMNS = [
    "key", "feature_id", "layer", "name", "name_en", "zone_class", "change",
    "attributes_changed", "geometry_changed", "old_area_km2", "new_area_km2",
    "area_gained_km2", "area_lost_km2", "old_length_km", "new_length_km", "length_gained_km",
    "length_lost_km", "old_badge", "new_badge", "badge_change", "old_basis", "new_basis",
    "precision", "stated_km2", "stated_column", "stated_ratio", "stated_met",
]
TABLE_DIFF_COLUMNS = ["id", "change", "fields_changed", "old", "new", "text_diff",
                      "old_citation", "new_citation"]
TRANSITION_COLUMNS = ["unit", "from_class", "to_class", "area_km2"]
CLASS_COLUMNS = ["unit", "zone_class", "gained_km2", "lost_km2", "net_km2"]
#: Unit label of changed land outside every unit tabulated by.
OUTSIDE_UNITS = "(outside units)"


@dataclass(frozen=True)
class PlanDiff:
    """What changed from ``old`` to ``new`` (see :func:`diff`).

    Attributes
    ----------
    features : DataFrame
        One row per feature added, removed or changed (:data:`FEATURE_DIFF_COLUMNS`).
    attributes : DataFrame
        Long table of changed attributes: ``key``, ``attribute``, ``old``, ``new``.
    transitions : DataFrame
        ``unit``, ``from_class``, ``to_class``, ``area_km2``: land whose classes changed.
        ``from_class`` holds the classes the land lost, ``to_class`` those it gained (several
        joined by `` & `` where overlapping classes change together; empty for none).
    classes : DataFrame
        ``unit``, ``zone_class`` (the ``by`` column), ``gained_km2``, ``lost_km2``,
        ``net_km2``.
    rules, indicators, statements : DataFrame
        :data:`TABLE_DIFF_COLUMNS` for each table.
    changes : GeoDataFrame
        Change polygons with ``from_class``, ``to_class``, ``old_features``,
        ``new_features``, ``area_km2``.
    """

    old: Plan
    new: Plan
    old_label: str
    new_label: str
    features: pd.DataFrame
    attributes: pd.DataFrame
    transitions: pd.DataFrame
    classes: pd.DataFrame
    rules: pd.DataFrame
    indicators: pd.DataFrame
    statements: pd.DataFrame
    changes: gpd.GeoDataFrame
    units: gpd.GeoDataFrame = field(repr=False, default=None)

    @property
    def empty(self) -> bool:
        """True when nothing differs: no feature, area, rule, indicator or statement."""
        return all(len(t) == 0 for t in (self.features, self.transitions, self.rules,
                                         self.indicators, self.statements))

    def summary(self) -> str:
        """A few lines a planner reads first."""
        lines = [f"{self.old_label} → {self.new_label}"]
        if self.empty:
            return lines[0] + ": no differences"
        counts = self.features.change.value_counts()
        lines.append("features: " + ", ".join(f"{counts.get(c, 0)} {c}"
                                              for c in ("added", "removed", "changed")))
        moved = self.transitions.area_km2.sum()
        lines.append(f"land changing class: {moved:,.2f} km² in "
                     f"{self.transitions.unit.nunique()} unit(s)")
        for name in ("rules", "indicators", "statements"):
            c = getattr(self, name).change.value_counts()
            lines.append(f"{name}: " + ", ".join(f"{c.get(k, 0)} {k}"
                                                 for k in ("added", "removed", "changed")))
        precise = self.features[self.features.precision != ""]
        for row in precise.itertuples():
            stated = ("" if pd.isna(row.stated_km2) else
                      f"; stated size {row.stated_km2:,.0f} km² "
                      f"{'met' if row.stated_met else 'not met'} "
                      f"(new area {row.new_area_km2:,.0f} km²)")
            lines.append(f"precision: {row.key}: {row.precision}{stated}")
        return "\n".join(lines)


# --- loading a version -------------------------------------------------------------------------

def _git(args: list[str], *, binary: bool = False, cwd: Path | None = None):
    from .settings import settings

    try:
        done = subprocess.run(["git", "-C", str(cwd or settings.layers_dir), *args],
                              capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise DependencyError("reading a plan at a git revision needs git on the PATH") from exc
    if done.returncode:
        raise InvalidArgumentError(f"git {' '.join(args)}: "
                                   f"{done.stderr.decode(errors='replace').strip()}")
    return done.stdout if binary else done.stdout.decode()


def plan_at_revision(plan_id: str, revision: str) -> Plan:
    """Build ``layers/<plan_id>`` as it was at git ``revision`` of the repository holding
    the plans folder (``zoning.settings.layers_dir``; an installed package has no history).

    The plan folder of that revision is extracted (``git archive``) into a temporary folder
    and built there; shared vocabularies and reference data are today's.

    Examples
    --------
    >>> plan_at_revision("vn-kontum-2030", "HEAD").plan_id
    'vn-kontum-2030'
    """
    from .build import build_plan

    prefix = _git(["rev-parse", "--show-prefix"]).strip()    # e.g. "layers/"
    top = Path(_git(["rev-parse", "--show-toplevel"]).strip())
    try:
        commit = _git(["rev-parse", "--verify", f"{revision}^{{commit}}"]).strip()
    except ZoningError as exc:
        raise InvalidArgumentError(f"no git revision {revision!r} in the repository of the plans "
                                   f"folder ({exc})") from exc
    folder = f"{prefix}{plan_id}"
    if not _git(["ls-tree", "--name-only", commit, f"{folder}/"], cwd=top).strip():
        raise UnknownPlanError(f"{folder} does not exist at revision {revision} ({commit[:10]})")
    archive = _git(["archive", "--format=tar", commit, folder], binary=True, cwd=top)
    with tempfile.TemporaryDirectory(prefix="zoning-rev-") as tmp:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        _complete_provenance(Path(tmp) / prefix / plan_id)
        plan = build_plan(plan_id, layers_dir=Path(tmp) / prefix)
    return plan


#: ``plan.yaml`` keys added after plans were first written; an older revision lacks them.
_PROVENANCE_KEYS = ("source_sha256", "source_bytes")


def _complete_provenance(folder: Path) -> None:
    """Give an old revision's ``plan.yaml`` the source-document fingerprint it predates.

    The fingerprint is taken from today's ``plan.yaml`` of the same plan, and only when both
    name the same source document; the lines are appended, so every line number the plan's
    citations and errors refer to stays as it was.
    """
    import yaml

    from .settings import settings

    old_path, today_path = folder / "plan.yaml", settings.layers_dir / folder.name / "plan.yaml"
    if not old_path.is_file() or not today_path.is_file():
        return
    old_text = old_path.read_text(encoding="utf-8")
    old, today = yaml.safe_load(old_text) or {}, yaml.safe_load(
        today_path.read_text(encoding="utf-8")) or {}
    missing = [k for k in _PROVENANCE_KEYS if k not in old and k in today]
    if missing and old.get("source_document") == today.get("source_document"):
        tail = "".join(f"{k}: {today[k]}\n" for k in missing)
        old_path.write_text(old_text.rstrip("\n") + "\n" + tail, encoding="utf-8")


def resolve_version(version) -> tuple[Plan, str]:
    """A :class:`Plan` and a label from a plan id, ``plan_id@rev``, a GeoPackage, a plan
    folder (``…/layers/<plan_id>``, e.g. of another checkout) or a Plan."""
    from .build import load
    from .io import read_gpkg

    if isinstance(version, Plan):
        return version, version.plan_id
    if not isinstance(version, (str, Path)):
        raise InvalidArgumentError(f"cannot diff a {type(version).__name__}: give a plan id, "
                                   "'plan_id@<git revision>', a plan GeoPackage or a Plan")
    text = str(version)
    path = Path(text)
    if path.is_dir():
        if not (path / "plan.yaml").is_file():
            raise InputFileError(f"{path} is not a plan folder (it has no plan.yaml)")
        from .build import build_plan

        return build_plan(path.name, layers_dir=path.resolve().parent), text
    if path.suffix.lower() == ".gpkg" or path.exists():
        if not path.exists():
            raise InputFileError(f"no such file: {path}")
        if path.suffix.lower() != ".gpkg":
            raise InputFileError(f"{path}: give a plan GeoPackage (.gpkg) written by zoning")
        try:
            return read_gpkg(path), path.name
        except (RuntimeError, OSError, ValueError, KeyError) as exc:   # pyogrio / sqlite
            raise InputFileError(f"cannot read {path} as a plan GeoPackage: {exc}") from exc
    if "@" in text:
        plan_id, revision = text.split("@", 1)
        if not plan_id or not revision:
            raise InvalidArgumentError(f"{text!r}: write a plan at a revision as "
                                       "'plan_id@<git revision>'")
        return plan_at_revision(plan_id, revision), text
    return load(text), text


# --- features ------------------------------------------------------------------------------------

def _key(feature_ids: pd.Series, plan_id: str) -> pd.Series:
    """Feature id without its plan prefix (``layer/id``), so renamed plans still match."""
    ids = feature_ids.astype(str)
    return ids.where(~ids.str.startswith(plan_id + "/"), ids.str.slice(len(plan_id) + 1))


def keyed_features(plan: Plan) -> gpd.GeoDataFrame:
    """Every feature of every layer (the common columns), indexed by its key."""
    out = plan.features
    out["key"] = _key(out["feature_id"], plan.plan_id)
    return out.set_index("key", drop=False)


def _keyed_layers(plan: Plan) -> dict[str, pd.DataFrame]:
    """Each layer with all its columns (attributes included), indexed by feature key."""
    return {name: pd.DataFrame(gdf).set_index(_key(gdf["feature_id"], plan.plan_id))
            for name, gdf in plan.layers.items()}


def _norm(value):
    """A value as compared: missing → None, numbers → float, the rest → str."""
    if value is None or (not isinstance(value, (str, bytes)) and pd.isna(value)):
        return None
    if isinstance(value, str):
        if value == "":
            return None
        # A GeoPackage table stores numbers as text ("40.0"): compare them as numbers.
        try:
            number = float(value)
        except ValueError:
            return value
        return number if np.isfinite(number) else value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    return str(value)


def _same_geometry(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Equal geometries: byte-identical, else topologically equal (vertex order may differ)."""
    same = np.zeros(len(a), dtype=bool)
    missing_a, missing_b = shapely.is_missing(a), shapely.is_missing(b)
    same[missing_a & missing_b] = True
    both = ~missing_a & ~missing_b
    idx = np.flatnonzero(both)
    same[idx] = shapely.to_wkb(a[idx]) == shapely.to_wkb(b[idx])
    doubt = idx[~same[idx]]
    if len(doubt):
        same[doubt] = shapely.equals(a[doubt], b[doubt])
    return same


def _attribute_changes(old_layers: dict, new_layers: dict, common: list[str]) -> pd.DataFrame:
    """Long table of the attributes that differ between the versions of common features."""
    rows = []
    wanted = set(common)
    for name in dict.fromkeys([*old_layers, *new_layers]):
        o, n = old_layers.get(name), new_layers.get(name)
        if o is None or n is None:
            continue
        keys = [k for k in o.index if k in wanted and k in n.index]
        if not keys:
            continue
        o, n = o.loc[keys], n.loc[keys]
        for col in dict.fromkeys([*o.columns, *n.columns]):
            if col in (*_DERIVED, "feature_id", "plan_id"):
                continue
            ov = o[col].to_numpy() if col in o else np.full(len(keys), None, dtype=object)
            nv = n[col].to_numpy() if col in n else np.full(len(keys), None, dtype=object)
            for key, a, b in zip(keys, ov, nv):
                na, nb = _norm(a), _norm(b)
                if na != nb:
                    rows.append({"key": key, "attribute": col, "old": na, "new": nb})
    return pd.DataFrame(rows, columns=["key", "attribute", "old", "new"])


def _feature_diff(old_plan: Plan, new_plan: Plan, old: gpd.GeoDataFrame, new: gpd.GeoDataFrame,
                  by: str = "zone_class"
                  ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, shapely.Geometry]]:
    """The features table, the long attribute table, and the region where each feature's
    polygon coverage changed (key → geometry)."""
    old_keys, new_keys = set(old.index), set(new.index)
    added = sorted(new_keys - old_keys)
    removed = sorted(old_keys - new_keys)
    common = sorted(old_keys & new_keys)
    o, n = old.loc[common], new.loc[common]
    geom_same = _same_geometry(np.asarray(o.geometry.values, dtype=object),
                               np.asarray(n.geometry.values, dtype=object))
    new_layers = _keyed_layers(new_plan)
    attributes = _attribute_changes(_keyed_layers(old_plan), new_layers, common)
    changed_attrs = attributes.groupby("key").attribute.agg(";".join) if len(attributes) \
        else pd.Series(dtype=object)
    geom_changed = set(np.asarray(common, dtype=object)[~geom_same])
    changed = sorted(geom_changed | set(changed_attrs.index))

    rows = []
    for key in added:
        rows.append(_feature_row(key, None, new.loc[key], "added", ""))
    for key in removed:
        rows.append(_feature_row(key, old.loc[key], None, "removed", ""))
    for key in changed:
        rows.append(_feature_row(key, old.loc[key], new.loc[key], "changed",
                                 changed_attrs.get(key, ""), key in geom_changed))
    table = pd.DataFrame(rows, columns=FEATURE_DIFF_COLUMNS)
    table, regions = _measure_changes(table, old, new, new_layers)
    reclassed = {k for k, a in changed_attrs.items() if by in a.split(";")}
    for key in reclassed:
        # land keeps the feature but under another value: all of both versions can move
        regions[key] = shapely.union(old.geometry[key], new.geometry[key])
    regions = {k: g for k, g in regions.items()
               if (k in reclassed or not g.is_empty) and shapely.get_dimensions(g) == 2}
    order = {"removed": 0, "added": 1, "changed": 2}
    table = table.sort_values(["change", "key"], key=lambda s: s.map(order) if s.name ==
                              "change" else s).reset_index(drop=True)
    return table, attributes, regions


def _feature_row(key, o, n, change, attrs, geometry_changed=None) -> dict:
    ref = n if n is not None else o
    return {
        "key": key, "feature_id": ref["feature_id"], "layer": ref.get("layer"),
        "name": ref.get("name"), "name_en": ref.get("name_en"),
        "zone_class": ref.get("zone_class"), "change": change, "attributes_changed": attrs,
        "geometry_changed": bool(geometry_changed) if change == "changed" else True,
        "old_badge": "" if o is None else str(o.get("basis_badge") or ""),
        "new_badge": "" if n is None else str(n.get("basis_badge") or ""),
        "old_basis": "" if o is None else str(o.get("geometry_basis") or ""),
        "new_basis": "" if n is None else str(n.get("geometry_basis") or ""),
    }


def _measure_changes(table: pd.DataFrame, old: gpd.GeoDataFrame, new: gpd.GeoDataFrame,
                     new_layers: dict[str, pd.DataFrame]
                     ) -> tuple[pd.DataFrame, dict[str, shapely.Geometry]]:
    """Areas and lengths of each version, gained and lost, badge change and stated size;
    and where each feature's coverage changed (gained ∪ lost, or all of it when its class
    changed in place)."""
    if table.empty:
        return table, {}
    empty = shapely.GeometryCollection()

    def geoms(frame, keys):
        present = frame.reindex(keys).geometry
        return np.array([g if g is not None and not (isinstance(g, float)) else empty
                         for g in present.to_numpy()], dtype=object)

    keys = table.key.to_numpy()
    og, ng = geoms(old, keys), geoms(new, keys)
    kind = np.maximum(shapely.get_dimensions(og), shapely.get_dimensions(ng))
    moved = table.geometry_changed.to_numpy(dtype=bool)
    gained = np.where(moved, shapely.difference(ng, og), empty)
    lost = np.where(moved, shapely.difference(og, ng), empty)
    for label, dim, measure in (("area", 2, area_km2), ("length", 1, length_km)):
        unit = "km2" if dim == 2 else "km"
        pick = kind == dim
        for col, values in ((f"old_{label}_{unit}", og), (f"new_{label}_{unit}", ng),
                            (f"{label}_gained_{unit}", gained), (f"{label}_lost_{unit}", lost)):
            out = np.full(len(table), np.nan)
            if pick.any():
                out[pick] = measure(gpd.GeoSeries(values[pick], crs=CRS))
            table[col] = out
    table.loc[table.change == "added", ["old_area_km2", "old_length_km"]] = np.nan
    table.loc[table.change == "removed", ["new_area_km2", "new_length_km"]] = np.nan
    badge = table.old_badge != table.new_badge
    both = (table.change == "changed") & badge
    table["badge_change"] = np.where(both, table.old_badge + " → " + table.new_badge, "")
    table["precision"] = ""
    sharper = both & (table.new_badge == "authoritative")
    table.loc[sharper, "precision"] = (table.old_badge[sharper] + " " + table.old_basis[sharper]
                                       + " replaced by an authoritative delineation")
    _stated_sizes(table, new_layers)
    regions = np.where(moved, shapely.union(gained, lost), ng)
    return table, dict(zip(keys, regions))


def _stated_sizes(table: pd.DataFrame, new_layers: dict[str, pd.DataFrame]) -> None:
    """Stated size of each changed polygon feature and whether its new area meets it."""
    table["stated_km2"] = np.nan
    table["stated_column"] = ""
    table["stated_ratio"] = np.nan
    table["stated_met"] = None
    for i, row in table.iterrows():
        if not row.geometry_changed or pd.isna(row.new_area_km2):
            continue
        source = new_layers[row.layer].loc[row.key]
        for col, factor in STATED_SIZE_COLUMNS.items():
            value = pd.to_numeric(source.get(col), errors="coerce")
            if pd.notna(value) and value > 0:
                stated = float(value) * factor
                ratio = row.new_area_km2 / stated
                table.at[i, "stated_km2"] = stated
                table.at[i, "stated_column"] = col
                table.at[i, "stated_ratio"] = ratio
                table.at[i, "stated_met"] = bool(abs(ratio - 1) <= STATED_SIZE_TOLERANCE)
                break


# --- transitions -------------------------------------------------------------------------------

def _join(classes) -> str:
    return " & ".join(sorted(classes))


def _polygonal_parts(geoms: np.ndarray) -> np.ndarray:
    """Each geometry reduced to its polygons (a clip can leave lines and points on edges)."""
    out = np.asarray(geoms, dtype=object).copy()
    mixed = np.flatnonzero(~np.isin(shapely.get_type_id(out), _POLYGONAL))
    for i in mixed:
        parts = [p for p in shapely.get_parts(shapely.get_parts(out[i]))
                 if p.geom_type == "Polygon" and not p.is_empty]
        out[i] = shapely.MultiPolygon(parts) if parts else shapely.MultiPolygon()
    return out


def _local_slices(old: gpd.GeoDataFrame, new: gpd.GeoDataFrame,
                  regions: dict[str, shapely.Geometry], by: str = "zone_class"
                  ) -> tuple[Slices, np.ndarray, np.ndarray, np.ndarray]:
    """Slices of the region where some feature's coverage changed, overlaid with the changed
    features of both versions and the unchanged features there; per slice: old classes, new
    classes (``frozenset`` arrays) and the members' version (``old``/``new``/``both``).

    Outside that region every feature covers what it covered before, so no land changes
    class there: only the region is overlaid, which keeps a diff cheaper than ``tabulate``.
    """
    def polygonal(frame):
        geoms = np.asarray(frame.geometry.values, dtype=object)
        return frame[np.isin(shapely.get_type_id(geoms), _POLYGONAL)]

    keys = set(regions)
    region = shapely.union_all(list(regions.values()))
    shapely.prepare(region)
    old_p, new_p = polygonal(old), polygonal(new)
    changed_old = old_p[old_p.index.isin(keys)]
    changed_new = new_p[new_p.index.isin(keys)]
    unchanged = new_p[~new_p.index.isin(keys)]
    unchanged_geoms = np.asarray(unchanged.geometry.values, dtype=object)
    context = unchanged[shapely.intersects(region, unchanged_geoms)]
    cols = list(dict.fromkeys(["feature_id", "zone_class", by, "geometry"]))
    frame = pd.concat([context[cols].assign(plan_id="both"),
                       changed_old[cols].assign(plan_id="old"),
                       changed_new[cols].assign(plan_id="new")], ignore_index=True)
    clipped = shapely.intersection(np.asarray(frame.geometry.values, dtype=object), region)
    frame["geometry"] = _polygonal_parts(clipped)
    slices = build_slices(gpd.GeoDataFrame(frame, geometry="geometry", crs=CRS))
    version = frame.plan_id.to_numpy()
    zone = frame[by].astype(str).to_numpy()
    old_sets, new_sets = [], []
    for s in range(slices.n_slices):
        members = slices.members(s)
        v, z = version[members], zone[members]
        old_sets.append(frozenset(z[v != "new"]))
        new_sets.append(frozenset(z[v != "old"]))
    return slices, np.array(old_sets, dtype=object), np.array(new_sets, dtype=object), version


def _transitions(old: gpd.GeoDataFrame, new: gpd.GeoDataFrame,
                 regions: dict[str, shapely.Geometry], by: str, units: gpd.GeoDataFrame) -> tuple[pd.DataFrame, pd.DataFrame, gpd.GeoDataFrame]:
    from .stats import unit_slice_areas

    class_columns = [by if c == "zone_class" else c for c in CLASS_COLUMNS]
    empty = (pd.DataFrame(columns=TRANSITION_COLUMNS), pd.DataFrame(columns=class_columns),
             gpd.GeoDataFrame({"from_class": [], "to_class": [], "old_features": [],
                               "new_features": [], "area_km2": []}, geometry=[], crs=CRS))
    if not regions:
        return empty
    slices, old_sets, new_sets, version = _local_slices(old, new, regions, by)
    lost = np.array([_join(o - n) for o, n in zip(old_sets, new_sets)], dtype=object)
    gained = np.array([_join(n - o) for o, n in zip(old_sets, new_sets)], dtype=object)
    changed = np.flatnonzero((lost != "") | (gained != ""))
    if not len(changed):
        return empty
    keep = np.isin(slices.face_slice, changed)
    moving = Slices(slices.features, slices.faces[keep], slices.face_slice[keep],
                    slices.member_ptr, slices.member_idx, slices.cell)
    pairs = unit_slice_areas(moving, units)
    names = units["unit_id"].to_numpy()
    per_slice = pd.Series(moving.face_km2).groupby(moving.face_slice).sum()
    inside = pairs.groupby("slice").area_km2.sum().reindex(per_slice.index, fill_value=0.0)
    outside = (per_slice - inside)
    outside = outside[outside > _DUST_KM2]
    rows = pd.concat([
        pd.DataFrame({"unit": names[pairs.unit.to_numpy()], "slice": pairs.slice.to_numpy(),
                      "area_km2": pairs.area_km2.to_numpy()}),
        pd.DataFrame({"unit": OUTSIDE_UNITS, "slice": outside.index.to_numpy(),
                      "area_km2": outside.to_numpy()}),
    ], ignore_index=True)
    rows["from_class"] = lost[rows.slice.to_numpy()]
    rows["to_class"] = gained[rows.slice.to_numpy()]
    transitions = rows.groupby(["unit", "from_class", "to_class"], as_index=False).area_km2.sum()
    transitions = transitions[transitions.area_km2 > _DUST_KM2]
    transitions = transitions.sort_values(["unit", "area_km2"], ascending=[True, False],
                                          kind="stable").reset_index(drop=True)

    def per_class(column, name):
        part = rows[rows[column] != ""][["unit", column, "area_km2"]]
        part = part.assign(**{by: part[column].str.split(" & ")}).explode(by)
        return part.groupby(["unit", by]).area_km2.sum().rename(name)

    classes = pd.concat([per_class("to_class", "gained_km2"), per_class("from_class",
                                                                        "lost_km2")],
                        axis=1).fillna(0.0)
    # float dust on the other side of a real change (a sliver along a shared edge) is zero
    classes = classes.where(classes > _DUST_KM2, 0.0)
    classes["net_km2"] = classes.gained_km2 - classes.lost_km2
    classes = classes[(classes.gained_km2 > 0) | (classes.lost_km2 > 0)]
    classes = classes.reset_index()[class_columns]

    ids = slices.features.feature_id.to_numpy()
    polys = slices.table.iloc[changed]
    member_ids = [slices.members(s) for s in changed]
    changes = gpd.GeoDataFrame({
        "from_class": lost[changed], "to_class": gained[changed],
        "old_features": [";".join(ids[m][version[m] != "new"]) for m in member_ids],
        "new_features": [";".join(ids[m][version[m] != "old"]) for m in member_ids],
        "area_km2": polys.area_km2.to_numpy(),
    }, geometry=polys.geometry.to_numpy(), crs=CRS)
    changes = changes[changes.area_km2 > _DUST_KM2].reset_index(drop=True)
    return transitions, classes, changes


def _units(old: Plan, new: Plan, units) -> gpd.GeoDataFrame:
    from .inputs import prepare
    from .stats import admin_units

    if units is not None:
        prepared = prepare(units, what="units")
        if "unit_id" not in prepared:
            prepared = prepared.assign(unit_id=prepared.index.astype(str))
        return prepared.reset_index(drop=True)
    frames = []
    for plan in (new, old):
        try:
            frames.append(admin_units(plan))
        except KeyError:
            # A plan read from a GeoPackage carries no extent geometry; its area is what its
            # features cover.
            geoms = [g for g in plan.features.geometry if g is not None]
            frames.append(gpd.GeoDataFrame({"unit_id": [plan.plan_id],
                                            "name": [plan.meta.get("title", plan.plan_id)],
                                            "geometry_basis": ["plan_features"]},
                                           geometry=[shapely.union_all(geoms)], crs=CRS))
    out = pd.concat(frames, ignore_index=True).drop_duplicates("unit_id")
    return gpd.GeoDataFrame(out, crs=CRS).reset_index(drop=True)


# --- rules, indicators, statements ------------------------------------------------------------

def _cite(row: pd.Series, columns: tuple[str, str]) -> str:
    section, lines = (row.get(c, "") for c in columns)
    parts = [str(section) if _norm(section) is not None else "",
             f"L{lines}" if _norm(lines) is not None else ""]
    return ", ".join(p for p in parts if p)


def _text(row: pd.Series) -> str:
    return "\n".join(str(row[c]) for c in _TEXT_COLUMNS if c in row and _norm(row[c]) is not None)


def _text_diff(a: str, b: str) -> str:
    if a == b:
        return ""
    return "\n".join(difflib.unified_diff(a.splitlines(), b.splitlines(), "old", "new",
                                          lineterm="", n=0))


def _table_diff(old: pd.DataFrame | None, new: pd.DataFrame | None, name: str) -> pd.DataFrame:
    key, cite = _TABLE_KEYS[name]

    def keyed(table):
        table = table if table is not None else pd.DataFrame(columns=[key])
        table = table.drop(columns="plan_id", errors="ignore")
        return table.drop_duplicates(key).set_index(key)

    old, new = keyed(old), keyed(new)
    columns = list(dict.fromkeys([*old.columns, *new.columns]))
    old, new = old.reindex(columns=columns), new.reindex(columns=columns)
    keys = sorted(set(old.index) | set(new.index), key=str)
    o, n = old.reindex(keys), new.reindex(keys)
    has_old, has_new = np.isin(keys, old.index), np.isin(keys, new.index)
    differs = pd.DataFrame({c: [_norm(a) != _norm(b) for a, b in zip(o[c], n[c])]
                            for c in columns}, index=keys)
    fields = differs.apply(lambda r: ";".join(r.index[r.to_numpy(dtype=bool)]), axis=1) \
        if columns else pd.Series("", index=keys)
    rows = []
    for i, ident in enumerate(keys):
        if has_old[i] and has_new[i]:
            if not fields.iat[i]:
                continue
            change = "changed"
        else:
            change = "added" if has_new[i] else "removed"
        old_text = _text(o.iloc[i]) if has_old[i] else ""
        new_text = _text(n.iloc[i]) if has_new[i] else ""
        rows.append({"id": ident, "change": change,
                     "fields_changed": fields.iat[i] if change == "changed" else "",
                     "old": old_text, "new": new_text,
                     "text_diff": _text_diff(old_text, new_text) if change == "changed" else "",
                     "old_citation": _cite(o.iloc[i], cite) if has_old[i] else "",
                     "new_citation": _cite(n.iloc[i], cite) if has_new[i] else ""})
    return pd.DataFrame(rows, columns=TABLE_DIFF_COLUMNS)


# --- the diff ----------------------------------------------------------------------------------

def diff(old, new, *, units: gpd.GeoDataFrame | None = None,
         by: str = "zone_class") -> PlanDiff:
    """What changed between two versions of a plan.

    Parameters
    ----------
    old, new : str, Path or Plan
        A plan id (``"cn-yongji-2035"``), a plan at a git revision of ``layers/``
        (``"cn-yongji-2035@HEAD~2"``), a GeoPackage written by :func:`zoning.write_gpkg`, or
        a built :class:`~zoning.model.Plan` (e.g. ``zoning.replace_layer(plan, ...)``).
    units : GeoDataFrame, optional
        Polygons to report transitions by (any CRS; ``unit_id`` names them, else the index).
        Default: the admin units of both versions (:func:`zoning.admin_units`).
    by : str
        Feature column whose values land moves between: ``zone_class`` (default),
        ``layer``, ``regulation``, ``basis_badge``, ``feature_id`` …

    Returns
    -------
    PlanDiff

    Examples
    --------
    >>> import zoning
    >>> zoning.diff("cn-yongji-2035", "cn-yongji-2035").empty
    True
    >>> from dataclasses import replace
    >>> kontum = zoning.load("vn-kontum-2030")
    >>> merged = replace(kontum, layers={**kontum.layers,
    ...                                  "districts": kontum["districts"].iloc[1:]})
    >>> d = zoning.diff(kontum, merged)
    >>> d.features[["key", "change"]].values.tolist()
    [['districts/kon-tum-city', 'removed']]
    >>> sorted(zoning.write_diff(d, tmp / "kontum-diff"))   # diff.gpkg + diff.html
    ['gpkg', 'map']

    A revision of the repository: ``zoning.diff("vn-kontum-2030@HEAD~1", "vn-kontum-2030")``.
    """
    old_plan, old_label = resolve_version(old)
    new_plan, new_label = resolve_version(new)
    if old_label == new_label and old_plan is not new_plan:
        old_label, new_label = f"{old_label} (old)", f"{new_label} (new)"
    old_feats, new_feats = keyed_features(old_plan), keyed_features(new_plan)
    if by not in old_feats or by not in new_feats:
        raise UnknownColumnError(f"features have no column {by!r}; group transitions by one of "
                                 + ", ".join(c for c in new_feats.columns
                                             if c not in ("geometry", "key")))
    features, attributes, regions = _feature_diff(old_plan, new_plan, old_feats, new_feats, by)
    unit_frame = _units(old_plan, new_plan, units) if regions else None
    transitions, classes, changes = _transitions(old_feats, new_feats, regions, by, unit_frame)
    tables = {name: _table_diff(old_plan.tables.get(name), new_plan.tables.get(name), name)
              for name in _TABLE_KEYS}
    return PlanDiff(old_plan, new_plan, old_label, new_label, features, attributes,
                    transitions, classes, tables["rules"], tables["indicators"],
                    tables["statements"], changes, unit_frame)

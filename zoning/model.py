"""The plan data model shared by every plan (China, Iran, Vietnam).

A :class:`Plan` is a thin, read-only container: one row of plan metadata, a dict of feature
layers (GeoDataFrames, EPSG:4326) and a dict of non-spatial tables. Every feature layer carries
the :data:`FEATURE_COLUMNS`; see ``docs/data-model.md`` for the picture.
"""

from __future__ import annotations

import csv
import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from types import MappingProxyType
from typing import Annotated, Any, Iterator, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ._errors import (DataFileError, InvalidArgumentError, PlanSpecError, Problem,
                      UnknownLayerError)
from .settings import settings

#: The default folders, as they were when the package was imported. The package's own code
#: reads :data:`zoning.settings.settings` at call time, so setting ``settings.layers_dir`` (or
#: ``styles_dir``, ``reference_dir``) before first use redirects it.
LAYERS_DIR = settings.layers_dir
REFERENCE_DIR = settings.reference_dir
STYLES_DIR = settings.styles_dir

CRS = "EPSG:4326"
#: Equal-area CRS for every area the toolkit reports: WGS 84 / EASE-Grid 2.0 Global, a
#: cylindrical equal-area projection on the ellipsoid (areas within 1e-5 of geodesic areas,
#: unlike World Mollweide, whose spherical formula is 0.2 % off at these latitudes).
EQUAL_AREA_CRS = "EPSG:6933"

def _inspire_codes(vocabulary: str) -> dict[str, str]:
    """A toolkit vocabulary's INSPIRE PLU code (``layers/crosswalk_inspire_codes.csv``)."""
    path = settings.layers_dir / "crosswalk_inspire_codes.csv"
    with open(path, encoding="utf-8", newline="") as f:
        return {r["code"]: r["inspire_value"] for r in csv.DictReader(f)
                if r["vocabulary"] == vocabulary}


REGULATIONS = ("binding", "binding_for_authorities", "indicative", "informative")
#: INSPIRE PLU ``RegulationNatureValue`` for each regulation value.
REGULATION_NATURE = _inspire_codes("regulation")
LIFECYCLES = ("draft", "adopted", "in_force", "superseded")
#: INSPIRE PLU ``ProcessStepGeneralValue`` for each life-cycle stage.
PROCESS_STEP = _inspire_codes("lifecycle")
#: INSPIRE PLU ``LevelOfSpatialPlanValue`` for each plan level.
LEVEL_OF_SPATIAL_PLAN = _inspire_codes("level")
CALENDARS = ("gregorian", "solar_hijri")
FAMILIES = ("tiling", "overlay")
GEOMETRY_TYPES = ("polygon", "line", "point")
RULE_EFFECTS = ("prohibited", "restricted", "permitted", "encouraged", "required")
INDICATOR_NATURES = ("binding", "expected", "indicative", "baseline")
COMPARATORS = (">=", "<=", "=", ">", "<", "~")
STATEMENT_KINDS = ("goal", "vision", "mission", "strategy", "positioning", "role", "policy",
                   "programme", "specialisation")

#: A plan id: country code, then the plan's own name (``cn-yongji-2035``).
PLAN_ID = Annotated[str, Field(pattern=r"^[a-z]{2}-[a-z0-9-]+$")]
COUNTRY = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
LANGUAGE = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]    # ISO 639-1 or 639-3 code
LEVEL = Literal["national", "provincial", "municipal", "county"]
_ISO_DATE_OR_BLANK = Annotated[str, Field(pattern=r"^(\d{4}-\d{2}-\d{2})?$")]


class PlanHeader(BaseModel):
    """The fields a plan's source (``plan.yaml``, :class:`zoning.spec.PlanMeta`) and its built
    record (:class:`PlanRecord`) share, declared once, in the ``plan`` table's column order."""

    plan_id: PLAN_ID
    title: str
    title_en: str
    country: COUNTRY
    language: LANGUAGE
    level: LEVEL
    plan_type: str
    issuer: str
    issuer_en: str
    approved_by: str = ""
    #: a date in ``plan.yaml``, ISO text (or blank) in the record: each narrows the type here,
    #: in this place of the column order
    approval_date: date | str | None = None
    base_year: int | None = None
    horizon_year: int
    vision_year: int | None = None
    calendar: Literal[CALENDARS] = "gregorian"  # type: ignore[valid-type]
    #: the horizon year in the plan's own calendar (solar hijri for the Iranian plans)
    horizon_year_local: int | None = None
    lifecycle: Literal[LIFECYCLES]  # type: ignore[valid-type]


class PlanRecord(PlanHeader):
    """The metadata of a built plan (:attr:`Plan.meta`): one typed, read-only record.

    It is the ``plan`` table of a plan GeoPackage, column for column in this order:
    :func:`zoning.io.write_gpkg` writes every field and :func:`zoning.io.read_gpkg` validates the
    table back into this type, so a GeoPackage edited by hand is checked like a plan source.
    The build derives it from the validated ``plan.yaml`` (:meth:`zoning.spec.PlanMeta.record`).

    Fields read as attributes (``meta.extent_wkt``) or, like the plain dict it replaces, by key
    (``meta["plan_id"]``, ``meta.get("title_en")``, ``dict(meta)``). Columns of a GeoPackage
    that this type does not declare are kept as extra fields and written back.

    Examples
    --------
    >>> plan = zoning.load("ir-qom-1414")
    >>> plan.meta.plan_id, plan.meta["country"], plan.meta.calendar, plan.meta.horizon_year_local
    ('ir-qom-1414', 'IR', 'solar_hijri', 1414)
    >>> shapely.from_wkt(plan.meta.extent_wkt).geom_type
    'Polygon'
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    #: ISO date, or blank when the plan text does not give one
    approval_date: _ISO_DATE_OR_BLANK = ""
    #: INSPIRE PLU ``ProcessStepGeneralValue`` of the life-cycle stage (:data:`PROCESS_STEP`)
    process_step: Literal[tuple(PROCESS_STEP.values())]  # type: ignore[valid-type]
    source_document: str
    source_lines: str = ""
    source_text: str = ""
    #: the admin units whose union is the plan area, ``;``-separated
    extent_units: str
    extent_detail: str = ""
    extent_area_km2: float = Field(gt=0)
    successor_date: _ISO_DATE_OR_BLANK = ""
    successor: str = ""
    successor_en: str = ""
    notes: str = ""
    built_at: _ISO_DATE_OR_BLANK = ""
    #: the plan area (union of ``extent_units``) as WKT in EPSG:4326
    extent_wkt: str

    @field_validator("base_year", "vision_year", "horizon_year_local", mode="before")
    @classmethod
    def _blank_is_none(cls, value):
        return None if value is None or (isinstance(value, str) and not value.strip()) else value

    @field_validator("approved_by", "approval_date", "source_lines", "source_text",
                     "extent_detail", "successor_date", "successor", "successor_en", "notes",
                     "built_at", mode="before")
    @classmethod
    def _missing_is_blank(cls, value):
        return "" if value is None else value

    @field_validator("extent_wkt")
    @classmethod
    def _polygonal(cls, value: str) -> str:
        try:
            extent = shapely.from_wkt(value)
        except shapely.errors.GEOSException as exc:
            raise ValueError(f"not WKT ({exc})") from None
        if extent is None or extent.is_empty or extent.geom_type not in ("Polygon",
                                                                           "MultiPolygon"):
            raise ValueError("the plan area must be a non-empty (multi)polygon")
        return value

    @classmethod
    def of(cls, meta: Mapping[str, Any], file: str = "plan metadata") -> "PlanRecord":
        """``meta`` as a :class:`PlanRecord` (itself if it is one already).

        Raises :class:`~zoning._errors.PlanSpecError` naming every field at fault.
        """
        if isinstance(meta, cls):
            return meta
        try:
            return cls.model_validate(dict(meta))
        except ValidationError as exc:
            raise PlanSpecError(str(dict(meta).get("plan_id", file)),
                                validation_problems(exc, file, "plan")) from None

    def keys(self) -> list[str]:
        return [*type(self).model_fields, *(self.model_extra or {})]

    def __getitem__(self, key: str) -> Any:
        if key in type(self).model_fields or key in (self.model_extra or {}):
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:       # keys, as for a dict (BaseModel yields pairs)
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in self.keys()]

    def values(self) -> list[Any]:
        return [getattr(self, k) for k in self.keys()]


Mapping.register(PlanRecord)


def validation_problems(exc: ValidationError, file: str, element: str,
                        prefix: str = "") -> list[Problem]:
    """Each error of a pydantic validation as a :class:`~zoning._errors.Problem`."""
    return [Problem(file, element, f"{prefix}{'.'.join(map(str, err['loc']))}: {err['msg']} "
                                   f"(got {err.get('input')!r})")
            for err in exc.errors()]


#: Columns on every feature of every layer, in order, with the alias and description written
#: to the GeoPackage schema extension.
FEATURE_COLUMNS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "feature_id": ("Feature id", "Stable id: <plan_id>/<layer>/<id>"),
    "plan_id": ("Plan", "Id of the plan the feature belongs to"),
    "layer": ("Layer", "Layer the feature belongs to"),
    "name": ("Name (original)", "Name in the plan's own language and script"),
    "name_en": ("Name (English)", "English name"),
    "zone_class": ("Zone class", "Code from the shared zone-class taxonomy"),
    "zone_class_label": ("Zone class label", "English label of the zone class"),
    "hilucs": ("HILUCS", "INSPIRE HILUCS land-use code where one fits"),
    "regulation": ("Regulation", "Legal character: binding / binding_for_authorities / "
                                 "indicative / informative"),
    "regulation_nature": ("INSPIRE regulationNature", "INSPIRE PLU RegulationNatureValue"),
    "lifecycle": ("Life-cycle stage", "draft / adopted / in_force / superseded"),
    "source_section": ("Source section", "Section of the plan text"),
    "source_lines": ("Source lines", "Line numbers in the source document"),
    "source_text": ("Source text", "The plan's original words"),
    "geometry_basis": ("Geometry basis", "How the geometry was derived"),
    "basis_badge": ("Basis badge", "authoritative / approximate / envelope / schematic "
                                   "(most to least certain)"),
    "basis_detail": ("Basis detail", "The reference data and interpretation used"),
    "accuracy_m": ("Accuracy (m)", "Estimated positional accuracy of the geometry (empty for "
                                   "envelopes and for shapes without one)"),
    "stated_area_km2": ("Stated area (km²)", "The element's real size as the plan text states "
                                             "it, where it does"),
    "stated_area_source": ("Stated area source", "Line and words of the plan that state the "
                                                 "size"),
    "drawn_to_stated": ("Drawn / stated area", "Drawn area divided by the stated area (2.0 = "
                                               "the shape is twice the real element)"),
})


def _vocabulary(name: str, **read_options) -> pd.DataFrame:
    path = settings.layers_dir / name
    table = pd.read_csv(path, keep_default_na=False, **read_options).set_index("code")
    duplicated = table.index[table.index.duplicated()].unique().tolist()
    if duplicated:
        raise DataFileError(f"layers/{name}: duplicate code(s) {duplicated}")
    return table


@cache
def zone_classes() -> pd.DataFrame:
    """The shared zone-class taxonomy (``layers/zone_classes.csv``), indexed by code."""
    return _vocabulary("zone_classes.csv", dtype=str)


@cache
def theme_names() -> tuple[str, ...]:
    """The themes a layer may name: the rows of ``styles/themes.csv`` (styled by
    :mod:`zoning.styles`)."""
    path = settings.styles_dir / "themes.csv"
    return tuple(pd.read_csv(path, usecols=["theme"], dtype=str).theme)


@cache
def geometry_bases() -> pd.DataFrame:
    """The geometry-basis vocabulary (``layers/geometry_basis.csv``), indexed by code."""
    return _vocabulary("geometry_basis.csv")


@cache
def badge_order() -> tuple[str, ...]:
    """The geometry-basis badges from most to least certain, read from ``badge_rank`` in
    ``layers/geometry_basis.csv`` (every basis of a badge must give it the same rank).

    >>> badge_order()
    ('authoritative', 'approximate', 'envelope', 'schematic')
    """
    table = geometry_bases()
    ranks = table.groupby("badge")["badge_rank"].unique()
    mixed = [b for b, r in ranks.items() if len(r) != 1]
    if mixed:
        raise DataFileError(f"layers/geometry_basis.csv: badge(s) {mixed} have more than one "
                            "badge_rank")
    order = sorted(ranks.index, key=lambda b: int(ranks[b][0]))
    if len({int(ranks[b][0]) for b in order}) != len(order):
        raise DataFileError("layers/geometry_basis.csv: two badges share a badge_rank")
    return tuple(order)


#: Badges whose shape is the element's own footprint, its edge within the stated accuracy; the
#: others (envelope, schematic) only say where the element lies. A prohibition on a footprint
#: can be a violation (:mod:`zoning.compliance`); only a footprint may stand under an official
#: database layer code (:mod:`zoning.export`).
FOOTPRINT_BADGES = ("authoritative", "approximate")


def least_certain(*badges: str) -> str:
    """The least certain of ``badges`` (by :func:`badge_order`); a derived shape is never
    more certain than its least certain input or operation."""
    order = badge_order()
    known = [b for b in badges if b]
    unknown = [b for b in known if b not in order]
    if unknown:
        raise InvalidArgumentError(f"unknown basis badge(s) {unknown}; badges are "
                                   f"{', '.join(order)}")
    return max(known, key=order.index)


@cache
def activities() -> pd.DataFrame:
    """The activity vocabulary used by rules (``layers/activities.csv``), indexed by code."""
    return _vocabulary("activities.csv", dtype=str)


@cache
def activity_lineage() -> dict[str, tuple[str, ...]]:
    """Each activity code with its broader activities, itself first, ``any`` last.

    ``layers/activities.csv`` is a tree through its ``parent`` column (``housing`` →
    ``urban_development`` → ``construction`` → ``any``): a rule on a broad activity applies to
    every narrower one, so a rule restricting *construction* judges a *housing* project.
    """
    parents = activities()["parent"].to_dict()
    lineage: dict[str, tuple[str, ...]] = {}
    for code in parents:
        chain = [code]
        while parents[chain[-1]]:
            parent = parents[chain[-1]]
            if parent not in parents:
                raise DataFileError(f"layers/activities.csv: {chain[-1]!r} has unknown parent "
                                    f"{parent!r}")
            if parent in chain:
                raise DataFileError("layers/activities.csv: parent cycle "
                                    + " → ".join([*chain, parent]))
            chain.append(parent)
        if chain[-1] != "any":
            raise DataFileError(f"layers/activities.csv: {code!r} does not lead to 'any'")
        lineage[code] = tuple(chain)
    return lineage


# How a plan's rules attach to its features: the one definition, used by the site queries,
# the compliance verdicts, the web maps and the consistency report.
def rule_matches(features: pd.DataFrame, rules: pd.DataFrame) -> pd.DataFrame:
    """Every (feature, rule) pair where a rule of the feature's own plan applies to it.

    A rule applies to the features of its plan whose ``zone_class`` it lists in
    ``zone_classes`` or whose ``feature_id`` it lists in ``features`` (both ``;``-joined).
    (Rules of *other* plans apply by zone class where the site lies in their plan's area;
    see :meth:`zoning.query.PlanIndex.pair_rules`.)

    Returns
    -------
    DataFrame
        Columns ``feature`` (position in ``features``) and ``rule`` (position in ``rules``),
        sorted, without duplicates.
    """
    feats = pd.DataFrame({"feature": np.arange(len(features)),
                          "plan_id": features["plan_id"].to_numpy(),
                          "zone_class": features["zone_class"].to_numpy(),
                          "feature_id": features["feature_id"].to_numpy()})
    by_class = rule_classes(rules)
    r = pd.DataFrame({"rule": np.arange(len(rules)), "plan_id": rules["plan_id"].to_numpy(),
                      "feature_id": rules["features"].fillna("").str.split(";").to_numpy()})
    by_feature = r.explode("feature_id")
    pairs = pd.concat([
        feats.merge(by_class, on=["plan_id", "zone_class"]),
        feats.merge(by_feature[by_feature.feature_id != ""], on=["plan_id", "feature_id"]),
    ])[["feature", "rule"]]
    return pairs.drop_duplicates().sort_values(["feature", "rule"]).reset_index(drop=True)


def rule_classes(rules: pd.DataFrame) -> pd.DataFrame:
    """``rule`` (position in ``rules``), ``plan_id`` and ``zone_class``: a row for every zone
    class a rule names."""
    r = pd.DataFrame({"rule": np.arange(len(rules)), "plan_id": rules["plan_id"].to_numpy(),
                      "zone_class": rules["zone_classes"].fillna("").str.split(";").to_numpy()})
    r = r.explode("zone_class")
    return r[r.zone_class.notna() & (r.zone_class != "")]


def plan_ids() -> list[str]:
    """Ids of every plan under ``layers/`` (folders holding a ``plan.yaml``)."""
    return sorted(p.parent.name for p in settings.layers_dir.glob("*/plan.yaml"))


@dataclass(frozen=True)
class Plan:
    """A built plan: metadata, feature layers and non-spatial tables.

    Parameters
    ----------
    meta : PlanRecord or mapping
        The plan's metadata (see ``docs/data-model.md``); a mapping is validated into a
        :class:`PlanRecord` (:class:`~zoning._errors.PlanSpecError` if it is not one).
    layers : dict of str to GeoDataFrame
        Feature layers in EPSG:4326 with the :data:`FEATURE_COLUMNS`.
    tables : dict of str to DataFrame
        ``plan_id``-keyed tables: ``layer_catalog``, ``indicators``, ``rules``,
        ``statements``, ``zone_classes``, ``sources``.

    Examples
    --------
    >>> plan = zoning.load("cn-shanxi-2035")
    >>> sorted(plan["control_lines"].zone_class.unique())  # doctest: +NORMALIZE_WHITESPACE
    ['cultivated_land_protection', 'ecological_protection_red_line', 'land_consolidation_area',
     'permanent_basic_farmland', 'urban_development_boundary', 'water_conservation_area']
    """

    meta: PlanRecord
    layers: Mapping[str, gpd.GeoDataFrame]
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "meta", PlanRecord.of(self.meta))

    @property
    def plan_id(self) -> str:
        return str(self.meta["plan_id"])

    def __getitem__(self, layer: str) -> gpd.GeoDataFrame:
        if layer not in self.layers:
            raise UnknownLayerError(f"plan {self.plan_id} has no layer {layer!r}; layers: "
                                    f"{', '.join(self.layers)}")
        return self.layers[layer].copy()

    def __iter__(self):
        return iter(self.layers)

    @property
    def features(self) -> gpd.GeoDataFrame:
        """All features of all layers in one GeoDataFrame (common columns only)."""
        cols = list(FEATURE_COLUMNS) + ["geometry"]
        frames = [gdf[cols] for gdf in self.layers.values() if len(gdf)]
        if not frames:
            return gpd.GeoDataFrame(columns=cols, geometry="geometry", crs=CRS)
        return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=CRS)

    def table(self, name: str) -> pd.DataFrame:
        return self.tables[name].copy()

    def _repr_html_(self) -> str:
        """A notebook's view of the plan: its title and, per layer, features and badges.

        A map of the plan is :func:`zoning.plan_map` (``zoning.plan_map(plan)``).
        """
        esc = html.escape
        order = badge_order()
        rows = []
        for name, gdf in self.layers.items():
            counts = gdf["basis_badge"].value_counts() if "basis_badge" in gdf else {}
            badges = ", ".join(f"{counts[b]} {b}" for b in order if b in counts)
            rows.append(f"<tr><td>{esc(name)}</td><td>{len(gdf)}</td><td>{esc(badges)}</td></tr>")
        title = self.meta.get("title_en") or self.meta.get("title") or self.plan_id
        return (f"<div><b>{esc(str(title))}</b> <code>{esc(self.plan_id)}</code>"
                "<table><thead><tr><th>layer</th><th>features</th><th>basis badges</th></tr>"
                f"</thead><tbody>{''.join(rows)}</tbody></table></div>")

    def __reduce__(self):
        # MappingProxyType does not pickle: store plain dicts, wrap them again when read.
        return (_unpickle_plan, (self.meta, dict(self.layers), dict(self.tables)))

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(v)}" for k, v in self.layers.items())
        return f"<Plan {self.plan_id}: {counts}>"


def _unpickle_plan(meta: PlanRecord | dict, layers: dict, tables: dict) -> Plan:
    return Plan(meta, MappingProxyType(layers), MappingProxyType(tables))

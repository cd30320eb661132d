"""Reading and validating a plan's source files under ``layers/<plan_id>/``.

Validation collects every problem of a plan and raises them together in one
:class:`~zoning._errors.PlanSpecError`; each names the file, the element and the YAML line.
The format is documented in ``docs/layer-format.md``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import typing
import unicodedata
import warnings
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
import shapely
import yaml
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, ValidationError,
                      field_validator, model_validator)

from ._errors import (PlanSpecError, Problem, ReferenceLookupError, SourcesNotVerifiedWarning,
                      UnknownPlanError)
from .model import (COMPARATORS, FAMILIES, GEOMETRY_TYPES, INDICATOR_NATURES,
                    LIFECYCLES, PROCESS_STEP, REGULATIONS, RULE_EFFECTS, STATEMENT_KINDS,
                    PlanHeader, PlanRecord, activities, theme_names, zone_classes)
from .recipes import FEATURE_REF, AdminUnitsRecipe, CheckContext, recipe_union
from .recipes import problems as recipe_problems
from .recipes import version as recipes_version
from .settings import settings

ID = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
NON_LAYER_FILES = ("plan", "rules", "statements")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_lines(value: str) -> str:
    if not re.fullmatch(r"\s*L?\d+(\s*[-–]\s*L?\d+)?(\s*,\s*L?\d+(\s*[-–]\s*L?\d+)?)*\s*",
                        str(value)):
        raise ValueError(f"lines {value!r} must look like '144', '144-146' or '144,196'")
    for first, last in line_ranges(str(value)):
        if first > last:
            raise ValueError(f"lines {value!r}: the range {first}-{last} is reversed "
                             f"(write {last}-{first})")
        if first < 1:
            raise ValueError(f"lines {value!r}: lines are numbered from 1")
    return str(value)


#: Cited line numbers: "144", "144-146", "144,196" (an optional "L" before each number).
LINES = Annotated[str, AfterValidator(_check_lines)]


class Source(_Strict):
    section: str = ""
    lines: LINES
    text: str = ""

    def line_ranges(self) -> list[tuple[int, int]]:
        """The cited lines as ``(first, last)`` ranges, never expanded into single lines."""
        return line_ranges(self.lines)


def line_ranges(lines: str) -> list[tuple[int, int]]:
    """``"144-146, 196"`` → ``[(144, 146), (196, 196)]``: ranges as written, not expanded.

    Examples
    --------
    >>> line_ranges("L144–146, 196")
    [(144, 146), (196, 196)]
    >>> line_ranges("1-999999999")
    [(1, 999999999)]
    """
    out = []
    for part in lines.replace("L", "").replace("–", "-").split(","):
        first, _, last = part.strip().partition("-")
        out.append((int(first), int(last or first)))
    return out


class StatedArea(Source):
    """The element's real size as the plan states it: ``km2`` and the line that says so."""

    km2: float = Field(gt=0)


#: The ``geometry:`` of a feature: one of the recipes registered in :mod:`zoning.recipes`.
GeometryRecipe = recipe_union()
_recipes_version = recipes_version()


def _current_recipes() -> None:
    """Rebuild the feature schema when a recipe was registered or removed since it was built."""
    global _recipes_version
    if _recipes_version == recipes_version():
        return
    FeatureSpec.model_fields["geometry"].annotation = typing.get_args(recipe_union())[0]
    FeatureSpec.model_rebuild(force=True)
    LayerSpec.model_rebuild(force=True)
    _recipes_version = recipes_version()


class FeatureSpec(_Strict):
    id: ID
    name: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    zone_class: str
    regulation: Literal[REGULATIONS]  # type: ignore[valid-type]
    lifecycle: Literal[LIFECYCLES] | None = None  # type: ignore[valid-type]
    source: Source
    geometry: GeometryRecipe
    basis_detail: str = ""
    stated_area: StatedArea | None = None
    attributes: dict[str, str | int | float | bool | None] = Field(default_factory=dict)

    @field_validator("attributes")
    @classmethod
    def _attribute_names(cls, value: dict) -> dict:
        from .model import FEATURE_COLUMNS

        for key in value:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", key):
                raise ValueError(f"attribute name {key!r} must be snake_case")
            if key in FEATURE_COLUMNS or key == "geometry":
                raise ValueError(f"attribute name {key!r} collides with a common column")
        return value


def _themes() -> list[str]:
    return list(theme_names())


class Tessellation(_Strict):
    """A layer whose cells tile a region: Voronoi cells of seats, or elevation bands."""

    method: Literal["voronoi", "elevation_bands"]
    within: str = "plan_area"
    #: elevation_bands: the NOAA GLOBE clip (``data/reference/globe_<raster>.tif``), the
    #: ascending band limits in metres and the smallest patch kept (in pixels)
    raster: str | None = None
    breaks_m: list[float] | None = None
    sieve_px: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _bands_need_a_raster(self):
        if self.method == "elevation_bands":
            if not self.raster or not self.breaks_m:
                raise ValueError("elevation_bands needs 'raster' and 'breaks_m'")
            if list(self.breaks_m) != sorted(set(self.breaks_m)):
                raise ValueError("breaks_m must be strictly ascending")
        elif self.raster or self.breaks_m or self.sieve_px:
            raise ValueError("'raster', 'breaks_m' and 'sieve_px' belong to elevation_bands")
        return self


class LayerSpec(_Strict):
    layer: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    title: str
    title_en: str
    family: Literal[FAMILIES]  # type: ignore[valid-type]
    geometry_type: Literal[GEOMETRY_TYPES]  # type: ignore[valid-type]
    theme: str = ""
    tessellation: Tessellation | None = None
    features: list[FeatureSpec] = Field(min_length=1)


class Successor(_Strict):
    date: date
    description: str
    description_en: str


class PlanMeta(PlanHeader):
    """A plan's ``plan.yaml``, validated: the source of its :class:`~zoning.model.PlanRecord`."""

    model_config = _Strict.model_config

    approval_date: date | None = None
    source_document: str
    #: SHA-256 and size of the source document, so a holder of the text can verify it.
    source_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    source_bytes: int = Field(gt=0)
    source: Source
    extent: AdminUnitsRecipe
    successor: Successor | None = None
    notes: str = ""

    def record(self, *, extent_wkt: str, extent_detail: str, extent_area_km2: float,
               built_at: date) -> PlanRecord:
        """The built plan's metadata: this source flattened, with the resolved plan area.

        The fields the two share are copied by name; nested ones are flattened (``source`` →
        ``source_lines``/``source_text``, ``extent`` → ``extent_units``, ``successor`` →
        ``successor_date``/``successor``/``successor_en``) and dates written as ISO text.
        """
        shared = {name: getattr(self, name) for name in PlanRecord.model_fields
                  if name in type(self).model_fields}
        return PlanRecord(**{
            **shared,
            "approval_date": self.approval_date.isoformat() if self.approval_date else "",
            "process_step": PROCESS_STEP[self.lifecycle],
            "source_lines": self.source.lines, "source_text": self.source.text,
            "extent_units": ";".join(self.extent.units), "extent_detail": extent_detail,
            "extent_area_km2": extent_area_km2,
            "successor_date": self.successor.date.isoformat() if self.successor else "",
            "successor": self.successor.description if self.successor else "",
            "successor_en": self.successor.description_en if self.successor else "",
            "built_at": built_at.isoformat(), "extent_wkt": extent_wkt,
        })


class LayerCatalogRow(BaseModel):
    """One row of a plan GeoPackage's ``layer_catalog`` table."""

    model_config = ConfigDict(extra="allow", frozen=True)

    layer: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    family: Literal[FAMILIES]  # type: ignore[valid-type]
    geometry_type: Literal[GEOMETRY_TYPES]  # type: ignore[valid-type]


class RuleTarget(_Strict):
    zone_classes: list[str] = Field(default_factory=list)
    features: list[FEATURE_REF] = Field(default_factory=list)


class RuleSpec(_Strict):
    id: ID
    applies_to: RuleTarget
    effect: Literal[RULE_EFFECTS]  # type: ignore[valid-type]
    activities: list[str] = Field(min_length=1)
    #: The kind of land or object inside the zone the rule is aimed at, as the condition
    #: "if the site is …" (``Class-I forest land or sub-alpine meadow``); empty when the rule
    #: binds the whole zone. A scoped rule is reported as conditional, never deciding alone.
    applies_if: str = ""
    text: str = Field(min_length=1)
    text_en: str = Field(min_length=1)
    source: Source


class StatementSpec(_Strict):
    id: ID
    kind: Literal[STATEMENT_KINDS]  # type: ignore[valid-type]
    text: str = Field(min_length=1)
    text_en: str = Field(min_length=1)
    related_features: list[FEATURE_REF] = Field(default_factory=list)
    source: Source


class IndicatorRow(_Strict):
    indicator_id: ID
    name: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    unit: str
    base_value: float | None = None
    base_year: int | None = None
    target_value: float | None = None
    target_year: int | None = None
    comparator: Literal[COMPARATORS] | None = None  # type: ignore[valid-type]
    nature: Literal[INDICATOR_NATURES]  # type: ignore[valid-type]
    measure: Annotated[str, Field(pattern=r"^((area_km2|count):zone_class=[a-z0-9_]+)?$")] = ""
    section: str = ""
    lines: LINES
    text: str = ""

    @field_validator("base_value", "target_value", "base_year", "target_year",
                     "comparator", mode="before")
    @classmethod
    def _blank_is_none(cls, value):
        if isinstance(value, str):
            value = parse_number_text(value)
        return None if value == "" else value


class PlaceRow(_Strict):
    place_id: ID
    name: str
    name_en: str
    longitude: float = Field(ge=-180, le=180)
    latitude: float = Field(ge=-90, le=90)
    source: str = Field(min_length=3)
    licence: str = Field(min_length=2)


@dataclass
class PlanSource:
    """A plan's validated source: metadata, layer specs and tables, with where each came from."""

    plan_id: str
    folder: Path
    meta: PlanMeta
    layers: dict[str, LayerSpec]
    rules: list[RuleSpec]
    statements: list[StatementSpec]
    indicators: list[IndicatorRow]
    places: dict[str, PlaceRow]
    lines: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records the line of every mapping under the key ``__line__`` and every
    key given twice in one mapping in ``duplicates`` (YAML keeps the last one silently)."""

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicates: list[tuple[str, int, int]] = []


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    first_line: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            if key in first_line:
                loader.duplicates.append((str(key), first_line[key], line))
            else:
                first_line[key] = line
        except TypeError:       # an unhashable key: construct_mapping reports it
            pass
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip_lines(obj):
    if isinstance(obj, dict):
        return {k: _strip_lines(v) for k, v in obj.items() if k != "__line__"}
    if isinstance(obj, list):
        return [_strip_lines(v) for v in obj]
    return obj


def _line_at(obj, loc: tuple) -> int | None:
    line = obj.get("__line__") if isinstance(obj, dict) else None
    for key in loc:
        try:
            obj = obj[key]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(obj, dict) and "__line__" in obj:
            line = obj["__line__"]
    return line


def _element_at(obj, loc: tuple) -> str:
    """Human name of the element a pydantic error location points into (its ``id``)."""
    element = "file"
    for key in loc:
        try:
            obj = obj[key]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(obj, dict) and "id" in obj:
            element = str(obj["id"])
    return element


def _problems_from(error: ValidationError, file: str, raw) -> list[Problem]:
    out = []
    for err in error.errors():
        loc = tuple(err["loc"])
        # a discriminated union puts the recipe tag after "geometry"; it is noise to a reader
        parts = [str(p) for i, p in enumerate(loc) if i == 0 or loc[i - 1] != "geometry"]
        path = ".".join(parts)
        value = err.get("input")
        shown = "" if isinstance(value, (dict, list)) else f" (got {value!r})"
        out.append(Problem(file, _element_at(raw, loc), f"{path}: {err['msg']}{shown}",
                           _line_at(raw, loc)))
    return out


def _read_text(path: Path, problems: list[Problem], rel: str) -> str | None:
    """The file as UTF-8 text; a problem naming the line and column of the first bad byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[line_start:exc.start].decode("utf-8", errors="replace")) + 1
        problems.append(Problem(rel, "file", f"not UTF-8 text: byte "
                                             f"{data[exc.start:exc.start + 1]!r} at column "
                                             f"{column} ({exc.reason}); save the file as UTF-8",
                                line))
        return None


def _read_yaml(path: Path, problems: list[Problem], rel: str):
    text = _read_text(path, problems, rel)
    if text is None:
        return None
    loader = _LineLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.append(Problem(rel, "file", f"not valid YAML: {getattr(exc, 'problem', exc)}",
                                mark.line + 1 if mark else None))
        return None
    finally:
        loader.dispose()
    for key, first, again in loader.duplicates:
        problems.append(Problem(rel, "file", f"key {key!r} is given twice (first on line "
                                             f"{first}); YAML would keep only the last one",
                                again))
    if not isinstance(data, dict):
        problems.append(Problem(rel, "file", "must be a YAML mapping"))
        return None
    return data


def _read_csv(path: Path, problems: list[Problem], rel: str) -> list[tuple[int, dict]]:
    """``(line, row)`` of every CSV row.

    Values never span lines in a plan's CSV files, so a row that does has lost a closing
    quote: it is reported at the line where it starts, not where the reader found the next
    quote, and the rows it swallowed are not read as values.
    """
    text = _read_text(path, problems, rel)
    if text is None:
        return []
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    rows = []
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(rel, "row", f"cannot be read as CSV: {exc}", start))
            break
        if not values:
            continue
        if reader.line_num > start:
            problems.append(Problem(rel, "row", f"a quoted value opened on line {start} runs on "
                                                f"to line {reader.line_num}: is a closing quote "
                                                "missing?", start))
            continue
        if len(values) > len(header):
            problems.append(Problem(rel, "row", "more values than header columns", start))
        rows.append((start, dict(zip(header, values + [None] * (len(header) - len(values))))))
    return rows


_BOOKMARK = re.compile(r"\[bookmark: [^\]]*\]")
# Persian (۰–۹) and Arabic-Indic (٠–٩) digits, the Arabic decimal separator and thousands
# separator, so that numbers copied from the Amayesh documents parse as numbers.
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩٫", "01234567890123456789.", "٬")


def parse_number_text(text: str) -> str:
    """Normalise the digits of a number written in Persian or Arabic script.

    Examples
    --------
    >>> parse_number_text("۱۴۱۴")
    '1414'
    >>> parse_number_text("۲٫۵")
    '2.5'
    >>> parse_number_text("۱٬۲۰۰")
    '1200'

    A Latin comma is left alone, so an ambiguous "2,5" fails validation instead of becoming 25.
    """
    return text.translate(_DIGITS).strip()


def normalise_text(text: str) -> str:
    """NFC, Word bookmark noise removed, all white space dropped (for citation matching)."""
    text = unicodedata.normalize("NFC", _BOOKMARK.sub("", text))
    return re.sub(r"\s+", "", text)


def source_path(document: str) -> Path | None:
    """The source document in :attr:`settings.sources_dir <zoning.settings.Settings>`, if there."""
    folder = settings.sources_dir
    if folder is None:
        return None
    path = Path(folder) / document
    return path if path.is_file() else None


@cache
def _document_lines(path: Path) -> tuple[str, ...]:
    return tuple(path.read_text(encoding="utf-8").split("\n"))


def seed_lines(document: str) -> tuple[str, ...]:
    """Lines of a source document (1-based: ``seed_lines(doc)[n - 1]``).

    Raises ``FileNotFoundError`` when the document is not in the sources folder.
    """
    path = source_path(document)
    if path is None:
        raise FileNotFoundError(f"source document {document} is not in the sources folder "
                                f"({settings.sources_dir or 'ZONING_SOURCES is not set'})")
    return _document_lines(path)


def check_document(meta: "PlanMeta") -> tuple[bool, str | None]:
    """Whether the plan's quotes can be verified here, and why not if the document is wrong.

    Returns ``(True, None)`` when the source document is at hand and is the one the plan
    records (same SHA-256 and size), ``(False, None)`` when it is not at hand, and
    ``(False, message)`` when a file of that name is a different document.
    """
    path = source_path(meta.source_document)
    if path is None:
        return False, None
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != meta.source_bytes or digest != meta.source_sha256:
        return False, (f"{path} is not the document this plan was encoded from: "
                       f"{len(data)} bytes, sha256 {digest[:12]}…; plan.yaml records "
                       f"{meta.source_bytes} bytes, sha256 {meta.source_sha256[:12]}…")
    return True, None


_TOLD_UNVERIFIED: set[str] = set()


def _say_unverified(plan_id: str, document: str) -> None:
    if plan_id in _TOLD_UNVERIFIED:
        return
    _TOLD_UNVERIFIED.add(plan_id)
    where = (f"it is not in {settings.sources_dir}" if settings.sources_dir
             else "set ZONING_SOURCES to a folder of the source texts to verify them")
    warnings.warn(f"{plan_id}: quotes not re-verified against the source document "
                  f"{document} ({where})", SourcesNotVerifiedWarning, stacklevel=4)


def empty_quote(source: Source, quoted: str) -> str | None:
    """Why ``quoted`` holds no words (empty, or only ellipses), or None; needs no document."""
    if any(normalise_text(e) for e in re.split(r"…|\.\.\.", quoted)):
        return None
    what = "is empty" if not quoted.strip() else "holds nothing but ellipses"
    return f"the quote {quoted.strip()!r} {what}: give the original words of line(s) {source.lines}"


def check_citation(document: str, source: Source, quoted: str) -> str | None:
    """Return why ``quoted`` does not occur in the cited lines, or None when it does.

    Returns None as well when the document is not at hand (nothing can be checked), unless
    the quote is empty or only ellipses, which needs no document to see.
    """
    why = empty_quote(source, quoted)
    if why:
        return why
    try:
        lines = seed_lines(document)
    except FileNotFoundError:
        return None
    ranges = source.line_ranges()
    beyond = [f"{a}-{b}" if a != b else str(a) for a, b in ranges if b > len(lines) or a < 1]
    if beyond:
        return (f"cites line(s) {', '.join(beyond)} but {document} has {len(lines)} lines")
    # Each range is at most the document long, so the haystack never outgrows the document.
    haystack = normalise_text("".join("".join(lines[a - 1:b]) for a, b in ranges))
    for excerpt in re.split(r"…|\.\.\.", quoted):
        needle = normalise_text(excerpt)
        if needle and needle not in haystack:
            return (f"quoted text {excerpt.strip()[:60]!r} does not occur in line(s) "
                    f"{source.lines} of {document}")
    return None


def plan_folder(plan_id: str, layers_dir: Path | None = None) -> Path:
    """Folder of a plan's source files; :class:`UnknownPlanError` when there is none."""
    layers_dir = Path(layers_dir or settings.layers_dir)
    folder = layers_dir / plan_id
    if not (folder / "plan.yaml").exists():
        known = ", ".join(p.parent.name for p in sorted(layers_dir.glob("*/plan.yaml")))
        raise UnknownPlanError(f"no plan {plan_id!r} (no {folder}/plan.yaml); known plans: {known}")
    return folder


def read_plan_source(plan_id: str, *, check_references: bool = True,
                     layers_dir: Path | None = None) -> PlanSource:
    """Read and validate ``layers/<plan_id>/``; raise :class:`PlanSpecError` with every problem.

    Parameters
    ----------
    plan_id : str
        Folder name under ``layers/``.
    check_references : bool
        Also resolve every place, unit and river reference against the reference data.
    layers_dir : path, optional
        Folder holding the plan folders (default: the repository's ``layers/``).
    """
    folder = plan_folder(plan_id, layers_dir)
    _current_recipes()
    problems: list[Problem] = []

    def rel(path: Path) -> str:
        return str(path.relative_to(folder.parent.parent))

    raw_meta = _read_yaml(folder / "plan.yaml", problems, rel(folder / "plan.yaml"))
    meta = None
    if raw_meta is not None:
        try:
            meta = PlanMeta.model_validate(_strip_lines(raw_meta))
        except ValidationError as exc:
            problems += _problems_from(exc, rel(folder / "plan.yaml"), raw_meta)
        if meta is not None and meta.plan_id != plan_id:
            problems.append(Problem(rel(folder / "plan.yaml"), "plan_id",
                                    f"plan_id {meta.plan_id!r} differs from the folder name"))

    layers: dict[str, LayerSpec] = {}
    raw_layers: dict[str, dict] = {}
    files: dict[str, str] = {}
    lines: dict[str, int] = {}
    held = _plan_files(folder, problems, rel)
    for path, raw in held["layer"]:
        stem = path.stem
        try:
            spec = LayerSpec.model_validate(_strip_lines(raw))
        except ValidationError as exc:
            problems += _problems_from(exc, rel(path), raw)
            continue
        if spec.layer != stem:
            problems.append(Problem(rel(path), "layer",
                                    f"layer name {spec.layer!r} must equal the file stem {stem!r}",
                                    raw.get("__line__")))
        if spec.theme and spec.theme not in _themes():
            problems.append(Problem(rel(path), "theme",
                                    f"unknown theme {spec.theme!r}; themes are the rows of "
                                    f"styles/themes.csv: {', '.join(_themes())}",
                                    raw.get("__line__")))
        layers[stem] = spec
        raw_layers[stem] = raw
        for i, feat in enumerate(spec.features):
            key = f"{stem}/{feat.id}"
            if key in files:
                problems.append(Problem(rel(path), feat.id, f"duplicate feature id {feat.id!r}",
                                        raw["features"][i].get("__line__")))
            files[key] = rel(path)
            lines[key] = raw["features"][i].get("__line__")

    rules = _read_list(held["rules"], "rules", RuleSpec, problems, rel, files, lines)
    statements = _read_list(held["statements"], "statements", StatementSpec, problems, rel, files,
                            lines)

    indicators: list[IndicatorRow] = []
    seen_indicators: set[tuple[str, object]] = set()
    for path in filter(Path.exists, [folder / "indicators.csv"]):
        for line_no, ind in _validated_rows(path, IndicatorRow, "indicator_id", problems, rel):
            key = (ind.indicator_id, ind.target_year)
            if key in seen_indicators:
                problems.append(Problem(rel(path), ind.indicator_id,
                                        f"duplicate indicator for target year {ind.target_year}",
                                        line_no))
            seen_indicators.add(key)
            indicators.append(ind)
            files[f"indicator:{ind.indicator_id}:{ind.target_year}"] = rel(path)
            lines[f"indicator:{ind.indicator_id}:{ind.target_year}"] = line_no

    places: dict[str, PlaceRow] = {}
    places_path = folder / "places.csv"
    if places_path.exists():
        for _, pl in _validated_rows(places_path, PlaceRow, "place_id", problems, rel):
            places[pl.place_id] = pl

    if meta is None:
        raise PlanSpecError(plan_id, problems)

    source = PlanSource(plan_id, folder, meta, layers, rules, statements, indicators, places,
                        lines, files)
    problems += _semantic_problems(source, check_references)
    if problems:
        raise PlanSpecError(plan_id, problems)
    return source


def _validated_rows(path: Path, model, id_field: str, problems: list[Problem], rel):
    """Yield ``(line, row)`` for every CSV row that validates; record the others as problems."""
    for line_no, row in _read_csv(path, problems, rel(path)):
        try:
            yield line_no, model.model_validate(row)
        except ValidationError as exc:
            for err in exc.errors():
                problems.append(Problem(rel(path), row.get(id_field) or "row",
                                        f"{'.'.join(map(str, err['loc']))}: {err['msg']}",
                                        line_no))


#: What a plan's YAML file holds, told by its top-level key: a feature layer (``layer:``), a
#: list of rules (``rules:``) or a list of statements (``statements:``). ``plan.yaml`` is
#: found by its name; every other ``*.yaml`` in the plan folder holds exactly one of these.
PLAN_FILE_KINDS = ("layer", "rules", "statements")
#: The plan's CSV files, found by their names (a CSV has no key to say what it holds):
#: indicators and local places are read; the digest coverage table is read by the tests.
PLAN_CSV_FILES = ("indicators.csv", "places.csv", "digest_coverage.csv")


def _plan_files(folder: Path, problems: list[Problem],
                rel) -> dict[str, list[tuple[Path, dict]]]:
    """Every YAML file of a plan but ``plan.yaml``, read once and sorted by what it holds.

    Returns ``{kind: [(path, raw mapping), …]}`` for each of :data:`PLAN_FILE_KINDS`, files in
    name order. A file holding none or more than one kind, a CSV file of no known name and a
    ``.yml`` file (which would be skipped) are problems naming the file.
    """
    held: dict[str, list[tuple[Path, dict]]] = {kind: [] for kind in PLAN_FILE_KINDS}
    kinds_told = "a layer (layer:), rules (rules:) or statements (statements:)"
    for path in sorted(folder.glob("*.yaml")):
        if path.name == "plan.yaml":
            continue
        raw = _read_yaml(path, problems, rel(path))
        if raw is None:
            continue
        kinds = [kind for kind in PLAN_FILE_KINDS if kind in raw]
        if len(kinds) == 1:
            held[kinds[0]].append((path, raw))
            continue
        message = (f"holds {' and '.join(f'{k}:' for k in kinds)} together; a plan file holds "
                   f"one kind of content ({kinds_told}): split it, one file per kind" if kinds else
                   f"holds no plan content: a plan's YAML file other than plan.yaml holds "
                   f"{kinds_told}")
        problems.append(Problem(rel(path), "file", message, raw.get("__line__")))
    for path in sorted([*folder.glob("*.csv"), *folder.glob("*.yml")]):
        if path.name not in PLAN_CSV_FILES:
            problems.append(Problem(rel(path), "file",
                                    f"unknown plan file, not read: YAML files end in .yaml, and "
                                    f"the CSV files of a plan are {', '.join(PLAN_CSV_FILES)}"))
    return held


def _read_list(held, kind, model, problems, rel, files, lines):
    out = []
    for path, raw in held:
        items = raw.get(kind)
        if not isinstance(items, list):
            problems.append(Problem(rel(path), "file", f"must hold a list under '{kind}:'",
                                    raw.get("__line__")))
            continue
        for item in items:
            try:
                obj = model.model_validate(_strip_lines(item))
            except ValidationError as exc:
                problems += _problems_from(exc, rel(path), item)
                continue
            key = f"{kind}:{obj.id}"
            if key in files:
                problems.append(Problem(rel(path), obj.id, f"duplicate {kind[:-1]} id {obj.id!r}",
                                        item.get("__line__")))
            files[key] = rel(path)
            lines[key] = item.get("__line__") if isinstance(item, dict) else None
            out.append(obj)
    return out


def _semantic_problems(src: PlanSource, check_references: bool) -> list[Problem]:
    from . import reference

    problems: list[Problem] = []
    classes = set(zone_classes().index)
    known_activities = set(activities().index)
    doc = src.meta.source_document
    plan_file = str((src.folder / "plan.yaml").relative_to(src.folder.parent.parent))

    def add(key: str, element: str, message: str) -> None:
        problems.append(Problem(src.files.get(key, plan_file), element, message,
                                src.lines.get(key)))

    verifiable, wrong_document = check_document(src.meta)
    if wrong_document:
        problems.append(Problem(plan_file, "source_document", wrong_document))
    elif not verifiable:
        _say_unverified(src.meta.plan_id, doc)

    def cite(document: str, source: Source, quoted: str) -> str | None:
        if verifiable:
            return check_citation(document, source, quoted)
        return empty_quote(source, quoted)

    why = cite(doc, src.meta.source, src.meta.source.text)
    if why:
        problems.append(Problem(plan_file, "source", why))

    feature_keys = {k for k in src.files if "/" in k and ":" not in k}

    extent = None
    if check_references:
        extent_parts = []
        for ref in src.meta.extent.units:
            try:
                extent_parts.append(reference.unit(ref)[0])
            except ReferenceLookupError as exc:
                problems.append(Problem(plan_file, "extent", str(exc)))
        if extent_parts and len(extent_parts) == len(src.meta.extent.units):
            extent = shapely.union_all(extent_parts)
    recipe_context = CheckContext(src.folder, src.places, frozenset(feature_keys),
                                  check_references, extent)

    dependencies: dict[str, list[str]] = {}

    for name, layer in src.layers.items():
        for feat in layer.features:
            key = f"{name}/{feat.id}"
            if feat.zone_class not in classes:
                add(key, feat.id, f"unknown zone_class {feat.zone_class!r} "
                                  "(add it to layers/zone_classes.csv)")
            why = cite(doc, feat.source, feat.source.text)
            if why:
                add(key, feat.id, why)
            if feat.stated_area is not None:
                why = cite(doc, feat.stated_area, feat.stated_area.text)
                if why or not feat.stated_area.text.strip():
                    add(key, feat.id, "stated_area: " + (why or "text (the plan's words "
                                                               "stating the size) is empty"))
                if layer.geometry_type != "polygon":
                    add(key, feat.id, "stated_area is only meaningful in polygon layers")
            g = feat.geometry
            for message in recipe_problems(g, layer, recipe_context):
                add(key, feat.id, message)
            within = layer.tessellation.within if layer.tessellation else None
            dependencies[key] = [ref for ref in g.depends_on() + [g.clip, within]
                                 if ref in feature_keys]

    for cycle in _cycles(dependencies):
        add(cycle[0], cycle[0].split("/", 1)[1],
            "circular geometry: " + " → ".join(cycle + [cycle[0]])
            + " (each needs the next through 'of', 'clip' or 'within')")

    for rule in src.rules:
        key = f"rules:{rule.id}"
        for zc in rule.applies_to.zone_classes:
            if zc not in classes:
                add(key, rule.id, f"unknown zone_class {zc!r} in applies_to")
        for ref in rule.applies_to.features:
            if ref not in feature_keys:
                add(key, rule.id, f"unknown feature {ref!r} in applies_to")
        if not rule.applies_to.zone_classes and not rule.applies_to.features:
            add(key, rule.id, "applies_to names no zone class and no feature")
        for act in rule.activities:
            if act not in known_activities:
                add(key, rule.id, f"unknown activity {act!r} (see layers/activities.csv)")
        why = cite(doc, rule.source, rule.text)
        if why:
            add(key, rule.id, why)

    for st in src.statements:
        key = f"statements:{st.id}"
        for ref in st.related_features:
            if ref not in feature_keys:
                add(key, st.id, f"unknown feature {ref!r} in related_features")
        why = cite(doc, st.source, st.text)
        if why:
            add(key, st.id, why)

    for ind in src.indicators:
        key = f"indicator:{ind.indicator_id}:{ind.target_year}"
        why = cite(doc, Source(section=ind.section, lines=ind.lines), ind.text)
        if why:
            add(key, ind.indicator_id, why)
        if ind.measure:
            zc = ind.measure.split("=", 1)[1]
            if zc not in classes:
                add(key, ind.indicator_id, f"measure names unknown zone_class {zc!r}")
    return problems


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Every cycle of a dependency graph once, each starting at its smallest key.

    Examples
    --------
    >>> _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["d"], "e": ["a"]})
    [['a', 'b', 'c'], ['d']]
    """
    found: dict[tuple, list[str]] = {}
    done: set[str] = set()
    for root in sorted(graph):
        if root in done:
            continue
        path: list[str] = []
        on_path: dict[str, int] = {}
        stack = [(root, iter(graph.get(root, [])))]
        path.append(root)
        on_path[root] = 0
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                del on_path[node]
                done.add(node)
            elif child in on_path:
                cycle = path[on_path[child]:]
                first = cycle.index(min(cycle))
                cycle = cycle[first:] + cycle[:first]
                found.setdefault(tuple(cycle), cycle)
            elif child not in done:
                on_path[child] = len(path)
                path.append(child)
                stack.append((child, iter(graph.get(child, []))))
    return sorted(found.values())


def indicators_frame(src: PlanSource) -> pd.DataFrame:
    cols = list(IndicatorRow.model_fields)
    return pd.DataFrame([i.model_dump() for i in src.indicators], columns=cols)

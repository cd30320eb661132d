"""Geometry recipes: the one place where each recipe is defined.

A geometry recipe is the ``geometry:`` mapping of a feature in ``layers/<plan>/<layer>.yaml``
(``{recipe: admin_units, units: ["CN:141100"]}``). Each recipe is one class here, registered
in :data:`RECIPES` under its tag, and carries everything about it:

- its **schema**: the pydantic fields of the mapping (all recipes share the modifiers
  ``buffer_km``, ``clip``, ``accuracy_m`` and ``envelope`` of :class:`GeometryRecipe`);
- its **checks**: :meth:`GeometryRecipe.check` yields what is wrong with one use of it, given
  the plan around it as a :class:`CheckContext`;
- its **resolution**: :meth:`GeometryRecipe.shape` turns it into a shape with a basis, using
  :mod:`zoning.reference` and :mod:`zoning.geometry`; the modifiers are applied after it by
  :func:`resolve`;
- its **basis and badge**: the ``basis`` it draws on (a row of ``layers/geometry_basis.csv``)
  and the badge rule :func:`badge_of_recipe` that every recipe tree follows;
- its **documentation**: the class docstring (``docs/layer-format.md`` cites it).

:mod:`zoning.spec` builds the ``geometry:`` schema from :data:`RECIPES` and calls each
recipe's checks; :mod:`zoning.build` resolves a feature with :func:`resolve`. Neither lists
recipes. How to add one: ``docs/layer-format.md``, "How to add a recipe".

Examples
--------
>>> list(RECIPES)
['plan_area', 'admin_units', 'place', 'corridor', 'river', 'tessellation_cell', 'elevation_band', 'features', 'file']
>>> RECIPES["river"].basis, RECIPES["river"].buffered_basis
('river_line', 'river_buffer')
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Iterator, Literal, Mapping, Protocol, Union

import shapely
from pydantic import BaseModel, ConfigDict, Field

from . import reference
from ._errors import DataFileError, InvalidArgumentError, ReferenceLookupError
from .files import read_vector
from .geometry import (Resolved, buffer_km, default_accuracy, drop_slivers, elevation_bands,
                       voronoi_cells)
from .model import CRS, geometry_bases, least_certain

#: A feature of the same plan: ``<layer>/<id>``.
FEATURE_REF = Annotated[str, Field(pattern=r"^[a-z0-9_]+/[a-z0-9][a-z0-9-]*$")]
#: A reference administrative unit: ``CN:<adcode>`` or ``NE:<code>``.
UNIT_REF = Annotated[str, Field(pattern=r"^(CN|NE):[A-Za-z0-9-]+$")]
#: A GeoNames id, or ``local:<place_id>`` of the plan's ``places.csv``.
PlaceRef = Union[int, Annotated[str, Field(pattern=r"^local:[a-z0-9][a-z0-9-]*$")]]

#: Bases the modifiers give a shape whatever its recipe (rows of ``geometry_basis.csv``).
MODIFIER_BASES = ("envelope", "buffer")


# --------------------------------------------------------------------------- badges

def basis_badge(basis: str) -> str:
    """The badge of one basis or operation (``layers/geometry_basis.csv``).

    >>> basis_badge("river_line")
    'approximate'
    """
    table = geometry_bases()
    if basis not in table.index:
        raise DataFileError(f"basis {basis!r} is not a row of layers/geometry_basis.csv; "
                            "add it there with its badge")
    return table.at[basis, "badge"]


def badge_of_recipe(basis: str, inputs=(), operations=()) -> str:
    """The one rule for every badge: a shape is never more certain than its own basis, any
    input it is made from (features it combines, the region it is clipped to) or any
    operation applied to it (``buffer``, ``envelope``…) — the least certain of them wins.

    >>> badge_of_recipe("derived", inputs=["approximate", "envelope"])
    'envelope'
    >>> badge_of_recipe("admin_units", operations=["buffer"])
    'schematic'
    """
    return least_certain(basis_badge(basis), *inputs, *(basis_badge(o) for o in operations))


# --------------------------------------------------------------------------- contexts

@dataclass(frozen=True)
class CheckContext:
    """What a recipe's checks may see of the plan around it (built by :mod:`zoning.spec`).

    Attributes
    ----------
    folder : Path
        The plan's folder (``layers/<plan_id>``).
    places : mapping
        The plan's own places (``places.csv``) by ``place_id``.
    feature_keys : frozenset of str
        ``<layer>/<id>`` of every feature of the plan.
    check_references : bool
        Whether references are resolved against the reference data (``False``: only the
        plan's own files are read).
    extent : shapely geometry or None
        The plan extent, when its units were resolved.
    """

    folder: Path
    places: Mapping[str, Any]
    feature_keys: frozenset[str]
    check_references: bool
    extent: shapely.Geometry | None = None

    def place_problems(self, ref) -> Iterator[str]:
        """Why a place reference does not resolve (nothing when it does)."""
        if isinstance(ref, str):
            if ref.removeprefix("local:") not in self.places:
                yield f"unknown local place {ref!r} (not in places.csv)"
        elif self.check_references:
            try:
                reference.place(ref)
            except ReferenceLookupError as exc:
                yield str(exc)

    def unit_problems(self, ref) -> Iterator[str]:
        """Why a unit reference does not resolve (nothing when it does)."""
        if self.check_references:
            try:
                reference.unit(ref)
            except ReferenceLookupError as exc:
                yield str(exc)


class ResolveContext(Protocol):
    """What a recipe may ask of the plan while it resolves (:class:`zoning.build` gives it).

    ``plan_area`` and ``plan_area_detail`` are the plan extent and its description;
    ``layers`` the plan's layer specs by name; ``folder`` the plan's folder.
    """

    plan_area: shapely.Geometry
    plan_area_detail: str
    layers: Mapping[str, Any]
    folder: Path

    def units(self, refs) -> tuple[shapely.Geometry, list[str]]:
        """The union of administrative units and their labels."""

    def place(self, ref) -> tuple[shapely.Point, str]:
        """A place (GeoNames id or ``local:`` id) and its label."""

    def feature(self, key: str) -> Resolved:
        """Another feature of the plan, resolved (memoised; cycles are an error)."""

    def region(self, ref: str | None) -> tuple[shapely.Geometry, str]:
        """A clip or tessellation region (``plan_area``, a unit or a feature) and its label."""

    def region_badge(self, ref: str | None) -> str:
        """The badge of a clip or tessellation region."""

    def tessellation(self, layer_name: str) -> dict[str, shapely.Geometry]:
        """The cells of a tessellation layer by feature id (computed once per layer)."""


@dataclass(frozen=True)
class Shape:
    """What a recipe draws before the modifiers: the geometry, its basis and how it was made.

    ``inputs`` are the badges of the shapes it was made from (features it combines, the region
    its cells tile); ``accuracy_m`` is None where the basis's default applies.
    """

    geometry: shapely.Geometry
    basis: str
    detail: str
    accuracy_m: float | None = None
    inputs: tuple[str, ...] = ()


# --------------------------------------------------------------------------- the base

class GeometryRecipe(BaseModel):
    """Keys every recipe accepts: the modifiers, applied in this order after the recipe draws.

    - ``envelope: true`` — the drawn area is one the text says the element *mainly lies
      within*, not its footprint: basis and badge ``envelope``, no accuracy (only on recipes
      with :attr:`allows_envelope`);
    - ``buffer_km`` — buffer in a local equidistant projection; polygon layers only; the basis
      becomes the recipe's :attr:`buffered_basis` and the badge schematic;
    - ``clip: plan_area | <unit ref> | <layer/id>`` — intersect with that region; the region's
      badge becomes an input of the shape's;
    - ``accuracy_m`` — overrides the positional accuracy of the basis.

    Class attributes say what a recipe is; :func:`register` checks them:

    - :attr:`basis` — the ``geometry_basis`` of what it draws (a row of the basis table);
    - :attr:`buffered_basis` — the basis once buffered;
    - :attr:`layer_types` — the layer geometry types it may appear in;
    - :attr:`drawn_as` — ``point`` or ``line`` when it draws one (a polygon layer then needs
      ``buffer_km``), ``polygon`` or ``any`` otherwise;
    - :attr:`allows_envelope` — whether ``envelope: true`` is meaningful on it;
    - :attr:`tessellation` — the ``tessellation: {method:}`` of the only layers it belongs in.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    basis: ClassVar[str]
    buffered_basis: ClassVar[str] = "buffer"
    layer_types: ClassVar[tuple[str, ...]] = ("polygon",)
    drawn_as: ClassVar[str] = "polygon"
    allows_envelope: ClassVar[bool] = False
    tessellation: ClassVar[str | None] = None

    buffer_km: float | None = Field(default=None, gt=0, le=500)
    clip: str | None = None
    accuracy_m: float | None = Field(default=None, ge=0)
    #: The drawn shape is an envelope: an area the text says the element mainly lies within,
    #: not the element's own footprint (basis ``envelope``).
    envelope: bool = False

    def check(self, ctx: CheckContext, layer) -> Iterator[str]:
        """Problems of this use of the recipe beyond its schema (references, counts…)."""
        return iter(())

    def depends_on(self) -> list[str]:
        """Features of the plan this recipe is made from (besides ``clip``)."""
        return []

    def shape(self, ctx: ResolveContext, layer_name: str, feature_id: str) -> Shape:
        """Draw the recipe (before the modifiers)."""
        raise NotImplementedError

    @classmethod
    def cells(cls, layer, within: shapely.Geometry, ctx: ResolveContext
              ) -> list[shapely.Geometry]:
        """Tessellation recipes: the cells of every feature of ``layer``, in feature order."""
        raise NotImplementedError(f"recipe {cls.__name__} draws no tessellation")


#: Every recipe by its tag, in the order the schema lists them.
RECIPES: dict[str, type[GeometryRecipe]] = {}
_version = 0


def recipe_tag(cls: type[GeometryRecipe]) -> str:
    """The tag a recipe class answers to: the one value of its ``recipe`` Literal."""
    values = typing.get_args(cls.model_fields["recipe"].annotation)
    if len(values) != 1 or not isinstance(values[0], str):
        raise InvalidArgumentError(f"{cls.__name__}: declare the tag as recipe: "
                                   "Literal['<name>']")
    return values[0]


def register(cls: type[GeometryRecipe]) -> type[GeometryRecipe]:
    """Add a recipe class to :data:`RECIPES` (a class decorator); spec and build see it next time
    they validate or build."""
    global _version
    tag = recipe_tag(cls)
    if tag in RECIPES and RECIPES[tag] is not cls:
        raise InvalidArgumentError(f"recipe {tag!r} is already registered "
                                   f"({RECIPES[tag].__name__})")
    if not getattr(cls, "basis", None):
        raise InvalidArgumentError(f"recipe {tag!r} ({cls.__name__}) names no basis")
    if cls.drawn_as not in ("point", "line", "polygon", "any"):
        raise InvalidArgumentError(f"recipe {tag!r}: drawn_as must be point, line, polygon or "
                                   "any")
    if cls.tessellation and any(r.tessellation == cls.tessellation for r in RECIPES.values()):
        raise InvalidArgumentError(f"recipe {tag!r}: another recipe already draws "
                                   f"{cls.tessellation!r} tessellations")
    RECIPES[tag] = cls
    _version += 1
    return cls


def unregister(tag: str) -> None:
    """Remove a recipe from :data:`RECIPES` (for recipes registered at run time)."""
    global _version
    del RECIPES[tag]
    _version += 1


def version() -> int:
    """Changes whenever a recipe is registered or removed (so a schema knows to rebuild)."""
    return _version


def schemas() -> tuple[type[GeometryRecipe], ...]:
    """The recipe classes, in :data:`RECIPES` order."""
    return tuple(RECIPES.values())


def recipe_union():
    """The ``geometry:`` type: the registered recipes, told apart by their ``recipe`` tag."""
    return Annotated[Union[schemas()], Field(discriminator="recipe")]


def bases() -> set[str]:
    """Every basis a feature can get from a recipe: each recipe's own and buffered basis and
    the modifiers' (each must be a row of ``layers/geometry_basis.csv``, and every row one
    of these)."""
    out = set(MODIFIER_BASES)
    for cls in RECIPES.values():
        out |= {cls.basis, cls.buffered_basis}
    return out


def tessellation_recipe(method: str) -> type[GeometryRecipe]:
    """The recipe whose cells a ``tessellation: {method: …}`` layer is made of."""
    for cls in RECIPES.values():
        if cls.tessellation == method:
            return cls
    raise InvalidArgumentError(f"no recipe draws {method!r} tessellations")


# --------------------------------------------------------------------------- checks

def problems(recipe: GeometryRecipe, layer, ctx: CheckContext) -> Iterator[str]:
    """Every problem of one feature's recipe in ``layer``: where it may be used, its own
    checks and its ``clip`` — messages, without the file and element (the caller adds them).
    """
    cls, tag = type(recipe), recipe.recipe
    if recipe.envelope and not cls.allows_envelope:
        # named in the order of their bases in the basis table: most certain first
        rows = list(geometry_bases().index)
        allowed = sorted((n for n, r in RECIPES.items() if r.allows_envelope),
                         key=lambda n: rows.index(RECIPES[n].basis))
        yield (f"envelope: true needs {_article(allowed[0])} {_either(allowed)} recipe, "
               f"not {tag!r}")
    if (layer.geometry_type == "polygon" and cls.drawn_as in ("point", "line")
            and recipe.buffer_km is None):
        yield f"recipe {tag!r} in a polygon layer needs buffer_km"
    if layer.geometry_type not in cls.layer_types:
        accepted = [n for n, r in RECIPES.items() if layer.geometry_type in r.layer_types]
        what = f"only the {accepted[0]!r} recipe" if len(accepted) == 1 else "/".join(accepted)
        yield f"{layer.geometry_type} layer accepts {what}, not {tag!r}"
    if layer.geometry_type != "polygon" and recipe.buffer_km is not None:
        yield "buffer_km is only allowed in polygon layers"
    method = layer.tessellation.method if layer.tessellation else None
    if cls.tessellation and method != cls.tessellation:
        yield (f"{tag} features belong in a layer with "
               f"'tessellation: {{method: {cls.tessellation}}}' and nowhere else")
    elif method and not cls.tessellation:
        yield (f"a '{method}' tessellation layer holds only "
               f"{recipe_tag(tessellation_recipe(method))} features, not {tag!r}")
    yield from recipe.check(ctx, layer)
    clip = recipe.clip
    if clip is not None and clip != "plan_area":
        if clip.startswith(("CN:", "NE:")):
            yield from ctx.unit_problems(clip)
        elif clip not in ctx.feature_keys:
            yield f"clip {clip!r} is neither plan_area, a unit nor a feature"


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


# --------------------------------------------------------------------------- resolution

def resolve(recipe: GeometryRecipe, ctx: ResolveContext, layer_name: str, feature_id: str,
            basis_detail: str = "") -> Resolved:
    """Draw a feature's recipe, apply its modifiers and give it its basis, badge and accuracy.

    ``basis_detail`` is the encoder's interpretation in words; it leads the detail.
    """
    drawn = recipe.shape(ctx, layer_name, feature_id)
    geom, basis, detail, accuracy = drawn.geometry, drawn.basis, drawn.detail, drawn.accuracy_m
    inputs, operations = list(drawn.inputs), []
    if recipe.envelope:
        # The drawn area contains the element; the element is not its footprint.
        basis = "envelope"
        operations.append("envelope")
        detail += "; envelope: the element mainly lies within this area"
    if recipe.buffer_km is not None:
        geom = buffer_km(geom, recipe.buffer_km)
        operations.append("buffer")
        basis = type(recipe).buffered_basis if basis == type(recipe).basis else "buffer"
        detail += f"; buffered {recipe.buffer_km:g} km (schematic width)"
        accuracy = max(accuracy or 0.0, recipe.buffer_km * 1000)
    if recipe.clip is not None:
        region, label = ctx.region(recipe.clip)
        inputs.append(ctx.region_badge(recipe.clip))
        geom = shapely.intersection(geom, region)
        detail += f"; clipped to {label}"
    if accuracy is None:
        accuracy = default_accuracy(basis)
    if recipe.accuracy_m is not None:
        accuracy = recipe.accuracy_m
    if basis_detail:
        detail = f"{basis_detail.strip()} [{detail}]"
    badge = badge_of_recipe(basis, inputs, operations)
    if badge == "envelope":
        # An envelope has no positional accuracy: its edge is not the element's edge.
        accuracy = None
    return Resolved(drop_slivers(shapely.make_valid(geom)), basis, detail, accuracy, badge)


# --------------------------------------------------------------------------- the recipes

@register
class PlanAreaRecipe(GeometryRecipe):
    """``{recipe: plan_area}``: the whole plan extent (the union of ``plan.yaml``'s
    ``extent.units``). Basis ``plan_extent``; may be an envelope."""

    basis: ClassVar[str] = "plan_extent"
    allows_envelope: ClassVar[bool] = True

    recipe: Literal["plan_area"]

    def shape(self, ctx, layer_name, feature_id):
        return Shape(ctx.plan_area, self.basis, ctx.plan_area_detail)


@register
class AdminUnitsRecipe(GeometryRecipe):
    """``{recipe: admin_units, units: [CN:141100, …]}``: the union of real administrative
    polygons. Each unit must lie within the plan extent (at least half of it), or, with
    ``buffer_km``, come within the buffer of it, unless ``context: true`` says the plan names
    it as a neighbour on purpose. Basis ``admin_units``; may be an envelope."""

    basis: ClassVar[str] = "admin_units"
    allows_envelope: ClassVar[bool] = True

    recipe: Literal["admin_units"]
    units: list[UNIT_REF] = Field(min_length=1)
    #: the units lie outside the plan on purpose (neighbours the plan cooperates or links
    #: with); without it every unit must lie within the plan extent
    context: bool = False

    def check(self, ctx, layer):
        for ref in self.units:
            yield from ctx.unit_problems(ref)
        yield from self._outside(ctx)

    def _outside(self, ctx):
        """A unit far from the plan is a typo unless the recipe says it is context."""
        extent = ctx.extent
        if extent is None or self.context:
            return
        for ref in self.units:
            try:
                geom, label = reference.unit(ref)
            except ReferenceLookupError:
                continue                # reported by unit_problems
            if self.buffer_km:
                # a band reaching in from a neighbour: the buffer must reach the plan
                km_per_degree = 111.32 * math.cos(math.radians(extent.centroid.y))
                gap_km = shapely.distance(geom, extent) * km_per_degree
                if gap_km > self.buffer_km:
                    yield (f"unit {label} lies {gap_km:,.0f} km from the plan extent, beyond "
                           f"its buffer_km {self.buffer_km:g}; write 'context: true' in the "
                           "recipe if it is meant")
                continue
            inside = shapely.intersection(geom, extent).area / geom.area if geom.area else 0
            if inside < 0.5:
                yield (f"unit {label} lies outside the plan extent ({inside:.0%} of it inside); "
                       "write 'context: true' in the recipe if the plan names it as a "
                       "neighbour on purpose")

    def shape(self, ctx, layer_name, feature_id):
        geom, labels = ctx.units(self.units)
        return Shape(geom, self.basis, "union of " + "; ".join(labels))


@register
class PlaceRecipe(GeometryRecipe):
    """``{recipe: place, place: 1799869}`` or ``places: [ref, …]``: gazetteer point(s) — a
    GeoNames id or ``local:<place_id>`` of the plan's ``places.csv``. Basis
    ``gazetteer_point``; buffered, ``gazetteer_buffer``. The only recipe of point layers."""

    basis: ClassVar[str] = "gazetteer_point"
    buffered_basis: ClassVar[str] = "gazetteer_buffer"
    layer_types: ClassVar[tuple[str, ...]] = ("polygon", "point")
    drawn_as: ClassVar[str] = "point"

    recipe: Literal["place"]
    place: PlaceRef | None = None
    places: list[PlaceRef] | None = None

    def refs(self) -> list:
        return ([self.place] if self.place is not None else []) + list(self.places or [])

    def check(self, ctx, layer):
        refs = self.refs()
        if not refs:
            yield "place recipe needs 'place' or 'places'"
        for ref in refs:
            yield from ctx.place_problems(ref)

    def shape(self, ctx, layer_name, feature_id):
        pts = [ctx.place(r) for r in self.refs()]
        geom = pts[0][0] if len(pts) == 1 else shapely.MultiPoint([p for p, _ in pts])
        return Shape(geom, self.basis, "; ".join(label for _, label in pts))


@register
class CorridorRecipe(GeometryRecipe):
    """``{recipe: corridor, through: [ref, ref, …]}``: straight segments through two or more
    places in order — shows a connection, not an alignment. Basis ``schematic_corridor``
    (also when buffered)."""

    basis: ClassVar[str] = "schematic_corridor"
    buffered_basis: ClassVar[str] = "schematic_corridor"
    layer_types: ClassVar[tuple[str, ...]] = ("polygon", "line")
    drawn_as: ClassVar[str] = "line"

    recipe: Literal["corridor"]
    through: list[PlaceRef] = Field(min_length=2)

    def check(self, ctx, layer):
        for ref in self.through:
            yield from ctx.place_problems(ref)

    def shape(self, ctx, layer_name, feature_id):
        pts = [ctx.place(r) for r in self.through]
        return Shape(shapely.LineString([p for p, _ in pts]), self.basis,
                     "straight segments through " + " → ".join(label for _, label in pts))


@register
class RiverRecipe(GeometryRecipe):
    """``{recipe: river, river: fen, from: ref, to: ref}``: a curated named river
    (``data/reference/named_rivers/<id>.yaml``) traced through the WDB II network, optionally
    only the section between two places. Basis ``river_line``; buffered, ``river_buffer``."""

    basis: ClassVar[str] = "river_line"
    buffered_basis: ClassVar[str] = "river_buffer"
    layer_types: ClassVar[tuple[str, ...]] = ("polygon", "line")
    drawn_as: ClassVar[str] = "line"

    recipe: Literal["river"]
    river: str
    from_: PlaceRef | None = Field(default=None, alias="from")
    to: PlaceRef | None = None

    def check(self, ctx, layer):
        for ref in (self.from_, self.to):
            if ref is not None:
                yield from ctx.place_problems(ref)
        if ctx.check_references:
            try:
                spec = reference.named_river_spec(self.river)
                for anchor in spec["via"]:
                    reference.place(anchor)
                # following the network is cached, so each river is traced once
                reference.river_line(self.river)
            except ReferenceLookupError as exc:
                yield str(exc)

    def shape(self, ctx, layer_name, feature_id):
        geom, detail = reference.river_line(self.river, self.from_, self.to)
        if self.from_ is not None or self.to is not None:
            detail += f"; section from {self.from_} to {self.to}"
        return Shape(geom, self.basis, detail)


@register
class TessellationCellRecipe(GeometryRecipe):
    """``{recipe: tessellation_cell, place: ref}``: the Voronoi cell of a seat among the seats
    of its layer, clipped to the layer's ``within`` — only in a layer with ``tessellation:
    {method: voronoi}``. Basis ``schematic_voronoi``."""

    basis: ClassVar[str] = "schematic_voronoi"
    tessellation: ClassVar[str] = "voronoi"

    recipe: Literal["tessellation_cell"]
    place: PlaceRef

    def check(self, ctx, layer):
        yield from ctx.place_problems(self.place)

    @classmethod
    def cells(cls, layer, within, ctx):
        return voronoi_cells([ctx.place(f.geometry.place)[0] for f in layer.features], within)

    def shape(self, ctx, layer_name, feature_id):
        within = ctx.layers[layer_name].tessellation.within
        return Shape(ctx.tessellation(layer_name)[feature_id], self.basis,
                     f"Voronoi cell of {ctx.place(self.place)[1]} among the seats of layer "
                     f"{layer_name}, clipped to {within}", inputs=(ctx.region_badge(within),))


@register
class ElevationBandRecipe(GeometryRecipe):
    """``{recipe: elevation_band, band: i}``: the DEM cells of band *i* (0 = below the first
    break, ``len(breaks_m)`` = above the last) inside the layer's ``within`` — only in a layer
    with ``tessellation: {method: elevation_bands, raster:, breaks_m:, sieve_px:}``. Nodata at
    the clip's edge is filled from neighbours and patches under ``sieve_px`` cells merged, so
    the bands tile ``within``. Basis ``schematic_dem_bands``."""

    basis: ClassVar[str] = "schematic_dem_bands"
    tessellation: ClassVar[str] = "elevation_bands"

    recipe: Literal["elevation_band"]
    band: int = Field(ge=0)      # 0 = below the first break, len(breaks_m) = above the last

    def check(self, ctx, layer):
        t = layer.tessellation
        if t is None or t.method != self.tessellation:
            return
        if self.band > len(t.breaks_m):
            yield (f"band {self.band} does not exist: breaks_m {t.breaks_m} make "
                   f"{len(t.breaks_m) + 1} bands (0…)")
        elif ctx.check_references:
            try:
                reference.elevation_path(t.raster)
            except ReferenceLookupError as exc:
                yield str(exc)

    @classmethod
    def cells(cls, layer, within, ctx):
        t = layer.tessellation
        bands = elevation_bands(reference.elevation_path(t.raster), t.breaks_m, within,
                                t.sieve_px)
        return [bands[f.geometry.band] for f in layer.features]

    def shape(self, ctx, layer_name, feature_id):
        t = ctx.layers[layer_name].tessellation
        limits = [None, *t.breaks_m, None]
        lo, hi = limits[self.band], limits[self.band + 1]
        span = (f"below {hi:g} m" if lo is None else f"{lo:g} m and above" if hi is None
                else f"{lo:g}–{hi:g} m")
        detail = (f"elevation {span} on NOAA GLOBE 30\" (data/reference/globe_{t.raster}.tif; "
                  f"bands at {', '.join(f'{b:g}' for b in t.breaks_m)} m chosen by the "
                  f"encoder), patches under {t.sieve_px} cells merged, clipped to {t.within}")
        return Shape(ctx.tessellation(layer_name)[feature_id], self.basis, detail,
                     inputs=(ctx.region_badge(t.within),))


@register
class FeaturesRecipe(GeometryRecipe):
    """``{recipe: features, of: [layer/id, …], op: union | intersection | difference}``: a
    shape derived from other features of the plan; ``plan_area`` may stand for the whole plan
    area (a remainder: ``of: [plan_area, layer/a, layer/b], op: difference``). Basis
    ``derived``; its badge is the least certain of its parts', its accuracy the coarsest.
    May be an envelope."""

    basis: ClassVar[str] = "derived"
    allows_envelope: ClassVar[bool] = True

    recipe: Literal["features"]
    #: Features of the plan; ``plan_area`` may stand for the whole plan area (a remainder:
    #: ``of: [plan_area, layer/a, layer/b], op: difference``).
    of: list[Union[Literal["plan_area"], FEATURE_REF]] = Field(min_length=1)
    op: Literal["union", "intersection", "difference"] = "union"

    def check(self, ctx, layer):
        for ref in self.of:
            if ref not in ctx.feature_keys and ref != "plan_area":
                yield f"unknown feature {ref!r} in 'of'"

    def depends_on(self):
        return list(self.of)

    def shape(self, ctx, layer_name, feature_id):
        parts = [ctx.feature(ref) if ref != "plan_area" else Resolved(
            ctx.plan_area, "plan_extent", ctx.plan_area_detail,
            default_accuracy("plan_extent"), basis_badge("plan_extent")) for ref in self.of]
        geoms = [p.geometry for p in parts]
        if self.op == "union":
            geom = shapely.union_all(geoms)
        elif self.op == "intersection":
            geom = shapely.intersection_all(geoms)
        else:
            geom = shapely.difference(geoms[0], shapely.union_all(geoms[1:]))
        accuracies = [p.accuracy_m for p in parts if p.accuracy_m is not None]
        return Shape(geom, self.basis, f"{self.op} of " + ", ".join(self.of),
                     max(accuracies, default=None), tuple(p.badge for p in parts))


@register
class FileRecipe(GeometryRecipe):
    """``{recipe: file, path: data.gpkg, layer: name, where: {col: value}}``: an authoritative
    layer the user supplies next to the plan (any format GDAL reads, any CRS); the union of the
    rows matching ``where``. Basis ``authoritative``."""

    basis: ClassVar[str] = "authoritative"
    layer_types: ClassVar[tuple[str, ...]] = ("polygon", "line")
    drawn_as: ClassVar[str] = "any"

    recipe: Literal["file"]
    path: str
    layer: str | None = None
    where: dict[str, Any] | None = None

    def check(self, ctx, layer):
        if not (ctx.folder / self.path).exists():
            yield f"file {self.path!r} not found next to the plan"

    def shape(self, ctx, layer_name, feature_id):
        gdf = read_vector(ctx.folder / self.path, layer=self.layer)
        for col, value in (self.where or {}).items():
            gdf = gdf[gdf[col] == value]
        if gdf.empty:
            raise ReferenceLookupError(f"file {self.path}: no feature matches {self.where}")
        return Shape(shapely.union_all(gdf.to_crs(CRS).geometry.values), self.basis,
                     f"file {self.path} {self.where or ''}")


#: The package's own recipes, as registered when this module was imported.
BUILT_IN: Mapping[str, type[GeometryRecipe]] = dict(RECIPES)

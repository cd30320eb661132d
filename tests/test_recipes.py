"""The recipe registry is the only list of geometry recipes.

Spec, build, the basis table and the docs all follow :data:`zoning.recipes.RECIPES`: the
example recipe of docs/layer-format.md ("How to add a recipe"), registered here as the docs
say, validates and builds with no other file touched, and the moment it is removed the same
plan fails validation.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
import textwrap
from pathlib import Path
from typing import ClassVar, Literal

import pyproj
import pytest
import shapely

from zoning import PlanSpecError, build_plan, read_plan_source, recipes
from zoning._errors import DataFileError, InvalidArgumentError
from zoning.model import LAYERS_DIR
from zoning.recipes import RECIPES, GeometryRecipe

ROOT = Path(__file__).resolve().parent.parent

DOCS = ROOT / "docs" / "layer-format.md"

RINGS = """\
layer: rings
title: 环带
title_en: Rings
family: overlay
geometry_type: polygon
features:
  - id: city-ring
    name: 城区环带
    name_en: City ring
    zone_class: urban_centre
    regulation: indicative
    source: {section: "城镇体系", lines: "486", text: "中心城区"}
    geometry: {recipe: ring, place: 1784818, inner_km: 5, outer_km: 10}
"""


def _basis_table() -> dict[str, str]:
    with open(LAYERS_DIR / "geometry_basis.csv", encoding="utf-8") as fh:
        return {row["code"]: row["badge"] for row in csv.DictReader(fh)}


def _documented_example() -> str:
    """The example recipe of docs/layer-format.md, "How to add a recipe"."""
    section = DOCS.read_text(encoding="utf-8").split("### How to add a recipe", 1)[1]
    return textwrap.dedent(section.split("```python\n", 1)[1].split("```", 1)[0])


@pytest.fixture
def ring_recipe():
    """The docs' example recipe, appended to the registry as the docs say, then removed."""
    namespace = dict(vars(recipes))
    exec(compile(_documented_example(), str(DOCS), "exec"), namespace)
    yield namespace["RingRecipe"]
    recipes.unregister("ring")


@pytest.fixture
def plan_dir(tmp_path, test_layers_dir):
    target = tmp_path / "layers"
    shutil.copytree(test_layers_dir, target)
    (target / "cn-test-mini" / "rings.yaml").write_text(RINGS, encoding="utf-8")
    return target


def _geonames_point(geonameid: int) -> tuple[float, float]:
    with open(ROOT / "data" / "reference" / "geonames_places.csv", encoding="utf-8") as fh:
        row = next(r for r in csv.DictReader(fh) if r["geonameid"] == str(geonameid))
    return float(row["longitude"]), float(row["latitude"])


def test_the_documented_recipe_validates_and_builds_with_no_other_change(ring_recipe,
                                                                         plan_dir):
    src = read_plan_source("cn-test-mini", layers_dir=plan_dir)
    assert isinstance(src.layers["rings"].features[0].geometry, ring_recipe)
    plan = build_plan("cn-test-mini", layers_dir=plan_dir)
    row = plan["rings"].iloc[0]
    area_m2, _ = pyproj.Geod(ellps="WGS84").geometry_area_perimeter(row.geometry)
    # a 64-gon inscribed in each circle holds 0.16 % less than the circle
    assert abs(area_m2) / 1e6 == pytest.approx(math.pi * (10**2 - 5**2), rel=0.005)
    lon, lat = _geonames_point(1784818)
    assert row.geometry.centroid.distance(shapely.Point(lon, lat)) < 0.01
    assert not row.geometry.contains(shapely.Point(lon, lat))      # the hole is the centre
    assert row.geometry_basis == "gazetteer_buffer"
    assert row.basis_badge == _basis_table()["gazetteer_buffer"]
    assert row.basis_detail == "5–10 km from GeoNames 1784818 Yongji"


def test_the_documented_recipe_gets_the_shared_checks_and_its_own(ring_recipe, plan_dir):
    rings = plan_dir / "cn-test-mini" / "rings.yaml"
    rings.write_text(RINGS.replace("inner_km: 5", "inner_km: 12")
                     .replace("place: 1784818,", "place: local:nowhere, clip: towns/gone,"),
                     encoding="utf-8")
    towns = plan_dir / "cn-test-mini" / "towns.yaml"
    towns.write_text(towns.read_text().replace(
        "{recipe: place, place: 1784818}", "{recipe: ring, place: 1784818, inner_km: 1, "
                                           "outer_km: 2}"))
    with pytest.raises(PlanSpecError) as info:
        read_plan_source("cn-test-mini", layers_dir=plan_dir)
    got = {(p.file, p.element, p.message, p.line) for p in info.value.problems}
    assert got == {
        ("layers/cn-test-mini/rings.yaml", "city-ring",
         "inner_km 12 must be less than outer_km 10", 7),
        ("layers/cn-test-mini/rings.yaml", "city-ring",
         "unknown local place 'local:nowhere' (not in places.csv)", 7),
        ("layers/cn-test-mini/rings.yaml", "city-ring",
         "clip 'towns/gone' is neither plan_area, a unit nor a feature", 7),
        ("layers/cn-test-mini/towns.yaml", "yongji-city",
         "point layer accepts only the 'place' recipe, not 'ring'", 7),
    }


def test_an_unregistered_recipe_is_unknown_to_the_schema(plan_dir):
    assert "ring" not in RECIPES
    with pytest.raises(PlanSpecError) as info:
        read_plan_source("cn-test-mini", layers_dir=plan_dir)
    (problem,) = info.value.problems
    assert problem.file == "layers/cn-test-mini/rings.yaml"
    assert problem.element == "city-ring"
    tags = re.findall(r"'([a-z_]+)'", problem.message.split("expected tags:")[1])
    assert tags == list(RECIPES)


def test_a_tag_cannot_be_registered_twice():
    with pytest.raises(InvalidArgumentError, match="already registered"):
        @recipes.register
        class Another(GeometryRecipe):
            basis: ClassVar[str] = "derived"
            recipe: Literal["features"]
    assert RECIPES["features"] is recipes.FeaturesRecipe


def test_every_basis_of_the_registry_is_a_row_of_the_table_and_every_row_is_used():
    table = _basis_table()
    for tag, cls in RECIPES.items():
        assert cls.basis in table, tag
        assert cls.buffered_basis in table, tag
    assert set(recipes.MODIFIER_BASES) <= set(table)
    assert recipes.bases() == set(table)
    assert {b: recipes.basis_badge(b) for b in table} == table


def test_an_unknown_basis_is_a_clear_error():
    with pytest.raises(DataFileError, match="not a row of layers/geometry_basis.csv"):
        recipes.basis_badge("hand_drawn")


def test_the_docs_table_lists_every_recipe_with_its_basis():
    text = DOCS.read_text(encoding="utf-8")
    table = text.split("### Geometry recipes", 1)[1].split("| recipe |", 1)[1].split("\n\n")[0]
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| `")]
    documented = {cells[1].strip().strip("`"): cells[-2].strip() for cells in rows}
    assert list(documented) == list(RECIPES)
    for tag, basis in documented.items():
        assert basis.startswith(f"`{RECIPES[tag].basis}`"), tag


def test_every_recipe_is_documented_in_its_docstring():
    for tag, cls in RECIPES.items():
        assert cls.__doc__ and f"recipe: {tag}" in cls.__doc__, tag


def test_envelope_on_a_recipe_without_one_names_the_recipes_that_have_one(plan_dir):
    towns = plan_dir / "cn-test-mini" / "towns.yaml"
    towns.write_text(towns.read_text().replace("{recipe: place, place: 1784818}",
                                               "{recipe: place, place: 1784818, envelope: true}"))
    (plan_dir / "cn-test-mini" / "rings.yaml").unlink()
    with pytest.raises(PlanSpecError) as info:
        read_plan_source("cn-test-mini", layers_dir=plan_dir)
    assert [p.message for p in info.value.problems] == [
        "envelope: true needs an admin_units, plan_area or features recipe, not 'place'"]


def test_a_recipe_registered_at_run_time_keys_the_plan_cache_anew(plan_dir):
    """The persistent cache never hands back a plan built without (or with another) recipe
    registered by the user's code; with only the package's recipes the key is the usual one."""
    from zoning.cache import fingerprint

    plain = fingerprint("cn-test-mini", plan_dir)
    namespace = dict(vars(recipes))
    exec(compile(_documented_example(), str(DOCS), "exec"), namespace)
    try:
        with_ring = fingerprint("cn-test-mini", plan_dir)
    finally:
        recipes.unregister("ring")
    assert with_ring != plain
    assert fingerprint("cn-test-mini", plan_dir) == plain

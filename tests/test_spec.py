"""Plan sources: malformed input gives errors naming file, element and line — all at once."""

import re
import shutil

import pytest

from zoning import PlanSpecError, UnknownPlanError, read_plan_source
from zoning.settings import settings
from zoning.spec import SourcesNotVerifiedWarning, check_citation, normalise_text, Source


@pytest.fixture
def broken_dir(tmp_path, test_layers_dir):
    target = tmp_path / "layers"
    shutil.copytree(test_layers_dir, target)
    return target


def _problems(plan_dir, plan_id="cn-test-mini"):
    with pytest.raises(PlanSpecError) as info:
        read_plan_source(plan_id, layers_dir=plan_dir)
    return info.value.problems


def test_the_test_plan_is_valid(test_layers_dir):
    src = read_plan_source("cn-test-mini", layers_dir=test_layers_dir)
    assert set(src.layers) == {"control_lines", "towns", "districts"}


def test_every_problem_is_reported_together_with_file_element_and_line(broken_dir, source_texts):
    towns = broken_dir / "cn-test-mini" / "towns.yaml"
    towns.write_text(towns.read_text().replace("zone_class: urban_centre",
                                               "zone_class: not_a_class")
                     .replace("place: 1784818", "place: 999999999"))
    control = broken_dir / "cn-test-mini" / "control_lines.yaml"
    control.write_text(control.read_text().replace("必须强制性严格保护的区域", "随便写的文字"))
    problems = _problems(broken_dir)
    messages = {}
    for p in problems:
        messages.setdefault((p.file, p.element), []).append(p.message)
    assert len(problems) == 3
    town = " | ".join(messages[("layers/cn-test-mini/towns.yaml", "yongji-city")])
    assert "unknown zone_class 'not_a_class'" in town and "999999999" in town
    cit = messages[("layers/cn-test-mini/control_lines.yaml", "ecological-protection-red-line")]
    assert "does not occur in line(s) 249" in cit[0]
    assert all(p.line for p in problems)
    assert next(p for p in problems if p.element == "yongji-city").line == 7


def test_yaml_syntax_error_names_the_line(broken_dir):
    path = broken_dir / "cn-test-mini" / "towns.yaml"
    path.write_text(path.read_text().replace("family: overlay", "family: [overlay"))
    problems = _problems(broken_dir)
    assert problems[0].file == "layers/cn-test-mini/towns.yaml"
    assert "not valid YAML" in problems[0].message and problems[0].line


def test_schema_errors_name_the_element(broken_dir):
    path = broken_dir / "cn-test-mini" / "towns.yaml"
    path.write_text(path.read_text().replace("regulation: indicative", "regulation: maybe")
                    .replace("id: yongji-city", "id: Yongji City"))
    problems = _problems(broken_dir)
    text = "\n".join(map(str, problems))
    assert "regulation" in text and "'maybe'" in text
    assert "features.0.id" in text


def test_duplicate_ids_and_bad_references_are_caught(broken_dir):
    path = broken_dir / "cn-test-mini" / "rules.yaml"
    path.write_text(path.read_text() + path.read_text().split("rules:\n", 1)[1]
                    .replace("zone_classes: [ecological_protection_red_line]",
                             "features: [control_lines/nope]"))
    problems = _problems(broken_dir)
    text = "\n".join(map(str, problems))
    assert "duplicate rule id 'epr-no-construction'" in text
    assert "unknown feature 'control_lines/nope'" in text


def test_malformed_indicator_row_names_csv_line(broken_dir):
    path = broken_dir / "cn-test-mini" / "indicators.csv"
    path.write_text(path.read_text() + "x-1,名,Name,km2,abc,2020,,,,binding,,s,5,\n")
    problems = _problems(broken_dir)
    assert problems[0].file.endswith("indicators.csv") and problems[0].line == 3
    assert "base_value" in problems[0].message


def test_unknown_plan():
    with pytest.raises(UnknownPlanError, match="no plan 'xx-nowhere'"):
        read_plan_source("xx-nowhere")


def test_citation_matching_ignores_bookmarks_whitespace_and_normalisation(source_texts):
    assert normalise_text("[bookmark: _Toc1]规划 范围\u3000为") == "规划范围为"
    src = Source(lines="17")
    assert check_citation("002_ed01d5d83edf1c08.txt", src, "规划基期年为2020年") is None
    assert "does not occur" in check_citation("002_ed01d5d83edf1c08.txt", src, "2049年")
    assert "has" in check_citation("002_ed01d5d83edf1c08.txt", Source(lines="99999"), "x")


def _tamper_quote(layers_dir):
    control = layers_dir / "cn-test-mini" / "control_lines.yaml"
    control.write_text(control.read_text().replace("必须强制性严格保护的区域", "随便写的文字"))


def test_without_source_texts_a_plan_validates_and_says_once_quotes_were_not_verified(
        broken_dir, monkeypatch):
    monkeypatch.setattr(settings, "sources_dir", None)
    monkeypatch.setattr("zoning.spec._TOLD_UNVERIFIED", set())
    _tamper_quote(broken_dir)            # cannot be caught without the text, and is not
    with pytest.warns(SourcesNotVerifiedWarning, match="quotes not re-verified") as caught:
        read_plan_source("cn-test-mini", layers_dir=broken_dir)
        read_plan_source("cn-test-mini", layers_dir=broken_dir)
    assert len(caught) == 1


def test_a_different_document_under_the_recorded_name_is_an_error(broken_dir, tmp_path,
                                                                   monkeypatch):
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "003_0b8db23f9e25c5ee.txt").write_text("另一份文件\n" * 300, encoding="utf-8")
    monkeypatch.setattr(settings, "sources_dir", texts)
    problems = _problems(broken_dir)
    assert [p.element for p in problems] == ["source_document"]
    assert "is not the document this plan was encoded from" in problems[0].message
    assert "28437 bytes" in problems[0].message


def test_with_the_source_text_a_tampered_quote_is_caught(broken_dir, source_texts):
    read_plan_source("cn-test-mini", layers_dir=broken_dir)
    _tamper_quote(broken_dir)
    problems = _problems(broken_dir)
    assert len(problems) == 1 and "随便写的文字" in problems[0].message


def test_persian_digits_parse_and_ambiguous_commas_fail(broken_dir):
    from zoning.spec import parse_number_text

    assert parse_number_text("۱۴۱۴") == "1414"
    assert parse_number_text("۱٬۲۰۰٫۵") == "1200.5"
    path = broken_dir / "cn-test-mini" / "indicators.csv"
    path.write_text(path.read_text() + "x-2,名,Name,km2,۱۲۰۸٫۰۷,۲۰۲۰,,,,baseline,,s,5,市域面积\n"
                    + "x-3,名,Name,km2,\"2,5\",2020,,,,baseline,,s,5,市域面积\n")
    problems = _problems(broken_dir)
    assert [p.element for p in problems] == ["x-3"]
    src_ok = path.read_text().rsplit("\n", 2)[0] + "\n"
    path.write_text(src_ok)
    src = read_plan_source("cn-test-mini", layers_dir=broken_dir)
    row = next(i for i in src.indicators if i.indicator_id == "x-2")
    assert row.base_value == 1208.07 and row.base_year == 2020


def test_unknown_layer_theme_is_an_error_listing_the_themes(broken_dir):
    path = broken_dir / "cn-test-mini" / "districts.yaml"
    path.write_text(path.read_text().replace("family: tiling", "family: tiling\ntheme: ecology"))
    problems = _problems(broken_dir)
    assert [(p.file, p.element) for p in problems] == [
        ("layers/cn-test-mini/districts.yaml", "theme")]
    assert "unknown theme 'ecology'" in problems[0].message
    assert "ecological" in problems[0].message       # the valid themes are listed
    path.write_text(path.read_text().replace("theme: ecology", "theme: ecological"))
    read_plan_source("cn-test-mini", layers_dir=broken_dir)


def test_elevation_band_recipes_are_checked(broken_dir):
    path = broken_dir / "cn-test-mini" / "districts.yaml"
    text = path.read_text()
    # an elevation band in a Voronoi layer
    path.write_text(text.replace("recipe: tessellation_cell, place: 1784818",
                                 "recipe: elevation_band, band: 0", 1))
    messages = " | ".join(p.message for p in _problems(broken_dir))
    assert "elevation_band features belong in a layer with 'tessellation: {method: " \
           "elevation_bands}'" in messages
    # an elevation-band layer without limits, and a band beyond its limits
    path.write_text(text.replace("tessellation: {method: voronoi, within: plan_area}",
                                 "tessellation: {method: elevation_bands, raster: qom}"))
    assert "needs 'raster' and 'breaks_m'" in " | ".join(map(str, _problems(broken_dir)))
    banded = text.replace("tessellation: {method: voronoi, within: plan_area}",
                          "tessellation: {method: elevation_bands, raster: qom, breaks_m: [900]}")
    banded = re.sub(r"recipe: tessellation_cell, place: [^}]+", "recipe: elevation_band, band: 5",
                    banded)
    path.write_text(banded)
    problems = _problems(broken_dir)
    assert all("band 5 does not exist" in p.message for p in problems) and problems


# --- what a file holds is told by its content, not by its name -------------------------------

def test_files_are_read_by_what_they_hold_whatever_their_names(broken_dir, test_layers_dir):
    plan = broken_dir / "cn-test-mini"
    original = read_plan_source("cn-test-mini", layers_dir=test_layers_dir)
    (plan / "rules.yaml").rename(plan / "protection_of_the_red_line.yaml")
    (plan / "statements.yaml").rename(plan / "goals_and_strategies.yaml")
    rule_text = (plan / "protection_of_the_red_line.yaml").read_text(encoding="utf-8")
    (plan / "water.yaml").write_text(rule_text.replace("id: epr-no-construction",
                                                       "id: epr-no-construction-again"),
                                     encoding="utf-8")
    src = read_plan_source("cn-test-mini", layers_dir=broken_dir)
    assert set(src.layers) == set(original.layers)
    # files in name order: protection_of_the_red_line.yaml, then water.yaml
    assert [r.id for r in src.rules] == [*(r.id for r in original.rules),
                                         "epr-no-construction-again"]
    assert src.rules[0] == original.rules[0]
    assert src.statements == original.statements
    assert src.files["rules:epr-no-construction-again"] == "layers/cn-test-mini/water.yaml"


def test_a_file_holding_no_kind_or_two_kinds_is_rejected_naming_the_file(broken_dir):
    plan = broken_dir / "cn-test-mini"
    statements = (plan / "statements.yaml").read_text(encoding="utf-8")
    (plan / "rules.yaml").write_text((plan / "rules.yaml").read_text(encoding="utf-8")
                                     + statements, encoding="utf-8")
    (plan / "statements.yaml").unlink()
    (plan / "notes.yaml").write_text("note: the red line is drawn by the county\n",
                                     encoding="utf-8")
    towns = plan / "towns.yaml"
    towns.write_text(towns.read_text(encoding="utf-8") + "rules: []\n", encoding="utf-8")
    problems = {p.file: p for p in _problems(broken_dir)}
    assert set(problems) == {"layers/cn-test-mini/rules.yaml", "layers/cn-test-mini/notes.yaml",
                             "layers/cn-test-mini/towns.yaml"}
    assert "holds rules: and statements:" in problems["layers/cn-test-mini/rules.yaml"].message
    assert "holds layer: and rules:" in problems["layers/cn-test-mini/towns.yaml"].message
    assert "holds no plan content" in problems["layers/cn-test-mini/notes.yaml"].message
    assert all(p.element == "file" and p.line == 1 for p in problems.values())


def test_a_csv_of_no_known_name_is_rejected_not_skipped(broken_dir):
    plan = broken_dir / "cn-test-mini"
    (plan / "indicators.csv").rename(plan / "indicators_water.csv")
    (plan / "towns.yaml").rename(plan / "towns.yml")
    problems = _problems(broken_dir)
    assert sorted(p.file for p in problems) == ["layers/cn-test-mini/indicators_water.csv",
                                                "layers/cn-test-mini/towns.yml"]
    assert all("unknown plan file, not read" in p.message and "indicators.csv" in p.message
               for p in problems)


def test_each_real_plan_keeps_one_file_per_table():
    """Rules, statements, indicators, digest coverage and the not-encoded notes of a plan are
    one file each (a split by the pass of work that wrote them is merged)."""
    import yaml

    from zoning.model import LAYERS_DIR, plan_ids

    for plan_id in plan_ids():
        folder = LAYERS_DIR / plan_id
        holding = {}
        for path in sorted(folder.glob("*.yaml")):
            if path.name != "plan.yaml":
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
                holding.setdefault(next(k for k in ("layer", "rules", "statements")
                                        if k in data), []).append(path.name)
        assert holding["rules"] == ["rules.yaml"], plan_id
        assert holding["statements"] == ["statements.yaml"], plan_id
        others = sorted(p.name for p in folder.iterdir() if p.suffix in (".csv", ".md"))
        assert set(others) <= {"indicators.csv", "places.csv", "digest_coverage.csv",
                               "NOT_ENCODED.md"}, (plan_id, others)
        assert {"indicators.csv", "digest_coverage.csv", "NOT_ENCODED.md"} <= set(others), plan_id

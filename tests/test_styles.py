"""Symbology as data: every zone class resolves to a style; QGIS (QML) and SLD renderings."""

from __future__ import annotations

import colorsys
import csv
import re
import sqlite3
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pyogrio
import pytest

import zoning
from zoning import styles
from zoning.settings import settings
from zoning.model import LAYERS_DIR

from conftest import plan_or_skip

STYLES = Path(settings.styles_dir)
HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
SLD = "{http://www.opengis.net/sld}"
OGC = "{http://www.opengis.net/ogc}"
PLAN_IDS = ["cn-shanxi-2035", "cn-yongji-2035", "ir-qom-1414", "ir-ardabil-1424", "vn-kontum-2030"]


def _csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _hue(colour: str) -> tuple[float, float, float]:
    r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return colorsys.rgb_to_hsv(r, g, b)


def _scripts(text: str) -> set[str]:
    return {unicodedata.name(ch, "").split()[0] for ch in text if ch.isalpha()}


# --- the style source -----------------------------------------------------------------------

def test_every_zone_class_resolves_to_a_complete_style():
    taxonomy = _csv(LAYERS_DIR / "zone_classes.csv")
    hatch_names = {r["hatch"] for r in _csv(STYLES / "hatches.csv")}
    marker_names = {r["marker"] for r in _csv(STYLES / "markers.csv")}
    assert len(taxonomy) > 50
    for cls in taxonomy:
        s = styles.class_style(cls["code"])
        assert HEX.match(s["fill"]) and HEX.match(s["stroke"]), cls["code"]
        assert 0 <= float(s["fill_opacity"]) <= 1, cls["code"]
        assert float(s["weight"]) > 0 and float(s["marker_size"]) > 0, cls["code"]
        assert s["hatch"] in hatch_names | {""}, cls["code"]
        assert not s["hatch"] or HEX.match(s["hatch_color"]), cls["code"]
        assert s["marker"] in marker_names, cls["code"]
        assert all(float(x) > 0 for x in s["dash"].split()), cls["code"]
        assert s["label_en"] == cls["label_en"]
        assert s["theme"] == cls["theme"]
        for lang in styles.LANGUAGES:
            assert s[f"label_{lang}"], (cls["code"], lang)


def test_styled_classes_exist_in_the_taxonomy_once():
    codes = [r["code"] for r in _csv(STYLES / "zone_class_styles.csv")]
    taxonomy = {r["code"] for r in _csv(LAYERS_DIR / "zone_classes.csv")}
    assert len(codes) == len(set(codes))
    assert set(codes) <= taxonomy, set(codes) - taxonomy


def test_every_theme_of_the_taxonomy_has_a_theme_style_and_labels():
    themes = {r["theme"]: r for r in _csv(STYLES / "themes.csv")}
    for cls in _csv(LAYERS_DIR / "zone_classes.csv"):
        assert cls["theme"] in themes, cls
    for row in themes.values():
        assert all(row[f"label_{lang}"] for lang in ("en", "zh", "fa", "vi")), row["theme"]


def test_blank_cells_inherit_the_theme_value():
    own = {r["code"]: r for r in _csv(STYLES / "zone_class_styles.csv")}
    themes = {r["theme"]: r for r in _csv(STYLES / "themes.csv")}
    taxonomy = {r["code"]: r for r in _csv(LAYERS_DIR / "zone_classes.csv")}
    checked = 0
    for code, row in own.items():
        theme = themes[taxonomy[code]["theme"]]
        for col in ("marker", "hatch", "dash"):
            if row[col] == "":
                assert styles.class_style(code)[col] == theme[col], (code, col)
                checked += 1
            else:
                assert styles.class_style(code)[col] == row[col], (code, col)
    assert checked > 50


def test_a_class_appended_to_the_taxonomy_falls_back_to_its_theme(monkeypatch):
    extra = pd.DataFrame([{"label_en": "Test-only reservoir class", "theme": "water",
                           "hilucs": "", "label_zh": "",
                           "description": ""}],
                         index=pd.Index(["test_only_reservoir"], name="code"))
    grown = pd.concat([zoning.model.zone_classes(), extra])
    monkeypatch.setattr(styles, "zone_classes", lambda: grown)
    styles._class_styles.cache_clear()
    try:
        s = styles.class_style("test_only_reservoir")
        water = {r["theme"]: r for r in _csv(STYLES / "themes.csv")}["water"]
        assert (s["fill"], s["stroke"], s["z_order"]) == (water["fill"], water["stroke"],
                                                          int(water["z_order"]))
        assert not s["own_style"]
        assert s["label_en"] == "Test-only reservoir class"
        assert s["label_zh"] == "Test-only reservoir class"
    finally:
        styles._class_styles.cache_clear()


def test_unknown_code_still_gets_a_style():
    s = styles.class_style("no_such_class_anywhere")
    assert HEX.match(s["fill"]) and s["label_en"] == "no_such_class_anywhere"


def test_chinese_control_line_colours_follow_the_plans_own_conventions():
    own = {r["code"]: r for r in _csv(STYLES / "zone_class_styles.csv")}
    red_line = _hue(own["ecological_protection_red_line"]["stroke"])
    assert (red_line[0] < 0.03 or red_line[0] > 0.97) and red_line[1] > 0.8   # red
    farmland = _hue(own["permanent_basic_farmland"]["fill"])
    assert 0.12 < farmland[0] < 0.19 and farmland[1] > 0.6                    # yellow
    boundary = _hue(own["urban_development_boundary"]["stroke"])
    assert 0.72 < boundary[0] < 0.85                                          # purple
    assert own["urban_development_boundary"]["dash"]                           # a dashed line
    assert own["ecological_protection_red_line"]["hatch"]                      # hatched area


def test_legend_labels_are_in_each_language_script():
    for row in _csv(STYLES / "zone_class_styles.csv"):
        assert "CJK" in _scripts(row["label_zh"]), row["code"]
        assert "ARABIC" in _scripts(row["label_fa"]), row["code"]
        assert _scripts(row["label_vi"]) <= {"LATIN"}, row["code"]


def test_legend_label_joins_english_and_plan_language():
    own = {r["code"]: r for r in _csv(STYLES / "zone_class_styles.csv")}
    label = styles.legend_label("nature_reserve", "fa")
    assert label == f"Nature reserve / {own['nature_reserve']['label_fa']}"
    assert styles.legend_label("nature_reserve", None) == "Nature reserve"


def test_interface_words_cover_every_value_a_popup_shows():
    from zoning.model import LIFECYCLES, REGULATIONS, RULE_EFFECTS

    rows = _csv(STYLES / "ui_strings.csv")
    words = {r["key"]: r for r in rows}
    assert len(words) == len(rows)
    for key in (*REGULATIONS, *LIFECYCLES, *RULE_EFFECTS):
        assert key in words, key
        assert all(words[key][lang] for lang in ("en", "zh", "fa", "vi")), key


def test_hatch_angles_come_from_the_vocabulary():
    rows = {r["hatch"]: r for r in _csv(STYLES / "hatches.csv")}
    for name, row in rows.items():
        assert styles.hatch_angles(name) == [float(a) for a in row["angles_deg"].split(";")]
    assert styles.hatch_angles("") == []


# --- QGIS styles in the GeoPackage ----------------------------------------------------------

def _check_gpkg_styles(plan, path: Path) -> None:
    with sqlite3.connect(path) as con:
        contents = dict(con.execute("SELECT table_name, data_type FROM gpkg_contents"))
        extensions = [r[0] for r in con.execute("SELECT table_name FROM gpkg_extensions")]
        geometry_columns = dict(con.execute(
            "SELECT table_name, column_name FROM gpkg_geometry_columns"))
        geometry_types = dict(con.execute(
            "SELECT table_name, geometry_type_name FROM gpkg_geometry_columns"))
        rows = con.execute("SELECT f_table_name, f_geometry_column, styleName, styleQML, "
                           "styleSLD, useAsDefault, update_time, f_table_catalog, "
                           "f_table_schema FROM layer_styles").fetchall()
    assert contents["layer_styles"] == "attributes"
    assert "layer_styles" not in extensions
    by_layer = {r[0]: r for r in rows}
    assert len(by_layer) == len(rows), "one style per layer"
    assert set(by_layer) == set(plan.layers)
    listed = pyogrio.read_dataframe(path, layer="layer_styles", read_geometry=False)
    assert sorted(listed.f_table_name) == sorted(plan.layers)
    symbol_of = {"MULTIPOLYGON": "fill", "MULTILINESTRING": "line", "MULTIPOINT": "marker"}
    for layer, (_, geom_col, name, qml, sld, default, updated, catalog, schema) in by_layer.items():
        assert geom_col == geometry_columns[layer]
        assert (name, default, catalog, schema) == (layer, 1, "", "")
        assert ISO_UTC.match(updated), updated
        root = ET.fromstring(qml)
        assert root.tag == "qgis"
        renderer = root.find("renderer-v2")
        assert renderer.get("type") == "categorizedSymbol"
        assert renderer.get("attr") == "zone_class"
        present = set(pyogrio.read_dataframe(path, layer=layer, columns=["zone_class"],
                                             read_geometry=False).zone_class)
        categories = renderer.findall("categories/category")
        assert {c.get("value") for c in categories} == present
        symbols = {s.get("name"): s for s in renderer.findall("symbols/symbol")}
        expected_type = symbol_of[geometry_types[layer]]
        for category in categories:
            symbol = symbols[category.get("symbol")]
            assert symbol.get("type") == expected_type
            code = category.get("value")
            if not code:
                continue
            style = styles.class_style(code)
            assert style["label_en"] in category.get("label")
            rgb = ",".join(str(int(style["fill"][i:i + 2], 16)) for i in (1, 3, 5))
            options = {o.get("name"): o.get("value") for o in symbol.iter("Option")
                       if o.get("name")}
            if expected_type == "fill":
                fill = symbol.find("layer[@class='SimpleFill']")
                colour = {o.get("name"): o.get("value") for o in fill.iter("Option")}["color"]
                assert colour.startswith(rgb + ",")
                assert int(colour.split(",")[3]) == round(255 * style["fill_opacity"])
                patterns = symbol.findall("layer[@class='LinePatternFill']")
                assert [float({o.get("name"): o.get("value") for o in p.iter("Option")}["angle"])
                        for p in patterns] == styles.hatch_angles(style["hatch"])
            elif expected_type == "line":
                stroke = ",".join(str(int(style["stroke"][i:i + 2], 16)) for i in (1, 3, 5))
                assert options["line_color"].startswith(stroke + ",")
            else:
                assert options["color"].startswith(rgb + ",")
        sld_root = ET.fromstring(sld.encode("utf-8"))
        assert sld_root.tag == f"{SLD}StyledLayerDescriptor"
        literals = {e.text for e in sld_root.iter(f"{OGC}Literal")}
        assert literals == present


def test_write_gpkg_stores_a_qgis_style_per_layer(mini_plan, tmp_path):
    path = zoning.write_gpkg(mini_plan, tmp_path / "mini.gpkg")
    _check_gpkg_styles(mini_plan, path)


def test_layer_styles_are_replaced_not_duplicated(mini_plan, tmp_path):
    path = zoning.write_gpkg(mini_plan, tmp_path / "mini.gpkg")
    styles.write_layer_styles(path, mini_plan)
    with sqlite3.connect(path) as con:
        count = con.execute("SELECT COUNT(*) FROM layer_styles").fetchone()[0]
        contents = con.execute("SELECT COUNT(*) FROM gpkg_contents WHERE table_name = "
                               "'layer_styles'").fetchone()[0]
    assert (count, contents) == (len(mini_plan.layers), 1)


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_real_plan_geopackage_opens_styled(plans, plan_id, tmp_path):
    plan = plan_or_skip(plans, plan_id)
    path = zoning.write_gpkg(plan, tmp_path / f"{plan_id}.gpkg")
    _check_gpkg_styles(plan, path)


def test_ogrinfo_lists_layer_styles_as_a_table(mini_plan, tmp_path):
    import shutil
    import subprocess

    if shutil.which("ogrinfo") is None:
        pytest.skip("GDAL command-line tools not installed")
    path = zoning.write_gpkg(mini_plan, tmp_path / "mini.gpkg")
    out = subprocess.run(["ogrinfo", "-ro", "-q", str(path), "layer_styles"],
                         capture_output=True, text=True, check=True).stdout
    assert out.count("styleQML (String) = <!DOCTYPE qgis") == len(mini_plan.layers)


# --- SLD ------------------------------------------------------------------------------------

def test_sld_has_one_rule_per_class_and_an_else_rule(mini_plan, tmp_path):
    paths = styles.write_sld(mini_plan, tmp_path)
    assert sorted(p.name for p in paths) == sorted(
        f"{mini_plan.plan_id}.{layer}.sld" for layer in mini_plan.layers)
    for path in paths:
        layer = path.name.split(".")[1]
        root = ET.parse(path).getroot()
        rules = list(root.iter(f"{SLD}Rule"))
        present = set(mini_plan.layers[layer].zone_class)
        assert len(rules) == len(present) + 1
        assert sum(1 for r in rules if r.find(f"{SLD}ElseFilter") is not None) == 1
        for rule in rules:
            if rule.find(f"{SLD}ElseFilter") is not None:
                continue
            code = rule.find(f"{OGC}Filter//{OGC}Literal").text
            style = styles.class_style(code)
            fills = [p.text for p in rule.iter(f"{SLD}CssParameter") if p.get("name") == "fill"]
            strokes = [p.text for p in rule.iter(f"{SLD}CssParameter")
                       if p.get("name") == "stroke"]
            assert style["fill"] in fills or style["stroke"] in strokes
            marks = [m.text for m in rule.iter(f"{SLD}WellKnownName")]
            if style["hatch"] and any(rule.iter(f"{SLD}PolygonSymbolizer")):
                sld_mark = {r["hatch"]: r["sld_mark"] for r in _csv(STYLES / "hatches.csv")}
                assert sld_mark[style["hatch"]] in marks


def test_sld_rules_are_ordered_bottom_to_top():
    import geopandas as gpd

    layer = gpd.GeoDataFrame({"zone_class": ["urban_development_boundary", "admin_unit",
                                             "ecological_protection_red_line"]})
    root = ET.fromstring(styles.layer_sld(layer, "x", "polygon").encode("utf-8"))
    names = [r.find(f"{SLD}Name").text for r in root.iter(f"{SLD}Rule")]
    z = [styles.class_style(n)["z_order"] for n in names[1:]]
    assert names[0] == "other" and z == sorted(z)

"""Hostile and extreme input: no script runs, no file or database is harmed, no typo takes the
machine down (issue 13). Each test names the case of ``docs/bad-input.md`` ("Hostile input")
it covers. The PostGIS cases are in ``tests/test_postgis.py``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
import shapely.affinity
import yaml

import zoning
from zoning import spec, webmap
from zoning.inputs import prepare

MINI = Path(__file__).parent / "data" / "layers" / "cn-test-mini"

#: Strings that break out of HTML text, attributes, inline JSON or <script> if not escaped;
#: each script it could run bumps ``window.__pwned`` or opens a dialog.
HOSTILE = [
    'zh"><img src=x onerror="window.__pwned=(window.__pwned||0)+1">',
    "<!--<script>",
    "</script><script>window.__pwned=(window.__pwned||0)+1</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(2)>",
    "<script>alert(3)</script>",
    "&lt;b&gt;not bold&lt;/b&gt; &amp; & &#39;",
    "line\u2028separator\u2029paragraph",
    "\u202eevil\u202c right-to-left override \u202b\u200f",
    "{{ 7*7 }} ${alert(4)} `backtick` %s %(x)s",
    "javascript:alert(5)",
    '<a href="javascript:alert(6)" id="injected">link</a>',
    "\\u003cscript\\u003ealert(7)\\u003c/script\\u003e",
    "<![CDATA[ ]]> <?xml version='1.0'?> <!DOCTYPE x>",
    "名称<b id=injected>加粗</b>",
    "<style>*{display:none!important}</style>",
    "<iframe srcdoc='<script>parent.__pwned=1</script>'></iframe>",
]


def hostile(i: int) -> str:
    return HOSTILE[i % len(HOSTILE)]


# --- 1, 2: script injection through the web map --------------------------------------------

@pytest.fixture(scope="module")
def hostile_seeds(tmp_path_factory):
    """A source document whose lines are the hostile strings, so they can be cited as quotes."""
    folder = tmp_path_factory.mktemp("seeds")
    (folder / "hostile.txt").write_bytes(HOSTILE_DOCUMENT)
    return folder


@pytest.fixture()
def seeds_at(monkeypatch):
    """Point the source-texts folder at ``folder`` for one test."""
    from zoning.settings import settings

    def use(folder: Path) -> None:
        monkeypatch.setattr(settings, "sources_dir", folder)
    return use


HOSTILE_DOCUMENT = ("\n".join(HOSTILE) + "\n").encode("utf-8")


def _source(i: int) -> dict:
    return {"section": hostile(i + 1), "lines": str(i % len(HOSTILE) + 1), "text": hostile(i)}


def hostile_layers(folder: Path) -> Path:
    """A copy of the mini test plan with a hostile string in every text field."""
    target = folder / "cn-test-mini"
    shutil.copytree(MINI, target)
    n = iter(range(10_000))
    plan = yaml.safe_load((target / "plan.yaml").read_text(encoding="utf-8"))
    for key in ("title", "title_en", "issuer", "issuer_en", "approved_by", "notes", "plan_type"):
        plan[key] = hostile(next(n))
    plan["source_document"] = "hostile.txt"
    plan["source_sha256"] = hashlib.sha256(HOSTILE_DOCUMENT).hexdigest()
    plan["source_bytes"] = len(HOSTILE_DOCUMENT)
    plan["source"] = _source(next(n))
    _dump(target / "plan.yaml", plan)
    for path in target.glob("*.yaml"):
        if path.stem in ("plan", "rules", "statements"):
            continue
        layer = yaml.safe_load(path.read_text(encoding="utf-8"))
        layer["title"], layer["title_en"] = hostile(next(n)), hostile(next(n))
        for feat in layer["features"]:
            feat["name"], feat["name_en"] = hostile(next(n)), hostile(next(n))
            feat["basis_detail"] = hostile(next(n))
            feat["source"] = _source(next(n))
            feat["attributes"] = {"note": hostile(next(n))}
        _dump(path, layer)
    for kind in ("rules", "statements"):
        data = yaml.safe_load((target / f"{kind}.yaml").read_text(encoding="utf-8"))
        for item in data[kind]:
            i = next(n)
            item["text"], item["text_en"] = hostile(i), hostile(i + 3)
            item["source"] = {"section": hostile(i + 5), "lines": str(i % len(HOSTILE) + 1)}
        _dump(target / f"{kind}.yaml", data)
    (target / "indicators.csv").write_text(
        "indicator_id,name,name_en,unit,base_value,base_year,target_value,target_year,comparator,"
        "nature,measure,section,lines,text\n"
        + "county-area," + ",".join(_csv(hostile(i)) for i in (1, 2, 3)) + ",1208.07,2020,,,,"
        "baseline,," + _csv(hostile(4)) + ",5," + _csv(hostile(4)) + "\n", encoding="utf-8")
    return folder


def _csv(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _dump(path: Path, data) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")




def open_every_view(browser, path: Path) -> dict:
    """Open the map offline, open every popup and tooltip, search, switch languages; report
    dialogs, errors, injected elements and the features drawn."""
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    dialogs, errors = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.route("**/*", lambda route: route.continue_()
               if route.request.url.startswith(("file:", "data:")) else route.abort())
    page.goto(path.as_uri())
    page.wait_for_function("window.zoningMaps && window.zoningMaps.length > 0", timeout=20_000)
    report = page.evaluate("""() => {
        const z = window.zoningMaps[0];
        const texts = [];
        for (const key of Object.keys(z.layers)) {
            for (const f of z.layers[key].features) {
                const part = f.layer.getLayers ? f.layer.getLayers()[0] : f.layer;
                const at = part.getLatLng ? part.getLatLng() : part.getBounds().getCenter();
                // the "what's here" list a click opens, then the feature's own record
                z.whatsHere(at, f);
                texts.push(document.querySelector('.leaflet-popup-content').textContent);
                z.select({entry: z.layers[key], layer: f.layer, props: f.props,
                          plan: z.layers[key].plan});
                texts.push(document.querySelector('.leaflet-popup-content').textContent);
                f.layer.openTooltip(at);
                texts.push(f.layer.getTooltip().getElement().textContent);
                f.layer.closeTooltip(); z.map.closePopup();
            }
        }
        for (const mode of ['local', 'en', 'both']) { z.setLanguage(mode); }
        const search = document.querySelector('.zoning-search-input');
        for (const q of ['<', '"', 'x', '名']) {
            search.value = q; search.dispatchEvent(new Event('input'));
            texts.push(document.querySelector('.zoning-search-results').textContent);
        }
        texts.push(document.querySelector('.zoning-layers').textContent);
        texts.push(document.querySelector('.zoning-legend').textContent);
        const fids = new Set();
        document.querySelectorAll('.leaflet-pane [data-fid]').forEach(
            el => fids.add(el.getAttribute('data-fid')));
        const handlers = Array.from(document.querySelectorAll('*')).filter(
            el => Array.from(el.attributes).some(a => /^on/i.test(a.name))).length;
        return {
            pwned: window.__pwned || 0, fids: Array.from(fids), handlers: handlers,
            injected: document.querySelectorAll(
                'img[src="x"], #injected, iframe, svg[onload], a[href^="javascript"], b').length,
            scripts: document.querySelectorAll('script').length, texts: texts.join('\\n'),
            title: document.title,
        };
    }""")
    page.close()
    report.update(dialogs=dialogs, errors=errors)
    return report


def _scripts_in(html: str) -> int:
    """<script> elements the page is built with (Leaflet, runtime, data, call)."""
    return html.count("<script")


def assert_safe(report: dict, plan, html: str) -> None:
    assert report["dialogs"] == [], report["dialogs"]
    assert report["pwned"] == 0
    assert report["injected"] == 0
    assert report["handlers"] == 0
    assert report["scripts"] == _scripts_in(html)
    assert report["errors"] == [], report["errors"]
    expected = {fid for gdf in plan.layers.values() for fid in gdf["feature_id"]}
    assert set(report["fids"]) == expected, "every feature drawn"
    # Escaped, not stripped: every hostile name is shown as the literal text it is.
    names = {n for gdf in plan.layers.values() for n in gdf["name"]}
    for name in names:
        assert " ".join(name.split()) in " ".join(report["texts"].split()), report["texts"]


def test_hostile_strings_from_plan_files_stay_text_in_the_map(tmp_path, hostile_seeds, seeds_at,
                                                              browser):
    seeds_at(hostile_seeds)
    layers_dir = hostile_layers(tmp_path / "layers")
    plan = zoning.build_plan("cn-test-mini", layers_dir=layers_dir)
    assert plan.meta["title_en"] == HOSTILE[1]
    path = webmap.write_map([plan], tmp_path / "hostile.html")
    html = path.read_text(encoding="utf-8")
    for needle in ("<!--<script>", "</script><script>", "\u2028"):
        assert needle not in html.split("<script type=\"application/json\"")[1]
    assert_safe(open_every_view(browser, path), plan, html)


def _hostile_gpkg(mini_plan, path: Path) -> Path:
    """The mini plan's GeoPackage with a hostile string in every free-text column."""
    zoning.write_gpkg(mini_plan, path)
    n = iter(range(10_000))
    with sqlite3.connect(path) as con:
        # The R-tree triggers call SpatiaLite functions plain sqlite3 lacks; geometry is not
        # touched here, so the index stays right without them.
        for (trigger,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                      "AND name LIKE 'rtree_%'").fetchall():
            con.execute(f'DROP TRIGGER "{trigger}"')
        for table in ["plan", "layer_catalog", "rules", "statements", "indicators",
                      *mini_plan.layers]:
            columns = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
            text = [c for c in columns if c in ("title", "title_en", "issuer", "issuer_en", "notes",
                                                 "name", "name_en", "source_section", "source_text",
                                                 "basis_detail", "text", "text_en", "section",
                                                 "source_document", "source_lines", "unit")]
            rows = [r[0] for r in con.execute(f'SELECT rowid FROM "{table}"')]
            for rowid in rows:
                for column in text:
                    con.execute(f'UPDATE "{table}" SET "{column}" = ? WHERE rowid = ?',
                                (hostile(next(n)), rowid))
            if "feature_id" in columns and table in mini_plan.layers:
                for rowid in rows:
                    con.execute(f'UPDATE "{table}" SET feature_id = ? WHERE rowid = ?',
                                (f"{hostile(next(n))} #{rowid}", rowid))
    return path


def test_hostile_strings_from_a_geopackage_stay_text_in_the_map(tmp_path, mini_plan, browser):
    plan = zoning.read_gpkg(_hostile_gpkg(mini_plan, tmp_path / "hostile.gpkg"))
    path = webmap.write_map([plan], tmp_path / "hostile-gpkg.html")
    assert_safe(open_every_view(browser, path), plan, path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("column, value", [
    ("language", 'zh"><img src=x onerror=alert(1)>'),
    ("country", "<b>"),
    ("plan_id", "../../etc"),
    ("level", "galactic"),
])
def test_geopackage_plan_table_is_validated(tmp_path, mini_plan, column, value):
    path = zoning.write_gpkg(mini_plan, tmp_path / "plan.gpkg")
    with sqlite3.connect(path) as con:
        con.execute(f'UPDATE plan SET "{column}" = ?', (value,))
    with pytest.raises(zoning.PlanSpecError) as info:
        zoning.read_gpkg(path)
    assert f"plan.{column}" in str(info.value) and repr(value) in str(info.value)


def test_geopackage_layer_catalog_is_validated(tmp_path, mini_plan):
    path = zoning.write_gpkg(mini_plan, tmp_path / "plan.gpkg")
    with sqlite3.connect(path) as con:
        con.execute("UPDATE layer_catalog SET geometry_type = 'polygon<script>' WHERE rowid = 1")
    with pytest.raises(zoning.PlanSpecError, match="layer_catalog.geometry_type"):
        zoning.read_gpkg(path)


def test_inline_json_escapes_markup_and_line_separators():
    import json

    data = {"name": "".join(HOSTILE)}
    text = webmap.inline_json(data)
    assert json.loads(text) == data
    for raw in ("<", ">", "&", "\u2028", "\u2029"):
        assert raw not in text


# --- 4: citation ranges ----------------------------------------------------------------------

def _citation_in_subprocess(seeds: Path, lines: str, quote: str) -> str:
    """check_citation run under a 3 GB address-space limit, so that a range expanded into a
    list fails with MemoryError instead of taking the machine down."""
    import subprocess
    import sys

    code = ("import resource, sys; from pathlib import Path\n"
            "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
            "from zoning import spec\n"
            "from zoning.settings import settings\n"
            "settings.sources_dir = Path(sys.argv[1])\n"
            "source = spec.Source(lines=sys.argv[2])\n"
            "print(spec.check_citation('hostile.txt', source, sys.argv[3]))")
    root = str(Path(zoning.__file__).parent.parent)
    done = subprocess.run([sys.executable, "-c", code, str(seeds), lines, quote],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": root})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_huge_citation_range_is_refused_without_expanding_it(hostile_seeds):
    message = _citation_in_subprocess(hostile_seeds, "1-999999999", HOSTILE[0])
    assert message == f"cites line(s) 1-999999999 but hostile.txt has {len(HOSTILE) + 1} lines"


def test_range_past_the_end_gives_one_short_message(hostile_seeds, seeds_at):
    seeds_at(hostile_seeds)
    message = spec.check_citation("hostile.txt", spec.Source(lines="3, 64-99999"), HOSTILE[2])
    assert message == f"cites line(s) 64-99999 but hostile.txt has {len(HOSTILE) + 1} lines"


def test_reversed_range_is_an_error_naming_the_range():
    with pytest.raises(ValueError, match=r"range 66-64 is reversed \(write 64-66\)"):
        spec.Source(lines="66-64")
    with pytest.raises(ValueError, match="numbered from 1"):
        spec.Source(lines="0-3")


@pytest.mark.parametrize("quote, why", [("…", "nothing but ellipses"),
                                        ("... … ...", "nothing but ellipses"),
                                        ("  ", "is empty"), ("", "is empty")])
def test_empty_quote_is_an_error(hostile_seeds, seeds_at, quote, why):
    seeds_at(hostile_seeds)
    assert why in spec.check_citation("hostile.txt", spec.Source(lines="1-3"), quote)


def test_citation_problems_reach_the_plan_report(tmp_path, hostile_seeds, seeds_at):
    """A plan file citing a reversed range, a range past the end and an ellipsis-only quote
    gets one problem each, naming file and line; an indicator row with a reversed range too."""
    seeds_at(hostile_seeds)
    layers_dir = hostile_layers(tmp_path / "layers")
    folder = layers_dir / "cn-test-mini"
    towns = yaml.safe_load((folder / "towns.yaml").read_text(encoding="utf-8"))
    towns["features"][0]["source"] = {"section": "x", "lines": "66-64", "text": "x"}
    _dump(folder / "towns.yaml", towns)
    districts = yaml.safe_load((folder / "districts.yaml").read_text(encoding="utf-8"))
    districts["features"][0]["source"] = {"section": "x", "lines": "2-99999", "text": "x"}
    districts["features"][1]["source"] = {"section": "x", "lines": "2", "text": "…"}
    _dump(folder / "districts.yaml", districts)
    csv_text = (folder / "indicators.csv").read_text(encoding="utf-8")
    (folder / "indicators.csv").write_text(csv_text.replace(",5,", ",9-7,"), encoding="utf-8")
    with pytest.raises(zoning.PlanSpecError) as info:
        spec.read_plan_source("cn-test-mini", layers_dir=layers_dir, check_references=False)
    problems = [str(p) for p in info.value.problems]
    assert any("towns.yaml" in p and "66-64 is reversed" in p for p in problems), problems
    assert any("districts.yaml" in p and f"2-99999 but hostile.txt has {len(HOSTILE) + 1}" in p
               for p in problems), problems
    assert any("districts.yaml" in p and "nothing but ellipses" in p for p in problems), problems
    assert any("indicators.csv:2" in p and "9-7 is reversed" in p for p in problems), problems
    assert len(problems) == 4 and max(map(len, problems)) < 300


# --- 5: antimeridian -------------------------------------------------------------------------

#: 0.2° × 0.2° in the Pacific at Yongji's latitude: read the long way round it would cover
#: Yongji (110.4° E, 34.9° N).
PACIFIC = shapely.Polygon([(179.9, 34.8), (-179.9, 34.8), (-179.9, 35.0), (179.9, 35.0)])


def test_ring_across_the_antimeridian_is_cut_there():
    cut = prepare(PACIFIC, crs="EPSG:4326").geometry.iloc[0]
    by_hand = shapely.MultiPolygon([shapely.box(179.9, 34.8, 180, 35.0),
                                    shapely.box(-180, 34.8, -179.9, 35.0)])
    assert cut.geom_type == "MultiPolygon"
    assert shapely.equals(cut, by_hand)
    assert shapely.get_coordinates(cut)[:, 0].tolist().count(179.9) >= 2   # exact, no drift
    sites = gpd.GeoDataFrame(geometry=[PACIFIC, shapely.box(0, 0, 1, 1)], crs="EPSG:4326")
    prepared = prepare(sites)
    assert sites.geometry.iloc[0].equals_exact(PACIFIC, 0)           # input not modified
    assert prepared.geometry.iloc[1].equals_exact(shapely.box(0, 0, 1, 1), 0)


def test_line_across_the_antimeridian_is_cut_at_the_hand_computed_point():
    line = shapely.LineString([(179.5, 0), (-179.5, 1)])
    cut = prepare(line, crs="EPSG:4326").geometry.iloc[0]
    # the crossing is half-way in longitude (179.5 → 180.5), so half-way in latitude
    by_hand = shapely.MultiLineString([[(179.5, 0), (180, 0.5)], [(-180, 0.5), (-179.5, 1)]])
    assert shapely.equals(cut, by_hand)


def test_hole_across_the_antimeridian_stays_a_hole():
    shell = [(179, -1), (-179, -1), (-179, 1), (179, 1)]
    hole = [(179.5, -0.5), (179.5, 0.5), (-179.5, 0.5), (-179.5, -0.5)]
    cut = prepare(shapely.Polygon(shell, [hole]), crs="EPSG:4326").geometry.iloc[0]
    by_hand = shapely.MultiPolygon([
        shapely.box(179, -1, 180, 1).difference(shapely.box(179.5, -0.5, 180, 0.5)),
        shapely.box(-180, -1, -179, 1).difference(shapely.box(-180, -0.5, -179.5, 0.5))])
    assert shapely.equals(cut, by_hand)


def test_ring_round_a_pole_is_rejected():
    cap = shapely.Polygon([(0, 80), (120, 80), (-120, 80)])
    with pytest.raises(zoning.GeometryInputError, match="round a pole"):
        prepare(cap, crs="EPSG:4326")


def test_pacific_ring_touches_nothing_in_yongji(plans):
    from conftest import plan_or_skip

    yongji = plan_or_skip(plans, "cn-yongji-2035")
    sites = gpd.GeoDataFrame({"site": ["pacific"]}, geometry=[PACIFIC], crs="EPSG:4326")
    assert len(zoning.query(sites, [yongji])) == 0
    assert zoning.tabulate([yongji], sites)["area_km2"].sum() == 0
    # the same ring moved onto Yongji does hit it, so the query itself is not blind
    moved = shapely.affinity.translate(shapely.box(179.9, 34.8, 180.1, 35.0), xoff=110.4 - 180)
    assert len(zoning.query(gpd.GeoDataFrame(geometry=[moved], crs="EPSG:4326"), [yongji])) > 0


# --- 6: plan files ---------------------------------------------------------------------------

@pytest.fixture()
def plan_dir(tmp_path, hostile_seeds, seeds_at):
    """A valid copy of the mini plan (its quotes cited from the hostile seed document)."""
    seeds_at(hostile_seeds)
    layers_dir = hostile_layers(tmp_path / "layers")
    spec.read_plan_source("cn-test-mini", layers_dir=layers_dir)      # valid as it stands
    return layers_dir


def _problems(layers_dir: Path, check_references: bool = True) -> list[str]:
    with pytest.raises(zoning.PlanSpecError) as info:
        spec.read_plan_source("cn-test-mini", layers_dir=layers_dir,
                              check_references=check_references)
    return [str(p) for p in info.value.problems]


def _unit_layer(folder: Path, units: list[str], **recipe) -> None:
    feature = {"id": "far-unit", "name": "x", "name_en": "x",
               "zone_class": "schematic_admin_unit", "regulation": "informative",
               "source": _source(0),
               "geometry": {"recipe": "admin_units", "units": units, **recipe}}
    _dump(folder / "units.yaml", {"layer": "units", "title": "x", "title_en": "x",
                                  "family": "overlay", "geometry_type": "polygon",
                                  "features": [feature]})


def test_duplicate_yaml_key_is_an_error_naming_both_lines(plan_dir):
    path = plan_dir / "cn-test-mini" / "plan.yaml"
    text = path.read_text(encoding="utf-8")
    # YAML, like str.splitlines, also breaks lines at U+2028/2029, which the corpus holds
    lines = text.splitlines()
    first = lines.index(next(line for line in lines if line.startswith("title_en:"))) + 1
    path.write_text(text + "title_en: second title\n", encoding="utf-8")
    again = len(lines) + 1
    problems = _problems(plan_dir, check_references=False)
    assert problems == [f"layers/cn-test-mini/plan.yaml:{again}: [file] key 'title_en' is given "
                        f"twice (first on line {first}); YAML would keep only the last one"]


def test_duplicate_key_inside_a_feature_is_found_too(plan_dir):
    path = plan_dir / "cn-test-mini" / "towns.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "  zone_class: urban_centre\n", "  zone_class: urban_centre\n  zone_class: urban_centre\n"),
        encoding="utf-8")
    problems = _problems(plan_dir, check_references=False)
    assert len(problems) == 1 and "key 'zone_class' is given twice" in problems[0]


def test_admin_unit_far_outside_the_plan_is_an_error(plan_dir):
    folder = plan_dir / "cn-test-mini"
    _unit_layer(folder, ["CN:110101"])                 # a Beijing district in a Yongji plan
    problems = _problems(plan_dir)
    assert len(problems) == 1
    assert "units.yaml" in problems[0] and "CN:110101 东城区 lies outside the plan extent " \
                                           "(0% of it inside)" in problems[0]
    # a neighbour's band reaching in is fine; the same band from Beijing is not
    _unit_layer(folder, ["CN:140830"], buffer_km=5, clip="plan_area")
    spec.read_plan_source("cn-test-mini", layers_dir=plan_dir)
    _unit_layer(folder, ["CN:110101"], buffer_km=5, clip="plan_area")
    assert "beyond its buffer_km 5" in _problems(plan_dir)[0]
    # declared as context, the plan may name it
    _unit_layer(folder, ["CN:110101"], context=True)
    spec.read_plan_source("cn-test-mini", layers_dir=plan_dir)


def test_validate_catches_circular_recipes(plan_dir):
    folder = plan_dir / "cn-test-mini"
    base = {"name": "x", "name_en": "x", "zone_class": "schematic_admin_unit",
            "regulation": "informative", "source": _source(0)}
    _dump(folder / "loops.yaml", {
        "layer": "loops", "title": "x", "title_en": "x", "family": "overlay",
        "geometry_type": "polygon", "features": [
            {"id": "a", **base, "geometry": {"recipe": "features", "of": ["loops/b"]}},
            {"id": "b", **base, "geometry": {"recipe": "features", "of": ["loops/c"]}},
            {"id": "c", **base, "geometry": {"recipe": "plan_area", "clip": "loops/a"}},
            {"id": "d", **base, "geometry": {"recipe": "features", "of": ["loops/a"]}},
            {"id": "e", **base, "geometry": {"recipe": "features", "of": ["loops/e"]}}]})
    problems = _problems(plan_dir, check_references=False)
    assert sorted(p.split("] ", 1)[1] for p in problems) == [
        "circular geometry: loops/a → loops/b → loops/c → loops/a (each needs the next "
        "through 'of', 'clip' or 'within')",
        "circular geometry: loops/e → loops/e (each needs the next through 'of', 'clip' or "
        "'within')"]


def test_unclosed_csv_quote_is_reported_where_it_opens(plan_dir):
    path = plan_dir / "cn-test-mini" / "indicators.csv"
    header = path.read_text(encoding="utf-8").split("\n")[0]
    row = f"county-area,名,Name,km2,1208.07,2020,,,,baseline,,s,5,{HOSTILE[4]}"
    broken = row.replace(",1208.07,", ',"1208.07,', 1)       # line 3: the quote never closes
    lines = [header, row.replace("county-area", "a-1"), broken] + [
        row.replace("county-area", f"b-{i}") for i in range(14)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems = _problems(plan_dir, check_references=False)
    assert len(problems) == 1
    assert problems[0].startswith("layers/cn-test-mini/indicators.csv:3: [row] a quoted value "
                                  "opened on line 3 runs on to line ")


@pytest.mark.parametrize("name", ["rules.yaml", "indicators.csv"])
def test_non_utf8_file_names_the_line(plan_dir, name):
    path = plan_dir / "cn-test-mini" / name
    lines = path.read_bytes().split(b"\n")
    column = len(lines[1].decode("utf-8")) + len(" Gr") + 1
    lines[1] = lines[1] + " Gr\u00fc\u00dfe".encode("latin-1")         # line 2 in Latin-1
    path.write_bytes(b"\n".join(lines))
    problems = _problems(plan_dir, check_references=False)
    assert len(problems) == 1
    assert problems[0].startswith(f"layers/cn-test-mini/{name}:2: [file] not UTF-8 text: "
                                  f"byte b'\\xfc' at column {column} ")


# --- 7: leftovers of killed writes, folder swaps ---------------------------------------------

def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_next_write_removes_what_killed_writes_left(tmp_path, mini_plan):
    import time

    target = tmp_path / "plan.gpkg"
    dead = _dead_pid()
    left = [tmp_path / f".plan.gpkg.{dead}-k1ll3d_x.tmp.gpkg",
            tmp_path / f".plan.gpkg.{dead}-k1ll3d_x.tmp.gpkg-journal",
            tmp_path / ".plan.gpkg.ab12cd34.tmp.gpkg"]              # before names had a pid
    running = tmp_path / f".plan.gpkg.{os.getpid()}-running.tmp.gpkg"
    other = tmp_path / ".other.gpkg.ab12cd34.tmp.gpkg"
    for path in [*left, running, other]:
        path.write_bytes(b"\0" * 1024)
    old = time.time() - 3600
    os.utime(left[2], (old, old))
    os.utime(other, (old, old))
    zoning.write_gpkg(mini_plan, target)
    assert not any(p.exists() for p in left)
    assert running.exists() and other.exists()       # a live writer's, another target's
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [target.name, running.name, other.name])


def test_folder_export_swaps_in_one_step(tmp_path, mini_plan, monkeypatch):
    """A kill between the two renames of a two-step swap would leave no folder at all; the
    swap is one atomic exchange, so there is no such moment."""
    from zoning import export

    target = tmp_path / "plan-geojson"
    export.export(mini_plan, target, "geojson")
    (target / "marker.txt").write_text("old", encoding="utf-8")
    if not _exchange_supported(tmp_path):
        pytest.skip("this file system cannot exchange two paths atomically")
    renames = []

    def killed_after_first_rename(src, dst):
        renames.append((src, dst))
        if len(renames) > 1:
            raise SystemExit("killed")
        return os.rename(src, dst)

    monkeypatch.setattr(os, "replace", killed_after_first_rename)
    export.export(mini_plan, target, "geojson")
    monkeypatch.undo()
    assert target.is_dir() and not (target / "marker.txt").exists()
    assert (target / "towns.geojson").exists()
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def _exchange_supported(folder: Path) -> bool:
    from zoning import files

    a, b = folder / ".probe-a", folder / ".probe-b"
    a.mkdir()
    b.mkdir()
    try:
        return files.exchange_paths(a, b)
    finally:
        shutil.rmtree(a)
        shutil.rmtree(b)


def test_folder_left_aside_by_a_killed_export_is_put_back(tmp_path, mini_plan, monkeypatch):
    """Where the two-step swap is the only way, a kill between the steps leaves the old folder
    under ``.name.old-<pid>``; the next export puts it back before it writes, so even if that
    export fails too, the last complete output is in place."""
    from zoning import export

    target = tmp_path / "plan-geojson"
    export.export(mini_plan, target, "geojson")
    (target / "marker.txt").write_text("old", encoding="utf-8")
    aside = tmp_path / f".plan-geojson.old-{_dead_pid()}"
    os.replace(target, aside)                        # the state a kill leaves

    def failing(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(export.pyogrio, "write_dataframe", failing)
    with pytest.raises(zoning.ExportError, match="previous output is intact"):
        export.export(mini_plan, target, "geojson")
    assert (target / "marker.txt").read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


# --- 9: areas within 1e-5 of the geodesic area -----------------------------------------------

GEOD_DENSIFY_DEG = 0.001      # the geodesic reference follows lon/lat-straight edges this closely


def _geodesic_km2(geom) -> float:
    """Geodesic area on the WGS 84 ellipsoid: each ring densified and measured on its own
    (|exterior| minus |holes|), so the rings' winding cannot cancel parts out."""
    import pyproj

    geod = pyproj.Geod(ellps="WGS84")

    def ring_m2(ring) -> float:
        xy = shapely.get_coordinates(shapely.segmentize(ring, GEOD_DENSIFY_DEG))
        return abs(geod.polygon_area_perimeter(xy[:, 0], xy[:, 1])[0])

    total = 0.0
    for part in shapely.get_parts(geom):
        total += ring_m2(part.exterior) - sum(ring_m2(hole) for hole in part.interiors)
    return total / 1e6


def test_long_straight_lon_lat_edges_are_measured_within_1e5():
    """A triangle with a 0.9° diagonal edge (as long as the edges of Qom's roadside-service
    complexes): straight in lon/lat, curved in the cylindrical equal-area projection, so
    projecting the corners alone is 1.8e-3 off; the measurement is within 1e-5."""
    from zoning.geometry import area_km2

    triangle = shapely.Polygon([(50.0, 34.0), (50.9, 34.9), (50.9, 34.0)])
    geodesic = _geodesic_km2(triangle)
    projected = gpd.GeoSeries([triangle], crs="EPSG:4326").to_crs(zoning.EQUAL_AREA_CRS)
    corners_only = projected.area[0] / 1e6
    assert abs(corners_only - geodesic) / geodesic > 1e-3          # the test can tell
    measured = area_km2(gpd.GeoSeries([triangle], crs="EPSG:4326"))[0]
    assert abs(measured - geodesic) / geodesic < 1e-5


def test_every_area_of_every_plan_is_within_1e5_of_geodesic(plans):
    worst = (0.0, None)
    for plan in plans.values():
        for gdf in plan.layers.values():
            polygons = gdf[gdf["area_km2"].notna() & (gdf["area_km2"] > 0)]
            for fid, geom, area in zip(polygons.feature_id, polygons.geometry, polygons.area_km2):
                geodesic = _geodesic_km2(geom)
                worst = max(worst, (abs(area - geodesic) / geodesic, fid))
    assert worst[1] is not None
    assert worst[0] < 1e-5, worst

"""Generated maps opened in headless Chromium (Playwright), offline.

Every map is opened from a file with all network requests blocked; the tests assert what a
reader would check: no JavaScript errors, nothing fetched, every layer in the layer tree,
toggling hides features, clicking a feature opens its popup with the citation, the legend is
visible, the language switch and search work, and the screenshot shows a map.
"""

from __future__ import annotations

import math
import unicodedata
from pathlib import Path

import numpy as np
import pytest

import zoning
from zoning import styles, webmap

pytestmark = pytest.mark.browser

PLAN_IDS = ["cn-shanxi-2035", "cn-yongji-2035", "ir-qom-1414", "ir-ardabil-1424", "vn-kontum-2030"]
VIEWPORT = {"width": 1280, "height": 860}


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", str(text)).split())




@pytest.fixture(scope="session")
def maps_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("maps")


@pytest.fixture(scope="session")
def map_cases(mini_plan, plans, maps_dir):
    """(name, plans on the map, html path) for the mini plan, each real plan and all plans."""
    cases = {"cn-test-mini": [mini_plan]}
    cases.update({pid: [plans[pid]] for pid in PLAN_IDS if pid in plans})
    real = [plans[pid] for pid in PLAN_IDS if pid in plans]
    if len(real) > 1:
        cases["all-plans"] = real
    out = {}
    for name, members in cases.items():
        path = webmap.write_map(members, maps_dir / f"{name}.html")
        out[name] = (members, path)
    return out


class Page:
    """An opened map with its console errors and the requests it tried to make."""

    def __init__(self, browser, path: Path):
        self.page = browser.new_page(viewport=VIEWPORT)
        self.errors: list[str] = []
        self.external: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda msg: self.errors.append(msg.text)
                     if msg.type == "error" else None)
        self.page.on("request", lambda req: None if req.url.startswith(("file:", "data:",
                                                                         "about:"))
                     else self.external.append(req.url))
        # No network: anything that is not the file itself is refused (and recorded above).
        self.page.route("**/*", lambda route: route.continue_()
                        if route.request.url.startswith(("file:", "data:"))
                        else route.abort())
        self.page.goto(path.as_uri())
        self.page.wait_for_function("window.zoningMaps && window.zoningMaps.length > 0")

    def count(self, selector: str) -> int:
        return self.page.locator(selector).count()

    def click_feature(self, fid: str) -> None:
        """Click the feature where it is on top, as a reader would; else dispatch a click."""
        point = self.page.evaluate("""fid => {
            const els = Array.from(document.querySelectorAll(`[data-fid="${fid}"]`));
            for (const el of els) {
                const r = el.getBoundingClientRect();
                for (let i = 1; i < 12; i++) for (let j = 1; j < 12; j++) {
                    const x = r.left + r.width * i / 12, y = r.top + r.height * j / 12;
                    if (x < 0 || y < 0 || x > innerWidth || y > innerHeight) continue;
                    const hit = document.elementFromPoint(x, y);
                    if (hit && (hit === el || el.contains(hit))) return [x, y];
                }
            }
            return null;
        }""", fid)
        if point:
            self.page.mouse.click(point[0], point[1])
        else:
            self.page.locator(f'[data-fid="{fid}"]').first.dispatch_event("click")

    def reset(self) -> None:
        """Back to the state the map opens in, so one page serves several tests."""
        self.page.evaluate("""() => {
            const z = window.zoningMaps[0];
            z.map.closePopup();
            z.setLanguage('both');
            z.setBase('outline');
            document.querySelector('input[name="zoning-base"][value="outline"]').checked = true;
            Object.keys(z.layers).forEach(k => z.showLayer(k, true));
            z.syncThemes(); z.updateLegend();
            const search = document.querySelector('.zoning-search-input');
            search.value = ''; search.dispatchEvent(new Event('input'));
            z.fitAll({animate: false});
        }""")
        # Leaflet fades a closed popup out and removes its element 200 ms later; wait for it,
        # so the next test does not find the previous test's popup still in the page.
        self.page.wait_for_function("!document.querySelector('.leaflet-popup')")
        self.errors.clear()

    def close(self) -> None:
        self.page.close()


@pytest.fixture(scope="session")
def page_cache(browser):
    pages: dict[Path, Page] = {}
    yield pages
    for page in pages.values():
        page.close()


@pytest.fixture
def opened(browser, page_cache, map_cases):
    """Open a map (once per session) with every layer on; the opening defaults (key layers
    only) are tested on pages of their own."""

    def open_(name: str) -> tuple[Page, list]:
        members, path = map_cases[name]
        if path not in page_cache:
            page_cache[path] = Page(browser, path)
        page_cache[path].reset()
        return page_cache[path], members

    return open_


def pytest_generate_tests(metafunc):
    if "map_name" in metafunc.fixturenames:
        names = ["cn-test-mini", *PLAN_IDS, "all-plans"]
        metafunc.parametrize("map_name", names)


def _case(map_cases, name):
    if name not in map_cases:
        pytest.skip(f"{name}: plan(s) not encoded")
    return map_cases[name]


# --- tests ----------------------------------------------------------------------------------

def test_opens_offline_without_errors_and_lists_every_layer(opened, map_cases, map_name):
    _case(map_cases, map_name)
    page, members = opened(map_name)
    assert page.errors == []
    assert page.external == [], "the map must not need the network"
    for plan in members:
        catalog = plan.tables["layer_catalog"].set_index("layer")
        for layer in plan.layers:
            box = page.page.locator(f'.zoning-layers input[data-layer="{plan.plan_id}:{layer}"]')
            assert box.count() == 1, (plan.plan_id, layer)
            label = box.locator("xpath=..").text_content()
            assert _norm(catalog.at[layer, "title_en"]) in _norm(label)


def test_toggling_a_layer_hides_its_features(opened, map_cases, map_name):
    _case(map_cases, map_name)
    if map_name == "all-plans":
        pytest.skip("covered per plan")
    page, members = opened(map_name)
    plan = members[0]
    for layer, gdf in plan.layers.items():
        if gdf.empty:
            continue
        css = f".zoning-layer-{plan.plan_id}--{layer}"
        shown = page.count(css)
        assert shown >= len(gdf), (layer, shown)
        box = page.page.locator(f'.zoning-layers input[data-layer="{plan.plan_id}:{layer}"]')
        box.uncheck()
        assert page.count(css) == 0, layer
        box.check()
        assert page.count(css) == shown, layer
    assert page.errors == []


def test_clicking_a_feature_opens_its_popup_with_the_citation(opened, map_cases, map_name):
    _case(map_cases, map_name)
    page, members = opened(map_name)
    for plan in members:
        for layer, gdf in plan.layers.items():
            if gdf.empty:
                continue
            # each click starts from the whole plan (an earlier popup may have panned away)
            page.page.evaluate(f"window.zoningMaps[0].fitPlan('{plan.plan_id}', "
                               "{animate: false})")
            row = gdf.iloc[len(gdf) // 2]
            page.click_feature(row.feature_id)
            popup = page.page.locator(f'.leaflet-popup-content .zoning-popup'
                                      f'[data-fid="{row.feature_id}"]')
            # generous: the list is computed on the click, on a machine that may be busy
            popup.wait_for(timeout=10000)
            # the click lists what is there; the clicked feature's quote folds under its source
            citation = popup.locator(".zoning-citation").text_content()
            assert _norm(citation) == _norm(row.source_text)
            assert row.basis_badge in popup.inner_text()
            page.page.keyboard.press("Escape")
            page.page.evaluate("() => { window.zoningMaps[0].map.closePopup(); }")
            # a list names every feature at the place: the next click's list must not meet
            # this one fading out
            page.page.wait_for_function("!document.querySelector('.leaflet-popup')")
            if map_name == "all-plans":
                break                                   # one layer per plan is enough here
    assert page.errors == []


def test_legend_is_visible_with_both_languages(opened, map_cases, map_name):
    _case(map_cases, map_name)
    page, members = opened(map_name)
    legend = page.page.locator(".zoning-legend")
    assert legend.is_visible()
    text = _norm(legend.inner_text())
    for plan in members:
        language = plan.meta["language"]
        for code in {c for g in plan.layers.values() for c in g.zone_class}:
            style = styles.class_style(code)
            assert _norm(style["label_en"]) in text, code
            assert _norm(style[f"label_{language}"]) in text, (code, language)
    box = legend.bounding_box()
    assert box["width"] > 150 and box["height"] > 100


def test_screenshot_is_a_map_not_a_blank_page(opened, map_cases, map_name, maps_dir):
    import matplotlib.image as mpimg

    _case(map_cases, map_name)
    page, _ = opened(map_name)
    path = maps_dir / f"{map_name}.png"
    page.page.screenshot(path=str(path))
    pixels = mpimg.imread(path)[..., :3]
    # the map area between the side panels
    centre = pixels[100:-100, 340:-320].reshape(-1, 3)
    colours, counts = np.unique((centre * 255).astype(np.uint8), axis=0, return_counts=True)
    assert len(colours) > 50
    # The background is one colour; drawn features and outlines must cover a visible share.
    assert 1 - counts.max() / counts.sum() > 0.03, "the map area is (nearly) empty"


def test_language_switch_hides_and_shows_the_original(opened, map_cases):
    _case(map_cases, "cn-test-mini")
    page, members = opened("cn-test-mini")
    legend = page.page.locator(".zoning-legend .zl-local").first
    english = page.page.locator(".zoning-legend .zl-en").first
    assert legend.is_visible() and english.is_visible()
    page.page.locator('.zoning-lang-button[data-lang="en"]').click()
    assert not legend.is_visible() and english.is_visible()
    page.page.locator('.zoning-lang-button[data-lang="local"]').click()
    assert legend.is_visible() and not english.is_visible()
    page.page.locator('.zoning-lang-button[data-lang="both"]').click()
    assert legend.is_visible() and english.is_visible()


def test_persian_text_is_right_to_left(opened, map_cases):
    members, _ = _case(map_cases, "ir-qom-1414")
    page, members = opened("ir-qom-1414")
    plan = members[0]
    layer, gdf = next((k, g) for k, g in plan.layers.items() if len(g))
    row = gdf.iloc[0]
    page.click_feature(row.feature_id)
    popup = page.page.locator(f'.zoning-popup[data-fid="{row.feature_id}"]')
    popup.wait_for(timeout=3000)
    title = popup.locator(".zp-title .zl-local")
    assert _norm(title.inner_text()) == _norm(row["name"])
    assert title.evaluate("el => getComputedStyle(el).direction") == "rtl"
    citation = popup.locator(".zoning-citation")
    assert citation.evaluate("el => getComputedStyle(el).direction") == "rtl"
    # Persian letters are shaped: the rendered width of the name is that of joined glyphs,
    # narrower than the same letters drawn apart (isolated forms separated by spaces).
    joined, apart = page.page.evaluate("""text => {
        const c = document.createElement('canvas').getContext('2d');
        c.font = '16px "Noto Naskh Arabic", "Noto Sans Arabic", sans-serif';
        return [c.measureText(text).width,
                c.measureText(Array.from(text).join('\\u200c')).width];
    }""", row["name"])
    assert joined < apart


def test_search_finds_a_place_and_opens_it(opened, map_cases, map_name):
    _case(map_cases, map_name)
    page, members = opened(map_name)
    plan = members[-1]
    points = [g for g in plan.layers.values() if len(g) and
              g.geom_type.iloc[0] == "MultiPoint"]
    gdf = points[0] if points else next(g for g in plan.layers.values() if len(g))
    row = gdf.iloc[0]
    page.page.fill(".zoning-search-input", row.name_en[:40])
    results = page.page.locator(".zoning-search-results button")
    assert results.count() >= 1
    texts = [_norm(t) for t in results.all_inner_texts()]
    index = next(i for i, t in enumerate(texts) if _norm(row.name_en) in t)
    results.nth(index).click()
    page.page.locator(".leaflet-popup-content .zoning-popup").wait_for(timeout=3000)
    shown = page.page.locator(".leaflet-popup-content .zoning-popup").get_attribute("data-fid")
    same_name = set(gdf.feature_id[gdf.name_en == row.name_en]) | {
        f for g in plan.layers.values() for f in g.feature_id[g.name_en == row.name_en]}
    assert shown in same_name
    # the original-script name finds it too
    page.page.fill(".zoning-search-input", row["name"])
    assert page.page.locator(".zoning-search-results button").count() >= 1
    assert page.errors == []


def test_base_maps_switch_without_fetching(opened, map_cases):
    _case(map_cases, "cn-test-mini")
    page, _ = opened("cn-test-mini")
    outline = page.count(".zoning-context")
    assert outline > 0
    page.page.locator('input[name="zoning-base"][value="blank"]').check()
    assert page.count(".zoning-context") == 0
    page.page.locator('input[name="zoning-base"][value="outline"]').check()
    assert page.count(".zoning-context") == outline
    assert page.external == []


def test_multi_plan_map_zooms_to_each_plan(opened, map_cases):
    members, _ = _case(map_cases, "all-plans")
    page, members = opened("all-plans")
    for plan in members:
        page.page.locator(f'.zoning-plan[data-plan="{plan.plan_id}"] > summary').click()
        # wait for the end of the zoom (animated or not), not for a fixed time
        page.page.evaluate("""() => { window.zoningMoved = false;
            window.zoningMaps[0].map.once('moveend', () => { window.zoningMoved = true; }); }""")
        page.page.locator(f'button.zoning-zoom[data-plan="{plan.plan_id}"]').click()
        page.page.wait_for_function("window.zoningMoved === true", timeout=5000)
        west, south, east, north = zoning.webmap._plan_bounds(plan)
        view = page.page.evaluate("""() => { const b = window.zoningMaps[0].map.getBounds();
            return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; }""")
        assert view[0] <= west and east <= view[2], plan.plan_id
        assert view[1] <= south and north <= view[3], plan.plan_id
        # fitted, not the whole world: the view is at most a few times the plan's extent
        assert (view[2] - view[0]) * (view[3] - view[1]) < \
            30 * max(east - west, 0.5) * max(north - south, 0.5), plan.plan_id
        # the legend explains what is on screen: no class found only in far-away plans
        shown = set(page.page.eval_on_selector_all(
            ".zoning-legend .zoning-legend-item", "els => els.map(e => e.dataset.class)"))
        here = {c for g in plan.layers.values() for c in g.zone_class}
        near = {c for other in members if _overlaps(zoning.webmap._drawn_bounds(other), view)
                for g in other.layers.values() for c in g.zone_class}
        elsewhere = {c for other in members for g in other.layers.values()
                     for c in g.zone_class} - near
        assert here <= shown, (plan.plan_id, here - shown)
        assert not elsewhere & shown, (plan.plan_id, elsewhere & shown)
    assert page.errors == []


def _overlaps(bounds, view) -> bool:
    west, south, east, north = bounds
    return not (east < view[0] or west > view[2] or north < view[1] or south > view[3])


# --- what's here, cartographic defaults, controls ---------------------------------------------

def _clear_points(plan, count: int, margin_deg: float = 0.03) -> list[tuple[float, float]]:
    """Points well inside the plan's area and away from every polygon edge, so the exact
    geometry (the oracle) and the map's simplified geometry agree on what contains them."""
    import shapely

    extent = shapely.from_wkt(plan.meta["extent_wkt"])
    edges = shapely.union_all([shapely.boundary(g) for gdf in plan.layers.values()
                               for g in gdf.geometry if g is not None
                               and g.geom_type.endswith("Polygon")])
    west, south, east, north = extent.bounds
    xs, ys = np.meshgrid(np.linspace(west, east, 23)[1:-1], np.linspace(south, north, 23)[1:-1])
    grid = shapely.points(xs.ravel(), ys.ravel())
    keep = shapely.contains(extent.buffer(-margin_deg), grid) & \
        (shapely.distance(grid, edges) > margin_deg)
    chosen = grid[keep]
    picks = chosen[np.linspace(0, len(chosen) - 1, count).astype(int)]
    return [(p.x, p.y) for p in picks]


def _click_at(page, lon: float, lat: float, zoom: int = 9) -> None:
    """Centre the map on a place and click it with the mouse, as a reader would."""
    page.page.evaluate("""([lat, lon, zoom]) => { const m = window.zoningMaps[0].map;
        m.closePopup(); m.setView([lat, lon], zoom, {animate: false}); }""", [lat, lon, zoom])
    page.page.wait_for_function("!document.querySelector('.leaflet-popup')")
    x, y = page.page.evaluate("""([lat, lon]) => { const m = window.zoningMaps[0].map;
        const p = m.latLngToContainerPoint([lat, lon]);
        const r = m.getContainer().getBoundingClientRect();
        return [r.left + p.x, r.top + p.y]; }""", [lat, lon])
    hit = page.page.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('.zoning-panel, "
                             ".leaflet-control') === null", [x, y])
    assert hit, "a control covers the place to click"
    page.page.mouse.click(x, y)
    page.page.locator(".leaflet-popup-content .zoning-here").wait_for(timeout=3000)


def test_a_click_lists_everything_query_point_finds_there(browser, map_cases):
    """Opened as it opens (key layers only), a click inside Shanxi lists at least every
    feature ``zoning.query_point`` returns at that place, under its plan and layer, with
    exactly the rules the query applies there; each polygon listed does contain the place."""
    import shapely

    members, path = _case(map_cases, "cn-shanxi-2035")
    plan = members[0]
    page = Page(browser, path)
    try:
        for lon, lat in _clear_points(plan, 3):
            _click_at(page, lon, lat)
            listed = page.page.eval_on_selector_all(
                ".zoning-here .zh-feature", """els => els.map(e => ({
                    fid: e.dataset.fid, plan: e.dataset.plan,
                    layer: e.closest('.zh-layer').dataset.layer,
                    section: e.closest('.zh-plan').dataset.plan,
                    rules: Array.from(e.querySelectorAll('.zp-rules li')).map(li => li.dataset.rule),
                    badge: e.querySelector('.zoning-badge').className }))""")
            by_fid = {item["fid"]: item for item in listed}
            expected = zoning.query_point(lon, lat, plans=[plan])
            assert len(expected) > 0
            for row in expected.itertuples():
                assert row.feature_id in by_fid, (lon, lat, row.layer, row.feature_id)
                item = by_fid[row.feature_id]
                assert item["plan"] == item["section"] == plan.plan_id
                assert item["layer"] == f"{plan.plan_id}:{row.layer}"
                assert set(item["rules"]) == set(filter(None, str(row.rule_ids).split(";")))
                assert f"zoning-badge-{row.basis_badge}" in item["badge"]
            # nothing listed that is not there: polygons contain the place (within the screen
            # simplification), lines and points are within a few pixels (0.003° a pixel at z9)
            site = shapely.Point(lon, lat)
            features = {f: g for gdf in plan.layers.values()
                        for f, g in zip(gdf.feature_id, gdf.geometry)}
            for fid in by_fid:
                geometry = features[fid]
                reach = 0.002 if geometry.geom_type.endswith("Polygon") else 0.04
                assert shapely.distance(site, geometry) < reach, fid
        assert page.errors == []
    finally:
        page.close()


def test_map_opens_on_key_layers_drawn_in_order_and_fits_the_plan(browser, map_cases):
    import shapely

    for name in ("cn-shanxi-2035", "ir-qom-1414"):
        members, path = _case(map_cases, name)
        plan = members[0]
        defaults = styles.layer_defaults(plan).set_index("layer")
        page = Page(browser, path)
        try:
            checked = set(page.page.eval_on_selector_all(
                ".zoning-layers input[data-layer]:checked",
                "els => els.map(e => e.dataset.layer.split(':')[1])"))
            assert checked == set(defaults.index[defaults.visible]), name
            for layer in defaults.index[defaults.context]:
                assert layer not in checked
                assert page.count(f".zoning-layer-{plan.plan_id}--{layer}") == 0
            # the view is the plan's own area, filling most of it
            view = page.page.evaluate("""() => { const b = window.zoningMaps[0].map.getBounds();
                return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; }""")
            extent = shapely.from_wkt(plan.meta["extent_wkt"])
            west, south, east, north = extent.bounds
            assert view[0] <= west and east <= view[2] and view[1] <= south and north <= view[3]
            # it fills the width or the height left free between the side panels
            fill = page.page.evaluate("""([w, s, e, n]) => { const z = window.zoningMaps[0];
                const a = z.map.latLngToContainerPoint([s, w]);
                const b = z.map.latLngToContainerPoint([n, e]);
                const pad = z.padding(), size = z.map.getSize();
                const free = [size.x - pad.paddingTopLeft[0] - pad.paddingBottomRight[0],
                              size.y - pad.paddingTopLeft[1] - pad.paddingBottomRight[1]];
                return Math.max((b.x - a.x) / free[0], (a.y - b.y) / free[1]); }""",
                                      [west, south, east, north])
            assert fill > 0.7, (name, fill)
            # draw order: every point above every line above every control line above zones
            stack = page.page.evaluate("""() => {
                const z = window.zoningMaps[0], out = {};
                Object.values(z.layers).forEach(e => {
                    z.showLayer(e.spec.key, true);
                    e.features.forEach(f => {
                        const parts = f.layer.getLayers ? f.layer.getLayers() : [f.layer];
                        parts.forEach(p => { const el = p.getElement();
                            const pane = el.closest('.leaflet-pane[class*="zoning-g"]');
                            const zi = Number(getComputedStyle(pane).zIndex);
                            (out[e.spec.name] = out[e.spec.name] || []).push(zi); });
                    });
                });
                return out; }""")
            rank = {g: r for r, g in enumerate(styles.draw_order().index)}
            lowest = {}
            for layer, zs in stack.items():
                group = defaults.at[layer, "group"]
                lowest.setdefault(group, []).append((min(zs), max(zs)))
            groups = sorted(lowest, key=rank.get)
            for below, above in zip(groups, groups[1:]):
                assert max(hi for _, hi in lowest[below]) < min(lo for lo, _ in lowest[above]), \
                    (name, below, above)
            assert page.errors == []
        finally:
            page.close()


def test_search_placeholder_fits_in_every_language(browser, map_cases):
    for name in ("vn-kontum-2030", "ir-qom-1414", "cn-shanxi-2035"):
        _, path = _case(map_cases, name)
        page = Page(browser, path)
        try:
            # the placeholder laid out as text in the input's own font, against the box
            text_width, room = page.page.evaluate("""() => {
                const input = document.querySelector('.zoning-search-input');
                const cs = getComputedStyle(input);
                const span = document.createElement('span');
                span.style.font = cs.font; span.style.whiteSpace = 'pre';
                span.style.position = 'absolute'; span.textContent = input.placeholder;
                document.body.appendChild(span);
                const w = span.getBoundingClientRect().width; span.remove();
                return [w, input.clientWidth - parseFloat(cs.paddingLeft)
                           - parseFloat(cs.paddingRight)]; }""")
            assert text_width <= room, (name, text_width, room)
        finally:
            page.close()


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 860},
                                      {"width": 1024, "height": 600}])
def test_legend_never_covers_the_scale_bar(browser, map_cases, viewport):
    members, path = _case(map_cases, "cn-shanxi-2035")
    page = Page(browser, path)
    try:
        page.page.set_viewport_size(viewport)
        page.reset()                                   # every layer on: the longest legend
        legend = page.page.locator(".zoning-legend").bounding_box()
        scale = page.page.locator(".leaflet-control-scale").bounding_box()
        assert scale["height"] > 0
        assert legend["y"] + legend["height"] <= scale["y"], (legend, scale)
    finally:
        page.close()


def test_offline_base_map_names_more_places_closer_in_and_never_overlaps(browser, map_cases):
    members, path = _case(map_cases, "cn-shanxi-2035")
    page = Page(browser, path)
    try:
        def shown():
            return page.page.eval_on_selector_all(
                ".zoning-base-label", """els => els.map(e => { const r = e.getBoundingClientRect();
                    return [e.innerText.replace(/\\s+/g, ' '), Number(e.dataset.z),
                            r.left, r.top, r.right, r.bottom]; })""")

        def zoom():
            return page.page.evaluate("window.zoningMaps[0].map.getZoom()")

        opening = zoom()
        whole = shown()
        assert any("Taiyuan" in text for text, *_ in whole)          # the capital
        assert page.count(".zoning-river") > 0
        # southern Shanxi two zooms closer: towns that wait for that zoom are named
        page.page.evaluate("window.zoningMaps[0].map.setView([35.6, 111.6], "
                           f"{math.floor(opening) + 2}, {{animate: false}})")
        close = shown()
        assert any(z > opening for _, z, *_ in close), close
        for labels, level in ((whole, opening), (close, zoom())):
            assert all(z <= level for _, z, *_ in labels)            # nothing before its zoom
            for i, (_, _, *a) in enumerate(labels):
                for _, _, *b in labels[i + 1:]:
                    overlap = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
                    assert not (overlap[0] > 1 and overlap[1] > 1), (a, b)
        # the base map switch takes the names away with the outlines
        page.page.locator('input[name="zoning-base"][value="blank"]').check()
        assert page.count(".zoning-base-label") == 0
        assert page.errors == [] and page.external == []
    finally:
        page.close()

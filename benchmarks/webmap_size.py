"""Bytes and fidelity of the web maps: ``python -m benchmarks.webmap_size [--write-docs]``.

For every encoded plan and for the map of all plans it measures, in the same run:

* the bytes of the map ``zoning map`` writes, and what they are made of (inlined Leaflet and
  runtime, geometry, feature properties, offline outline base layer);
* the bytes of the plain folium way — one ``folium.GeoJson`` per layer with full-resolution
  geometry and ``GeoJsonPopup`` (Leaflet and its plugins linked from CDNs, so it costs
  nothing there);
* vertices: in the plan, distinct after rounding, and stored after simplification;
* the largest displacement of any vertex, in screen pixels at zoom 12;
* the share of screen pixels that differ between the light map and a full-resolution
  rendering of the same map (same styles, 7-decimal coordinates, no simplification), taken in
  headless Chromium at zooms 8, 10 and 12 over the plan's centre.

``--write-docs`` replaces the table between the markers in ``docs/performance-maps.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import sys
import tempfile
from pathlib import Path

import folium
import numpy as np
import shapely

import zoning
from zoning import webmap

DOC = Path(__file__).resolve().parent.parent / "docs" / "performance-maps.md"
START, END = "<!-- webmap-bench:start -->", "<!-- webmap-bench:end -->"
ZOOMS = (8, 10, 12)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


def naive_map_html(plans) -> str:
    """The plain folium way: one GeoJson per layer, full-resolution, with popups."""
    m = folium.Map(tiles=None)
    fields = ["name", "name_en", "zone_class_label", "regulation", "source_section",
              "source_lines", "source_text", "basis_badge", "basis_detail"]
    for plan in plans:
        for name, gdf in plan.layers.items():
            if gdf.empty:
                continue
            folium.GeoJson(gdf[fields + ["geometry"]].to_json(drop_id=True),
                           name=f"{plan.plan_id}: {name}",
                           popup=folium.GeoJsonPopup(fields=fields),
                           tooltip=folium.GeoJsonTooltip(["name", "name_en"])).add_to(m)
    folium.LayerControl().add_to(m)
    return m.get_root().render()


def _size(obj) -> int:
    return len(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _payload(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', html, re.S)
    return json.loads(match.group(1))


def _decoded_shapes(data: dict) -> dict[str, shapely.Geometry]:
    scale = data["scale"]
    arcs = [np.cumsum(np.asarray(a, dtype=np.int64).reshape(-1, 2), axis=0) / scale
            for a in data["arcs"]]

    def join(refs):
        pieces = [arcs[r] if r >= 0 else arcs[~r][::-1] for r in refs]
        return np.vstack([pieces[0]] + [p[1:] for p in pieces[1:]])

    out = {}
    for plan in data["plans"]:
        for layer in plan["layers"]:
            for f in layer["features"]:
                g = f["g"]
                if g["type"] == "MultiPolygon":
                    out[f["p"]["id"]] = shapely.MultiPolygon(
                        [shapely.Polygon(join(p[0]), [join(h) for h in p[1:]]) for p in g["a"]])
                elif g["type"] == "MultiLineString":
                    out[f["p"]["id"]] = shapely.MultiLineString([join(r) for r in g["a"]])
    return out


def displacement_px(plans, data: dict, zoom: int = 12) -> float:
    """Largest distance from a source vertex to the drawn outline, in pixels at ``zoom``."""
    shapes = _decoded_shapes(data)
    worst = 0.0
    for plan in plans:
        for gdf in plan.layers.values():
            for fid, geom in zip(gdf.feature_id, gdf.geometry):
                if fid not in shapes:
                    continue
                latitude = abs(geom.centroid.y)
                px_deg = 360 / (256 * 2 ** zoom) * math.cos(math.radians(latitude))
                drawn = shapes[fid]
                boundary = drawn.boundary if drawn.geom_type == "MultiPolygon" else drawn
                if geom.geom_type == "MultiPolygon":
                    # Unions of zones can hold zero-width spikes and sliver holes (gaps of
                    # 1e-15 degrees between unioned cells): invisible, and not drawn.
                    geom = shapely.buffer(shapely.buffer(geom, 1e-7, join_style="mitre"),
                                          -1e-7, join_style="mitre")
                vertices = shapely.points(shapely.get_coordinates(geom))
                worst = max(worst, float(shapely.distance(vertices, boundary).max()) / px_deg)
    return worst


def pixel_difference(browser, light: Path, reference: Path, plan) -> dict[int, float]:
    """Share of pixels that differ visibly (any channel by > 40/255) at each zoom."""
    import matplotlib.image as mpimg

    west, south, east, north = webmap._plan_bounds(plan)
    centre = [(south + north) / 2, (west + east) / 2]
    shots: dict[Path, dict[int, np.ndarray]] = {}
    for path in (light, reference):
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.route("**/*", lambda route: route.continue_()
                   if route.request.url.startswith(("file:", "data:")) else route.abort())
        page.goto(path.as_uri())
        page.wait_for_function("window.zoningMaps && window.zoningMaps.length > 0")
        page.add_style_tag(content=".leaflet-control-container { display: none !important; }")
        shots[path] = {}
        for zoom in ZOOMS:
            page.evaluate("([c, z]) => { window.zoningMaps[0].map.setView(c, z, "
                          "{animate: false}); }", [centre, zoom])
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => "
                          "requestAnimationFrame(r)))")
            page.wait_for_timeout(500)
            with tempfile.NamedTemporaryFile(suffix=".png") as tmp:
                page.screenshot(path=tmp.name)
                shots[path][zoom] = mpimg.imread(tmp.name)[..., :3]
        page.close()
    return {zoom: float((np.abs(shots[light][zoom] - shots[reference][zoom]).max(axis=2)
                         > 40 / 255).mean()) for zoom in ZOOMS}


def measure(name: str, plans, browser, workdir: Path) -> dict:
    light_html = webmap.plan_map(plans).get_root().render()
    naive_html = naive_map_html(plans)
    full_html = webmap.plan_map(plans, simplify=False).get_root().render()
    data = _payload(light_html)
    css, js = webmap._assets()
    geometry = _size(data["arcs"]) + sum(_size(f["g"]) for p in data["plans"]
                                         for layer in p["layers"] for f in layer["features"])
    properties = sum(_size(f["p"]) for p in data["plans"] for layer in p["layers"]
                     for f in layer["features"]) + sum(_size(p["rules"]) for p in data["plans"])
    source_vertices = sum(int(shapely.get_num_coordinates(g.geometry.values).sum())
                          for plan in plans for g in plan.layers.values())
    full = _payload(full_html)
    distinct = len({tuple(v) for a in full["arcs"]
                    for v in np.cumsum(np.asarray(a).reshape(-1, 2), axis=0)})
    stored = sum(len(a) // 2 for a in data["arcs"])
    row = {"map": name, "light": len(light_html.encode()), "naive": len(naive_html.encode()),
           "full": len(full_html.encode()),
           "assets": len(css.encode()) + len(js.encode()), "geometry": geometry,
           "properties": properties, "context": _size(data["context"]),
           "source_vertices": source_vertices, "distinct_vertices": distinct,
           "stored_vertices": stored, "displacement_px": displacement_px(plans, data)}
    if browser is not None and len(plans) == 1:
        light = workdir / f"{name}.html"
        reference = workdir / f"{name}-reference.html"
        light.write_text(light_html, encoding="utf-8")
        reference.write_text(webmap.plan_map(plans, simplify=False, zoom=18).get_root().render(),
                             encoding="utf-8")
        row["pixels"] = pixel_difference(browser, light, reference, plans[0])
    return row


def render(rows: list[dict]) -> str:
    def kb(b: int) -> str:
        return f"{b / 1024:,.0f} KB" if b < 1024 ** 2 else f"{b / 1024 ** 2:,.2f} MB"

    lines = [f"Measured with `python -m benchmarks.webmap_size` on {platform.machine()}, "
             f"Python {platform.python_version()}, shapely {shapely.__version__} "
             f"(GEOS {'.'.join(map(str, shapely.geos_version))}), folium {folium.__version__}.",
             "",
             "| map | zoning map | naive folium | naive ÷ zoning | same map, no simplification "
             "| of which Leaflet + runtime | geometry | properties + rules | outline base |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['map']} | {kb(r['light'])} | {kb(r['naive'])} | "
                     f"**{r['naive'] / r['light']:.1f}×** | {kb(r['full'])} | {kb(r['assets'])} | "
                     f"{kb(r['geometry'])} | {kb(r['properties'])} | {kb(r['context'])} |")
    lines += ["", "| map | vertices in the plan | distinct on the grid | stored after "
              "simplification | largest vertex displacement at z12 | pixels differing at z8 / "
              "z10 / z12 |", "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        pixels = " / ".join(f"{r['pixels'][z]:.2%}" for z in ZOOMS) if "pixels" in r else "–"
        lines.append(f"| {r['map']} | {r['source_vertices']:,} | {r['distinct_vertices']:,} | "
                     f"{r['stored_vertices']:,} | {r['displacement_px']:.2f} px | {pixels} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.webmap_size",
                                     description=__doc__)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--no-browser", action="store_true", help="skip the pixel comparison")
    args = parser.parse_args(argv)
    plans = {}
    for pid in zoning.plan_ids():
        try:
            plans[pid] = zoning.load(pid)
        except zoning.ZoningError as exc:
            print(f"{pid}: skipped ({str(exc).splitlines()[0]})", file=sys.stderr)
    cases = [(pid, [plan]) for pid, plan in plans.items()] + [("all plans", list(plans.values()))]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        browser = pw = None
        if not args.no_browser:
            from playwright.sync_api import sync_playwright

            pw = sync_playwright().start()
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            for name, members in cases:
                rows.append(measure(name, members, browser, Path(tmp)))
                print(f"{name}: done", file=sys.stderr)
        finally:
            if browser is not None:
                browser.close()
                pw.stop()
    table = render(rows)
    print(table)
    if args.write_docs:
        text = DOC.read_text(encoding="utf-8")
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        DOC.write_text(f"{head}{START}\n{table}\n{END}{tail}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

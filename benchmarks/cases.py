"""The benchmark cases: (a) one-point site query, (b) bulk point assignment, (c) tabulation,
(d) a question from the shell, (e) plan diff, (f) compliance of many points.

Each case returns rows ``(case, method, seconds, peak MB, note)`` and target checks
``(target, measured ratio, wanted, met)``; every ratio is between methods timed in the same
run on the same data, and every method's answer is checked against the others.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._measure import measure, per_call


@dataclass
class Result:
    rows: list[tuple] = field(default_factory=list)
    targets: list[tuple] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, case: str, method: str, seconds: float, measured=None,
            note: str = "") -> None:
        heap = getattr(measured, "peak_mb", None)
        rss = getattr(measured, "rss_mb", None)
        self.rows.append((case, method, seconds, heap, rss, note))

    def target(self, name: str, ratio: float, wanted: str, met: bool) -> None:
        self.targets.append((name, ratio, wanted, met))


def shanxi_counties() -> gpd.GeoDataFrame:
    from zoning import reference

    return reference.china_units(reference.china_children("140000"))


def uniform_points(bounds, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    minx, miny, maxx, maxy = bounds
    rng = np.random.default_rng(seed)
    return rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)


def prepared_contains_floor(polys: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Plain shapely done well: prepared polygons, a bounding-box prefilter, contains_xy."""
    out = np.full(len(x), -1, dtype=np.int64)
    bounds = shapely.bounds(polys)
    shapely.prepare(polys)
    for i in range(len(polys) - 1, -1, -1):  # reversed: where polygons overlap, first wins
        b = bounds[i]
        idx = np.flatnonzero((x >= b[0]) & (x <= b[2]) & (y >= b[1]) & (y <= b[3]))
        out[idx[shapely.contains_xy(polys[i], x[idx], y[idx])]] = i
    return out


# -- (a) one point, every plan -----------------------------------------------------------------
def single_point(n_sites: int, repeats: int) -> Result:
    import zoning
    from zoning.query import SkippedPlanWarning, plan_index, resolve_plans

    res = Result()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedPlanWarning)
        plans = resolve_plans()
    built = measure(lambda: _fresh_index(plans), repeats=1)
    index = plan_index(plans)
    index.slices.grid, index.hits, index.extents  # noqa: B018 - warm the lazy parts
    res.row("a", "zoning index build (once per plan set: slices, grid, rule table)",
            built.seconds, note=f"{len(plans)} plans, {len(index.features)} features, "
                                f"{index.slices.n_slices} slices")
    rng = np.random.default_rng(1)
    sites = []
    for plan in plans:
        extent = shapely.from_wkt(plan.meta["extent_wkt"])
        x, y = uniform_points(extent.bounds, n_sites * 4, int(rng.integers(1 << 30)))
        inside = shapely.contains_xy(extent, x, y)
        sites += list(zip(x[inside], y[inside]))[: max(1, n_sites // len(plans))]
    points = [shapely.Point(x, y) for x, y in sites]
    frames = [gpd.GeoDataFrame(geometry=[p], crs="EPSG:4326") for p in points]
    features = index.features
    features.sindex  # noqa: B018 - built once, as a user holding the frame would have it
    geoms = index.slices.geometries
    tree = shapely.STRtree(geoms)
    hits = index.hits

    def shapely_ids(p):
        candidates = np.sort(tree.query(p))
        return candidates[shapely.intersects_xy(geoms[candidates], p.x, p.y)]

    methods = {
        "geopandas.sjoin per call (1-row GeoDataFrame, predicate='intersects')":
            (lambda f: gpd.sjoin(f, features, predicate="intersects"), frames),
        "shapely STRtree.query(point, predicate='intersects') -> ids":
            (lambda p: tree.query(p, predicate="intersects"), points),
        "plain shapely done well: STRtree bbox + intersects_xy on prepared -> ids":
            (shapely_ids, points),
        "plain shapely done well + the same result table (rules, basis)":
            (lambda p: hits.take(shapely_ids(p)), points),
        "zoning.query_point(lon, lat) -> result table (rules, basis)":
            (lambda p: zoning.query_point(p.x, p.y, plans), points),
        "zoning slice lookup -> ids (Slices.members_at)":
            (lambda p: index.slices.members_at(p.x, p.y), points),
        "zoning.query(1-row GeoDataFrame) (CRS checks, overlap, geometry)":
            (lambda f: zoning.query(f, plans), frames),
    }
    times = {name: per_call(func, args, repeats) for name, (func, args) in methods.items()}
    for name, seconds in times.items():
        res.row("a", name, seconds, note="per call")
    # same answers
    for p in points:
        expected = set(shapely_ids(p).tolist())
        got = set(index.slices.members_at(p.x, p.y).tolist())
        assert got == expected, f"slice lookup disagrees with shapely at {p}"
    names = list(times)
    sjoin, ids_best, rich_best, qp, lookup = (times[names[0]], times[names[2]],
                                              times[names[3]], times[names[4]], times[names[5]])
    res.target("(a) sjoin per call / zoning.query_point", sjoin / qp, ">= 20", sjoin / qp >= 20)
    res.target("(a) zoning.query_point / plain shapely + same table", qp / rich_best, "<= 2",
               qp / rich_best <= 2)
    res.target("(a) zoning slice lookup / plain shapely ids", lookup / ids_best, "<= 2",
               lookup / ids_best <= 2)
    one_row = times[names[6]]
    res.target("(a) zoning.query(1-row GeoDataFrame) / zoning.query_point", one_row / qp,
               "<= 3", one_row / qp <= 3)
    res.notes.append(f"(a) {len(points)} sites inside the plan areas, each asked of all "
                     f"{len(plans)} plans; times are the mean per call, best of {repeats} rounds")
    return res


def _fresh_index(plans):
    from zoning.query import _INDEX_CACHE, plan_index

    _INDEX_CACHE.clear()
    index = plan_index(plans)
    index.slices.grid, index.hits, index.extents  # noqa: B018
    return index


# -- (b) bulk assignment of points to counties ---------------------------------------------------
def bulk(n_points: int, repeats: int) -> Result:
    import zoning
    from zoning.slices import CellGrid

    res = Result()
    counties = shanxi_counties()
    polys = counties.geometry.to_numpy()
    x, y = uniform_points(counties.total_bounds, n_points, seed=0)
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs="EPSG:4326")
    note = (f"{n_points:,} points, {len(polys)} counties, "
            f"{shapely.get_num_coordinates(polys).sum():,} vertices")

    floor = measure(lambda: prepared_contains_floor(polys, x, y), repeats, memory=True)
    expected = floor.result
    res.row("b", "plain shapely done well: prepared + bbox prefilter + contains_xy (floor)",
            floor.seconds, floor, note)

    build = measure(lambda: CellGrid(polys), repeats, memory=True)
    grid = build.result
    res.row("b", "zoning CellGrid build (once per zone layer)", build.seconds, build,
            f"{grid.fine.shape[0]} fine blocks, {grid.nbytes / 2**20:.0f} MB")
    locate = measure(lambda: grid.locate(x, y, predicate="contains"), repeats, memory=True)
    assert (locate.result == expected).all(), "CellGrid disagrees with the floor"
    boundary = float((grid.cells(x, y) == -2).mean())
    res.row("b", "zoning CellGrid.locate (grid built)", locate.seconds, locate,
            f"{boundary:.1%} of points need an exact test")
    full = measure(lambda: zoning.assign(points, counties), repeats, memory=True)
    got = full.result.to_numpy(dtype=float, na_value=-1).astype(np.int64)
    assert (got == expected).all(), "zoning.assign disagrees with the floor"
    res.row("b", "zoning.assign(GeoDataFrame) incl. grid build + input checks", full.seconds,
            full)

    pts = points.geometry.values
    tree = shapely.STRtree(polys)
    raw = measure(lambda: tree.query(np.asarray(pts), predicate="intersects"),
                  max(1, repeats - 1), memory=True)
    res.row("b", "shapely STRtree.query(points, predicate='intersects')", raw.seconds,
            raw)
    sj = measure(lambda: gpd.sjoin(points, counties, predicate="intersects"),
                 max(1, repeats - 1), memory=True)
    joined = sj.result
    assert (np.sort(joined.index.to_numpy()) == np.flatnonzero(expected >= 0)).all()
    res.row("b", "geopandas.sjoin(points, counties)", sj.seconds, sj)
    duck = _duckdb(polys, x, y, repeats)
    if duck is not None:
        res.row("b", "DuckDB spatial join (ST_Intersects, data loaded)", duck.seconds,
                duck)
    dask = measure(lambda: zoning.assign(points, counties, engine="dask"), 1, memory=True)
    same = bool((dask.result.to_numpy(dtype=float, na_value=-1) == got).all())
    res.row("b", "zoning.assign(engine='dask', threads)", dask.seconds, dask,
            f"identical to in-memory: {same}")

    ratio = locate.seconds / floor.seconds
    res.target("(b) zoning CellGrid.locate / prepared contains_xy floor", ratio, "<= 1.3",
               ratio <= 1.3)
    both = (build.seconds + locate.seconds) / floor.seconds
    res.target("(b) zoning grid build + locate / floor", both, "(info)", True)
    if duck is not None:
        r = duck.seconds / locate.seconds
        res.target("(b) DuckDB spatial / zoning CellGrid.locate", r, ">= 5", r >= 5)
    r = sj.seconds / locate.seconds
    res.target("(b) geopandas.sjoin / zoning CellGrid.locate", r, ">= 10", r >= 10)
    res.target("(d) peak heap of zoning CellGrid.locate / floor", locate.peak_mb / floor.peak_mb,
               f"(info: {locate.peak_mb:.0f} MB vs {floor.peak_mb:.0f} MB; sjoin "
               f"{sj.peak_mb:.0f} MB, DuckDB RSS {duck.rss_mb if duck else float('nan'):.0f} MB)",
               True)
    res.notes.append(f"(b) {note}; uniform over the bounding box of Shanxi; every method "
                     "returns the same county for every point")
    return res


def _duckdb(polys, x, y, repeats):
    try:
        import duckdb
        import duckdb_extension_spatial
    except ImportError:
        return None
    ext = next(Path(duckdb_extension_spatial.__file__).parent.glob(
        "extensions/*/spatial.duckdb_extension"), None)
    if ext is None:
        return None
    con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    con.execute(f"LOAD '{ext}'")
    counties = pd.DataFrame({"id": np.arange(len(polys)), "wkb": shapely.to_wkb(polys)})
    pts = pd.DataFrame({"i": np.arange(len(x)), "x": x, "y": y})
    con.register("counties_df", counties)
    con.register("points_df", pts)
    con.execute("CREATE TABLE counties AS SELECT id, ST_GeomFromWKB(wkb) AS geom FROM counties_df")
    con.execute("CREATE TABLE points AS SELECT i, ST_Point(x, y) AS geom FROM points_df")
    sql = ("SELECT p.i, c.id FROM points p JOIN counties c "
           "ON ST_Intersects(c.geom, p.geom)")
    out = measure(lambda: con.execute(sql).fetchnumpy(), max(1, repeats - 1), memory=True)
    expected = prepared_contains_floor(polys, x, y)
    got = np.full(len(x), -1)
    got[out.result["i"]] = out.result["id"]
    assert (got == expected).all(), "DuckDB disagrees with the floor"
    con.close()
    return out


# -- (c) area tabulation -----------------------------------------------------------------------
def tabulation(repeats: int) -> Result:
    import zoning
    from zoning.geometry import area_km2

    res = Result()
    plan = zoning.load("cn-shanxi-2035")
    counties = shanxi_counties()
    units = gpd.GeoDataFrame({"unit_id": counties.adcode}, geometry=counties.geometry,
                             crs="EPSG:4326")
    feats = plan.features
    polys = gpd.GeoDataFrame(feats[feats.geom_type.isin(["Polygon", "MultiPolygon"])],
                             crs="EPSG:4326").reset_index(drop=True)

    def overlay_way():
        dissolved = polys.dissolve("zone_class").reset_index()[["zone_class", "geometry"]]
        pieces = gpd.overlay(units, dissolved, how="intersection", keep_geom_type=True)
        pieces["area_km2"] = area_km2(pieces)
        return pieces.groupby(["unit_id", "zone_class"]).area_km2.sum()

    base = measure(overlay_way, repeats, memory=True)
    cold = measure(lambda: zoning.tabulate(polys, units), repeats, memory=True)
    zoning.tabulate(plan, units)
    warm = measure(lambda: zoning.tabulate(plan, units), repeats)
    note = (f"cn-shanxi-2035: {len(polys)} polygon features, "
            f"{polys.zone_class.nunique()} classes x {len(units)} counties")
    res.row("c", "geopandas: dissolve by class + overlay + area (EPSG:6933)", base.seconds,
            base, note)
    res.row("c", "zoning.tabulate (features frame: slices built in the call)", cold.seconds,
            cold)
    res.row("c", "zoning.tabulate (plan: slices cached with the plan index)", warm.seconds)
    mine = cold.result.set_index(["unit", "zone_class"]).area_km2
    ref = base.result
    both = pd.concat([mine, ref], axis=1, keys=["zoning", "overlay"]).fillna(0.0)
    big = both[(both.zoning > 0.01) | (both.overlay > 0.01)]
    rel = ((big.zoning - big.overlay).abs() / big.overlay.where(big.overlay > 0)).max()
    small = (both.zoning - both.overlay).abs().max()
    r = base.seconds / cold.seconds
    res.target("(c) geopandas.overlay / zoning.tabulate (cold)", r, ">= 1", r >= 1)
    res.target("(c) largest relative area difference vs overlay", float(rel), "<= 1e-6",
               bool(rel <= 1e-6))
    res.notes.append(f"(c) {note}; {len(big)} (county, class) areas above 0.01 km², largest "
                     f"absolute difference {small:.2e} km²")
    return res


# -- (d) a question from the shell: what a person waits for ------------------------------------
def shell(repeats: int) -> Result:
    """New processes, as a person at a shell starts them, against the warm persistent cache."""
    import os
    import subprocess
    import sys
    import tempfile

    res = Result()
    bin_dir = os.path.dirname(sys.executable)
    zoning_cli = os.path.join(bin_dir, "zoning")
    env = dict(os.environ)
    env["ZONING_CACHE_DIR"] = tempfile.mkdtemp(prefix="zoning-bench-cache-")
    question = [zoning_cli, "query", "--lon", "110.44", "--lat", "34.87"]

    def run(cmd):
        return lambda: subprocess.run(cmd, env=env, check=True, capture_output=True)

    cold = measure(run(question), repeats=1)
    commands = {
        "python -c 'import geopandas' (the plain way's floor)":
            [sys.executable, "-c", "import geopandas"],
        "zoning query --lon --lat (new process, warm cache, 5 plans)": question,
        "zoning --help": [zoning_cli, "--help"],
    }
    times = {name: measure(run(cmd), repeats=max(repeats, 5)).seconds
             for name, cmd in commands.items()}
    res.row("d", "zoning query --lon --lat (new process, empty cache: builds 5 plans + index)",
            cold.seconds, note="once")
    for name, seconds in times.items():
        res.row("d", name, seconds, note=f"best of {max(repeats, 5)}")
    floor, question_s, help_s = times.values()
    res.target("(d) shell question / import geopandas", question_s / floor, "<= 3",
               question_s / floor <= 3)
    res.target("(d) zoning --help / import geopandas", help_s / floor, "<= 0.5",
               help_s / floor <= 0.5)
    res.notes.append("(d) each command is a new process started as from a shell; the cache "
                     "folder is filled by the first (cold) run")
    return res


# -- (f) compliance of many points ------------------------------------------------------------
def compliance(n_points: int, repeats: int) -> Result:
    """``zoning.comply(summary=True)`` on uniform points over Shanxi's bounding box against
    every plan, next to ``zoning.assign`` of the same points to Shanxi's counties (target:
    within 5x). The plans' index is built before timing (once per set of plans, as the
    CellGrid of a zone layer is); the summary rows are checked against per-point calls."""
    import zoning
    from zoning.query import plan_index

    res = Result()
    counties = shanxi_counties()
    x, y = uniform_points(counties.total_bounds, n_points, seed=0)
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs="EPSG:4326")
    plans = [zoning.load(p) for p in zoning.plan_ids()]
    zoning.comply(points.iloc[:10], "housing", plans, summary=True)        # build the index
    assign = measure(lambda: zoning.assign(points, counties), repeats, memory=True)
    res.row("f", "zoning.assign of the same points to Shanxi's counties", assign.seconds,
            assign, f"{n_points:,} points")
    comply = measure(lambda: zoning.comply(points, "housing", plans, summary=True), repeats,
                     memory=True)
    summary = comply.result
    # spot check: 200 random points, and 100 in cells a boundary crosses, judged one by one
    # (each located exactly against the features) give the same summary rows
    rng = np.random.default_rng(1)
    near = np.flatnonzero(plan_index(plans).slices.grid.cells(x, y) == -2)
    some = np.concatenate([rng.choice(n_points, 200, replace=False),
                           rng.choice(near, min(100, len(near)), replace=False)])
    alone = pd.concat([zoning.comply(points.iloc[[i]], "housing", plans, summary=True)
                       for i in some]).drop(columns="geometry")
    pd.testing.assert_frame_equal(pd.DataFrame(summary.drop(columns="geometry").iloc[some]),
                                  pd.DataFrame(alone), obj="chunked summaries vs one by one")
    counts = summary.verdict.value_counts().to_dict()
    res.row("f", "zoning.comply(summary=True), housing, 5 plans, chunks of "
            f"{zoning.compliance.CHUNK:,}", comply.seconds, comply,
            ", ".join(f"{v} {c:,}" for v, c in counts.items()))
    ratio = comply.seconds / assign.seconds
    res.target("(f) zoning.comply of N points / zoning.assign of the same points", ratio, "<= 5",
               ratio <= 5)
    return res


# -- (e) plan diff -----------------------------------------------------------------------------
def shanxi_amended(plan):
    """Shanxi with its urban development boundary grown by a 0.15° disc outside it (clipped to
    the province), one rule added and one indicator target changed; and the added land."""
    import zoning

    extent = shapely.from_wkt(plan.meta["extent_wkt"])
    layer = plan["control_lines"]
    udb = layer[layer.feature_id.str.endswith("/urban-development-boundary")].geometry.iloc[0]
    disc = shapely.intersection(extent, shapely.point_on_surface(extent.difference(udb))
                                .buffer(0.15))
    grown = shapely.union(udb, disc)
    amended = zoning.replace_layer(plan, "control_lines",
                                   gpd.GeoDataFrame(geometry=[grown], crs="EPSG:4326"),
                                   feature="urban-development-boundary")
    rules = plan.table("rules")
    rule = rules.iloc[0].copy()
    rule["rule_id"], rule["text_en"] = "amendment-1", "Amendment 1"
    indicators = plan.table("indicators")
    row = indicators.target_value.notna().idxmax()
    indicators.at[row, "target_value"] = indicators.at[row, "target_value"] * 1.1
    from dataclasses import replace
    from types import MappingProxyType

    tables = {**amended.tables, "rules": pd.concat([rules, rule.to_frame().T],
                                                   ignore_index=True),
              "indicators": indicators}
    return replace(amended, tables=MappingProxyType(tables)), shapely.difference(grown, udb)


def plan_diff(repeats: int) -> Result:
    import pyproj

    import zoning

    res = Result()
    plan = zoning.load("cn-shanxi-2035")
    amended, added = shanxi_amended(plan)
    units = zoning.admin_units(plan)
    feats = plan.features
    polys = gpd.GeoDataFrame(feats[feats.geom_type.isin(["Polygon", "MultiPolygon"])],
                             crs="EPSG:4326").reset_index(drop=True)
    cold = measure(lambda: zoning.tabulate(polys, units), repeats, memory=True)
    zoning.tabulate(plan, units)
    warm = measure(lambda: zoning.tabulate(plan, units), repeats)
    diffed = measure(lambda: zoning.diff(plan, amended, units=units), repeats, memory=True)
    d = diffed.result
    expected = abs(pyproj.Geod(ellps="WGS84").geometry_area_perimeter(added)[0]) / 1e6
    moved = d.transitions[d.transitions.to_class == "urban_development_boundary"].area_km2.sum()
    rel = abs(moved - expected) / expected
    assert rel < 1e-4, (moved, expected)
    assert list(d.rules.change) == ["added"] and list(d.indicators.change) == ["changed"]
    note = (f"cn-shanxi-2035 vs an amended copy (boundary moved by {expected:,.0f} km², a rule "
            f"added, a target changed); {len(units)} counties")
    res.row("e", "zoning.tabulate (features frame: slices built in the call)", cold.seconds,
            cold, note)
    res.row("e", "zoning.tabulate (plan: slices cached with the plan index)", warm.seconds)
    res.row("e", "zoning.diff (features, transitions per county, rules, indicators)",
            diffed.seconds, diffed)
    r = diffed.seconds / cold.seconds
    res.target("(e) zoning.diff / zoning.tabulate (cold), Shanxi", r, "<= 2", r <= 2)
    r_warm = diffed.seconds / warm.seconds
    res.target("(e) zoning.diff / zoning.tabulate (slices cached), Shanxi", r_warm, "<= 2",
               r_warm <= 2)
    res.target("(e) moved area in transitions vs geodesic area of the added land", rel,
               "<= 1e-4", bool(rel <= 1e-4))
    res.notes.append(f"(e) {note}; the diff overlays only the land where some feature's "
                     "coverage changed, so it needs no slices of either whole version")
    return res

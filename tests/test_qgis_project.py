"""The QGIS project inside each plan GeoPackage, checked by QGIS itself, and the GeoPackage
details QGIS and Debian's GDAL read (version, column types, titles, style rows).

QGIS is driven through ``tests/qgis_probe.py`` in a subprocess of the Python that has QGIS
(Debian's ``python3-qgis`` lives in the system Python, not in the project's venv); the tests
skip, naming the reason, only when that Python cannot import QGIS.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pyogrio
import pytest

from zoning import styles
from zoning.io import write_gpkg

PLAN_IDS = ["cn-shanxi-2035", "cn-yongji-2035", "ir-qom-1414", "ir-ardabil-1424", "vn-kontum-2030"]
QGIS_PYTHON = os.environ.get("ZONING_QGIS_PYTHON", "/usr/bin/python3")
PROBE = Path(__file__).with_name("qgis_probe.py")
ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": "",
       "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp")}


@pytest.fixture(scope="session")
def qgis_python():
    if not Path(QGIS_PYTHON).exists():
        pytest.skip(f"no {QGIS_PYTHON} (./dev test installs Debian's python3-qgis)")
    probe = subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], env=ENV,
                           capture_output=True, text=True)
    if probe.returncode:
        pytest.skip(f"QGIS cannot be imported by {QGIS_PYTHON}: "
                    f"{probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else ''}")
    return QGIS_PYTHON


@pytest.fixture(scope="session")
def gpkgs(plans, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpkg")
    return {pid: write_gpkg(plans[pid], folder / f"{pid}.gpkg") for pid in PLAN_IDS
            if pid in plans}


def _gpkg(gpkgs, plans, plan_id):
    if plan_id not in gpkgs:
        pytest.skip(f"{plan_id} not encoded")
    return plans[plan_id], gpkgs[plan_id]


def _catalog(plan):
    return plan.tables["layer_catalog"].set_index("layer")


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_embedded_project_opens_in_qgis_styled_labelled_and_in_order(qgis_python, gpkgs, plans,
                                                                     plan_id):
    plan, path = _gpkg(gpkgs, plans, plan_id)
    catalog = _catalog(plan)
    nonempty = [name for name, gdf in plan.layers.items() if len(gdf)]
    # the layers that must stay visible on top: control lines and points
    on_top = [name for name in nonempty if catalog.at[name, "geometry_type"] == "point"
              or catalog.at[name, "theme"] == "control_line"]
    run = subprocess.run([qgis_python, str(PROBE), str(path), plan_id, *on_top], env=ENV,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["read"]
    assert plan.meta["title"] in report["title"] and plan.meta["title_en"] in report["title"]

    layers = {entry["table"]: entry for entry in report["layers"]}
    assert set(layers) == set(plan.layers) and len(report["layers"]) == len(plan.layers)
    defaults = styles.layer_defaults(plan).set_index("layer")
    themes = styles.themes()
    for name, entry in layers.items():
        assert entry["valid"], name
        assert entry["crs"] == "EPSG:4326"
        assert entry["features"] == len(plan.layers[name]), name
        assert entry["visible"] == bool(defaults.at[name, "visible"]), name
        theme = catalog.at[name, "theme"]
        if theme in themes.index:
            assert entry["group"] == themes.at[theme, "label_en"], name
        assert catalog.at[name, "title_en"] in entry["name"], name
        # styles load: one category per class in the file's own data, none empty
        present = set(pyogrio.read_dataframe(path, layer=name, columns=["zone_class"],
                                             read_geometry=False).zone_class)
        assert entry["renderer"] == "categorizedSymbol"
        assert {value for value, _ in entry["categories"]} == present, name
        assert all(value and label and label != "other" for value, label in entry["categories"])
        # labels in the plan's own script
        assert entry["labels"] and entry["label_field"] == "name", name
        # "Load Style → from database" lists one style for the layer
        assert entry["styles_related"] == 1, (name, entry["style_names"])
    # drawing order: points over lines over control lines over zones, read from the catalog
    rank = {"point": 3, "line": 2}
    ranks = [rank.get(catalog.at[t, "geometry_type"],
                      1 if catalog.at[t, "theme"] == "control_line" else 0)
             for t in report["order"]]
    assert ranks == sorted(ranks, reverse=True), report["order"]
    # ... and it shows: removing a control-line or point layer from the full stack changes
    # (nearly) every pixel it paints on its own
    for name in on_top:
        pixels = report["pixels"][name]
        assert pixels["alone"] > 0, name
        assert pixels["removed"] >= 0.5 * pixels["alone"], (name, pixels)
    assert report["pixels"]["labels"] > 0, "labels are drawn"
    assert not [m for m in report["messages"] if "user_version" in m], report["messages"][:5]


# --- the GeoPackage as Debian's GDAL and QGIS read it ----------------------------------------

@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_gpkg_needs_no_geopackage_1_4(gpkgs, plans, plan_id):
    _, path = _gpkg(gpkgs, plans, plan_id)
    with sqlite3.connect(path) as con:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        application = con.execute("PRAGMA application_id").fetchone()[0]
    assert application == int.from_bytes(b"GPKG", "big")
    assert version == 10300
    ogrinfo = shutil.which("ogrinfo")
    if ogrinfo is None:
        pytest.skip("no ogrinfo (Debian gdal-bin) to open the file with")
    run = subprocess.run([ogrinfo, "-ro", "-so", "-al", str(path)], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    assert "user_version" not in run.stderr and "partially supported" not in run.stderr


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_measures_are_real_columns_and_layers_have_human_titles(gpkgs, plans, plan_id):
    plan, path = _gpkg(gpkgs, plans, plan_id)
    catalog = _catalog(plan)
    with sqlite3.connect(path) as con:
        titles = dict(con.execute("SELECT table_name, identifier FROM gpkg_contents"))
        for name, gdf in plan.layers.items():
            types = {row[1]: row[2] for row in con.execute(f'PRAGMA table_info("{name}")')}
            for column in ("area_km2", "length_km", "accuracy_m"):
                if column in gdf.columns:
                    assert types[column] == "REAL", (name, column, types[column])
            assert titles[name] != name
            assert catalog.at[name, "title_en"] in titles[name]
            assert catalog.at[name, "title"] in titles[name]
        assert len(set(titles.values())) == len(titles)


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_layer_style_rows_have_distinct_times(gpkgs, plans, plan_id):
    plan, path = _gpkg(gpkgs, plans, plan_id)
    with sqlite3.connect(path) as con:
        rows = con.execute("SELECT f_table_name, update_time FROM layer_styles").fetchall()
    assert sorted(name for name, _ in rows) == sorted(plan.layers)
    assert len({time for _, time in rows}) == len(rows)


def test_project_sources_are_relative_to_the_file(gpkgs, plans, tmp_path):
    """The project names its layers ``./<file>.gpkg|layername=…``: the file moved to another
    folder still opens (the name inside is the file's own)."""
    import io
    import zipfile

    plan, path = _gpkg(gpkgs, plans, "cn-yongji-2035")
    with sqlite3.connect(path) as con:
        name, content = con.execute("SELECT name, content FROM qgis_projects").fetchone()
    assert name == plan.plan_id
    with zipfile.ZipFile(io.BytesIO(bytes.fromhex(content))) as qgz:
        xml = qgz.read(qgz.namelist()[0]).decode("utf-8")
    sources = {line.split("layername=")[1].split("<")[0]
               for line in xml.split("<datasource>")[1:]}
    assert sources == set(plan.layers)
    assert f"./{path.name}|layername=" in xml and str(path.parent) not in xml

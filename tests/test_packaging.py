"""The package installed from its wheel works on its own: plans, styles and reference data
travel inside it, and it runs from any folder with no checkout and no source texts beside it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from zoning.spec import read_plan_source

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(out), str(ROOT)], check=True)
    (path,) = out.glob("zoning-*.whl")
    return path


def test_the_wheel_carries_every_plan_file_style_and_reference_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, inside in (("layers", "zoning/_data/layers"), ("styles", "zoning/_data/styles"),
                           ("data/reference", "zoning/_data/reference")):
        tracked = subprocess.run(["git", "ls-files", folder], cwd=ROOT, capture_output=True,
                                 text=True, check=True).stdout.split()
        assert tracked, folder
        missing = [f for f in tracked if f"{inside}/{f[len(folder) + 1:]}" not in names]
        assert not missing, missing[:5]


def test_installed_wheel_builds_a_plan_from_another_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", str(wheel)], check=True)
    # The dependencies come from this environment's site-packages (read as a plain path, so
    # its editable install of zoning is not seen): only the wheel provides zoning.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True,
                          check=True).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ZONING_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["ZONING_CACHE_DIR"] = str(tmp_path / "cache")

    def run(*args):
        return subprocess.run(args, cwd=elsewhere, env=env, capture_output=True, text=True,
                              timeout=600)

    where = run(str(python), "-c", "import zoning; print(zoning.__file__)")
    assert where.stdout.strip().startswith(str(venv)), where.stdout + where.stderr
    listed = run(str(venv / "bin" / "zoning"), "list")
    assert listed.returncode == 0, listed.stderr
    for pid in ("cn-shanxi-2035", "cn-yongji-2035", "ir-ardabil-1424", "ir-qom-1414",
                "vn-kontum-2030"):
        assert pid in listed.stdout
    built = run(str(venv / "bin" / "zoning"), "build", "cn-yongji-2035", "--out", "out")
    assert built.returncode == 0, built.stdout + built.stderr
    assert "not re-verified" in built.stderr
    gpkg = elsewhere / "out" / "cn-yongji-2035.gpkg"
    with sqlite3.connect(gpkg) as db:
        written = {r[0] for r in db.execute(
            "select table_name from gpkg_contents where data_type = 'features'")}
    assert written == set(read_plan_source("cn-yongji-2035", check_references=False).layers)
    assert (elsewhere / "out" / "cn-yongji-2035.html").stat().st_size > 100_000

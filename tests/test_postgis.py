"""PostGIS export against a real local PostgreSQL + PostGIS server started for the tests."""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

import zoning
from zoning.export import to_postgis

pytestmark = pytest.mark.postgis


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="module")
def postgis_url():
    bindir = _pg_bin()
    if bindir is None or not glob.glob("/usr/share/postgresql/*/extension/postgis.control"):
        pytest.skip("PostgreSQL/PostGIS not installed (./dev test installs them)")
    root = Path(tempfile.mkdtemp(prefix="zoning-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        user = pwd.getpwnam("postgres")
        for p in (root, sock):
            os.chown(p, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    db_user = "postgres" if prefix else pwd.getpwuid(os.geteuid()).pw_name
    subprocess.run(prefix + [str(bindir / "initdb"), "-D", str(data), "-U", db_user,
                             "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
                   check=True, capture_output=True)
    port = 55432
    subprocess.run(prefix + [str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l",
                             str(root / "log"), "-o", f"-k {sock} -p {port} -c listen_addresses=''",
                             "start"], check=True, capture_output=True)
    try:
        url = f"postgresql://{db_user}@/postgres?host={sock}&port={port}"
        yield url
    finally:
        subprocess.run(prefix + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                 "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_plan_round_trips_through_postgis(postgis_url, mini_plan):
    from sqlalchemy import create_engine, text

    schema = to_postgis(mini_plan, postgis_url)
    assert schema == "cn_test_mini"
    engine = create_engine(postgis_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as con:
        version = con.execute(text("select postgis_full_version()")).scalar()
        assert "POSTGIS=" in version
        for name, gdf in mini_plan.layers.items():
            back = gpd.read_postgis(f'select * from "{schema}"."{name}" order by feature_id',
                                    con, geom_col="geometry")
            want = gdf.sort_values("feature_id").reset_index(drop=True)
            assert list(back.feature_id) == list(want.feature_id)
            assert list(back.source_text) == list(want.source_text)
            assert back.crs.to_epsg() == 4326
            assert back.geometry.geom_equals_exact(want.geometry, 1e-9).all()
            # PostGIS's own geodesic area agrees with the exported area column
            areas = con.execute(text(
                f'select feature_id, ST_Area(geometry::geography) / 1e6 from "{schema}"."{name}"'
                f" where ST_GeometryType(geometry) like '%Polygon'")).fetchall()
            for fid, area in areas:
                assert area == pytest.approx(float(gdf.set_index("feature_id").area_km2[fid]), rel=1e-3)
        rules = pd.read_sql(f'select * from "{schema}".rules', con)
        assert list(rules.rule_id) == list(mini_plan.tables["rules"].rule_id)
    engine.dispose()


def test_rewrite_replaces_schema_atomically(postgis_url, mini_plan):
    from sqlalchemy import create_engine, text

    to_postgis(mini_plan, postgis_url, schema="atomic_test")
    to_postgis(mini_plan, postgis_url, schema="atomic_test")
    engine = create_engine(postgis_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as con:
        schemas = {r[0] for r in con.execute(text("select schema_name from information_schema.schemata"))}
        assert "atomic_test" in schemas and "atomic_test__staging" not in schemas
        count = con.execute(text('select count(*) from atomic_test.towns')).scalar()
        assert count == len(mini_plan.layers["towns"])
    engine.dispose()


def test_unreachable_server_is_a_clear_export_error(mini_plan):
    with pytest.raises(zoning.ExportError, match="PostGIS failed"):
        to_postgis(mini_plan, "postgresql://nobody@/nowhere?host=/nonexistent&port=1")


# --- hostile schema names (issue 13; docs/bad-input.md "Hostile input") ---------------------

@pytest.fixture()
def db(postgis_url):
    from sqlalchemy import create_engine

    engine = create_engine(postgis_url.replace("postgresql://", "postgresql+psycopg://"))
    yield engine
    engine.dispose()


def _schemas(db) -> set[str]:
    from sqlalchemy import text

    with db.connect() as con:
        return {r[0] for r in con.execute(text("select nspname from pg_namespace"))}


def _rows(db, table: str) -> int:
    from sqlalchemy import text

    with db.connect() as con:
        return con.execute(text(f"select count(*) from {table}")).scalar()


def test_schema_name_cannot_inject_sql(postgis_url, mini_plan, db):
    from sqlalchemy import text

    with db.begin() as con:
        con.execute(text("create table if not exists public.canary (x int)"))
        con.execute(text("insert into public.canary values (1)"))
    before = _schemas(db)
    for hostile in ('a"; DROP TABLE IF EXISTS public.canary; --',
                    "x; drop table public.canary", 'Public"."canary', "pg_temp", "1abc", "",
                    "año", "a b"):
        with pytest.raises(zoning.ExportError, match="schema name"):
            to_postgis(mini_plan, postgis_url, schema=hostile)
    assert _rows(db, "public.canary") >= 1
    assert _schemas(db) == before


def test_existing_schema_of_another_origin_is_never_dropped(postgis_url, mini_plan, db):
    from sqlalchemy import text

    with db.begin() as con:
        con.execute(text("create schema victim"))
        con.execute(text("create table victim.precious as select 42 as answer"))
    with pytest.raises(zoning.ExportError, match="not written by zoning.*replace"):
        to_postgis(mini_plan, postgis_url, schema="victim")
    assert _rows(db, "victim.precious") == 1
    assert "victim__staging" not in _schemas(db)
    # A foreign schema squatting the staging name is not dropped either.
    with db.begin() as con:
        con.execute(text("create schema squat__staging"))
        con.execute(text("create table squat__staging.mine as select 1 as x"))
    with pytest.raises(zoning.ExportError, match="squat__staging"):
        to_postgis(mini_plan, postgis_url, schema="squat")
    assert _rows(db, "squat__staging.mine") == 1
    # Told to, it replaces the schema; from then on the schema is its own and rewrites need
    # no permission.
    to_postgis(mini_plan, postgis_url, schema="victim", replace=True)
    assert _rows(db, "victim.towns") == len(mini_plan.layers["towns"])
    assert "precious" not in {r for r in _tables(db, "victim")}
    to_postgis(mini_plan, postgis_url, schema="victim")
    assert _rows(db, "victim.towns") == len(mini_plan.layers["towns"])


def _tables(db, schema: str) -> set[str]:
    from sqlalchemy import text

    with db.connect() as con:
        return {r[0] for r in con.execute(
            text("select table_name from information_schema.tables where table_schema = :s"),
            {"s": schema})}


def test_long_schema_name_never_truncates_onto_the_live_schema(postgis_url, mini_plan, db):
    from sqlalchemy import text

    name = "s" * 63                         # the longest name PostgreSQL keeps whole
    with db.begin() as con:
        con.execute(text(f'create schema "{name}"'))
        con.execute(text(f'create table "{name}".live as select 7 as x'))
    with pytest.raises(zoning.ExportError, match="63-byte limit"):
        to_postgis(mini_plan, postgis_url, schema=name)
    assert _rows(db, f'"{name}".live') == 1
    longest = "t" * (63 - len("__staging"))
    assert to_postgis(mini_plan, postgis_url, schema=longest) == longest
    assert _rows(db, f"{longest}.towns") == len(mini_plan.layers["towns"])
    with pytest.raises(zoning.ExportError, match="63-byte limit"):
        to_postgis(mini_plan, postgis_url, schema=longest + "t")


def test_cli_export_refuses_a_foreign_schema_unless_told_to_replace(postgis_url, db, plans):
    from sqlalchemy import text
    from typer.testing import CliRunner

    from conftest import plan_or_skip
    from zoning.cli import app

    plan_or_skip(plans, "cn-yongji-2035")
    with db.begin() as con:
        con.execute(text("create schema cn_yongji_2035"))
        con.execute(text("create table cn_yongji_2035.notes as select 'mine' as note"))
    refused = CliRunner().invoke(app, ["export", "cn-yongji-2035", "--to", postgis_url],
                                 env={"COLUMNS": "80"})
    assert refused.exit_code != 0
    assert "not written by zoning" in refused.output and "--replace" in refused.output
    assert "Traceback" not in refused.output
    assert _rows(db, "cn_yongji_2035.notes") == 1
    replaced = CliRunner().invoke(app, ["export", "cn-yongji-2035", "--to", postgis_url,
                                        "--replace"], env={"COLUMNS": "80"})
    assert replaced.exit_code == 0, replaced.output
    assert "notes" not in _tables(db, "cn_yongji_2035")
    assert _rows(db, "cn_yongji_2035.town_system") > 0

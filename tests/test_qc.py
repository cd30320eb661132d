"""zoning.qc: our cn-mnr exports pass; every rule, corrupted once, is caught."""

import dataclasses
import shutil
import sqlite3

import pyogrio
import pytest
import shapely

import zoning
from zoning.export import write_cn_mnr
from zoning.qc import COLUMNS, qc, qc_report

FARMLAND_ZONE = "planning_zone_farmland_protection"


@pytest.fixture(scope="module")
def yongji(plans):
    plan = plans.get("cn-yongji-2035")
    if plan is None:
        pytest.skip("Yongji plan not encoded")
    return plan


def _relabel(plan, badge):
    """Yongji with its first polygon feature of ``badge`` (agriculture layer first) read as a
    农田保护区 (GHFQ). (Yongji's agriculture zones are buffered counties, schematic since the
    badge follows the recipe tree; the approximate template is then the city's own outline.)"""
    names = ["agriculture", *[n for n in plan.layers if n != "agriculture"]]
    for name in names:
        layer = plan.layers[name]
        hits = layer.index[(layer.basis_badge == badge)
                           & layer.geom_type.isin(["Polygon", "MultiPolygon"])]
        if len(hits):
            break
    else:
        raise AssertionError(f"no {badge} polygon in {plan.plan_id}")
    layer = layer.copy()
    first = hits[0]
    layer.loc[first, "zone_class"] = FARMLAND_ZONE
    layers = dict(plan.layers)
    layers[name] = layer
    return dataclasses.replace(plan, layers=layers), layer.at[first, "feature_id"]


@pytest.fixture(scope="module")
def clean(yongji, tmp_path_factory):
    """County-profile GeoPackage of Yongji with an XZQ and a GHFQ layer."""
    plan, _ = _relabel(yongji, "approximate")
    return write_cn_mnr(plan, tmp_path_factory.mktemp("qc") / "yongji.gpkg")


def _rules(path):
    problems = qc(path)
    assert list(problems.columns) == list(COLUMNS)
    return set(problems.rule)


def test_our_exports_pass(yongji, clean, tmp_path):
    assert _rules(clean) == set()
    assert {n for n, _ in pyogrio.list_layers(clean)} == {"XZQ", "GHFQ"}
    assert _rules(write_cn_mnr(yongji, tmp_path / "plain.gpkg")) == set()
    assert _rules(write_cn_mnr(yongji, tmp_path / "shp", driver="shp")) == set()
    assert _rules(write_cn_mnr(yongji, tmp_path / "geo.gpkg", crs="geographic")) == set()
    assert qc_report(qc(clean)) == "no problems"


def _sql(path, *statements):
    """Run SQL on a copy; the R-tree triggers (they need GDAL's SQL functions) go first."""
    with sqlite3.connect(path) as con:
        for (trigger,) in con.execute("select name from sqlite_master where type='trigger' "
                                      "and name like 'rtree_%'").fetchall():
            con.execute(f'drop trigger "{trigger}"')
        for s in statements:
            con.execute(s)


def _schema(path, table, old, new):
    with sqlite3.connect(path) as con:
        (sql,) = con.execute("select sql from sqlite_master where name=?", (table,)).fetchone()
        version = con.execute("pragma schema_version").fetchone()[0]
        con.execute("pragma writable_schema=on")
        con.execute("update sqlite_master set sql=? where name=?", (sql.replace(old, new), table))
        con.execute(f"pragma schema_version={version + 1}")


CORRUPTIONS = {
    "layer_name": lambda p: pyogrio.write_dataframe(pyogrio.read_dataframe(p, layer="XZQ"), p,
                                                    layer="XZQX", driver="GPKG", append=False),
    "required_field": lambda p: _sql(p, 'alter table XZQ rename column XZQMC to XZQ_MC'),
    "type": lambda p: _sql(p, 'alter table XZQ rename column MJ to MJ0',
                           'alter table XZQ add column MJ TEXT(20)',
                           'update XZQ set MJ = printf("%.2f", MJ0)'),
    "length": lambda p: _schema(p, "XZQ", '"BSM" TEXT(18)', '"BSM" TEXT(30)'),
    "mandatory": lambda p: _sql(p, "update XZQ set XZQMC = NULL"),
    "value_length": lambda p: _sql(p, "update XZQ set XZQMC = XZQMC || '" + "市" * 40 + "'"),
    "domain": lambda p: _sql(p, "update GHFQ set GHFQDM = '99'"),
    "domain_name": lambda p: _sql(p, "update GHFQ set GHFQMC = '生态保护区'"),
    "ysdm": lambda p: _sql(p, "update XZQ set YSDM = '1000600999'"),
    "bsm": lambda p: _sql(p, "update XZQ set BSM = '1408810000'"),
    "bsm_prefix": lambda p: _sql(p, "update XZQ set BSM = '150881000000000001'"),
    "bsm_unique": lambda p: _sql(p, "update GHFQ set BSM = (select BSM from XZQ)"),
    "xzqdm": lambda p: _sql(p, "update GHFQ set XZQDM = '14088'"),
    "area": lambda p: _sql(p, "update XZQ set MJ = MJ * 2"),
    "decimals": lambda p: _sql(p, "update XZQ set MJ = MJ + 0.004"),
    "overlap": lambda p: _sql(p, "insert into GHFQ (geom, BSM, YSDM, XZQDM, XZQMC, GHFQDM, GHFQMC,"
                                 " MJ, BZ) select geom, '140881000000009999', YSDM, XZQDM, XZQMC,"
                                 " GHFQDM, GHFQMC, MJ, BZ from GHFQ"),
    "crs": lambda p: _sql(p, "update gpkg_geometry_columns set srs_id = 4326",
                          "update gpkg_contents set srs_id = 4326"),
}
#: The rule each corruption must trip (several corruptions share a rule).
EXPECTED = {"value_length": {"length"}, "domain_name": {"domain"}, "bsm_prefix": {"bsm"}}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_each_rule_catches_its_corruption(clean, tmp_path, corruption):
    path = tmp_path / "bad.gpkg"
    shutil.copy(clean, path)
    CORRUPTIONS[corruption](path)
    found = _rules(path)
    expected = EXPECTED.get(corruption, {corruption})
    if corruption == "layer_name":
        expected = {"layer_name"}
    if corruption == "crs":       # GK metres read as degrees: the areas are garbage as well
        assert "crs" in found
    else:
        assert found == expected, qc_report(qc(path))


def test_zone_misfit_and_invalid_geometry_are_caught(yongji, tmp_path):
    path = write_cn_mnr(yongji, tmp_path / "zone.gpkg")
    _sql(path, "update gpkg_geometry_columns set srs_id = 4526",   # zone 38 instead of 37
         "insert into gpkg_spatial_ref_sys (srs_name, srs_id, organization, "
         "organization_coordsys_id, definition) values ('CGCS2000 / 3-degree GK zone 38', 4526, "
         "'EPSG', 4526, 'undefined')", "update gpkg_contents set srs_id = 4526")
    problems = qc(path)
    assert "outside 3-degree zone 38" in " ".join(problems.message)
    shp = write_cn_mnr(yongji, tmp_path / "shp", driver="shp")
    xzq = pyogrio.read_dataframe(shp / "XZQ.shp")
    x0, y0, x1, y1 = xzq.total_bounds
    xzq["geometry"] = [shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])]   # a bow-tie
    pyogrio.write_dataframe(xzq, shp / "XZQ.shp", encoding="UTF-8")
    assert "geometry" in set(qc(shp).rule)


def test_schematic_shapes_are_refused_then_marked(yongji, tmp_path):
    plan, feature_id = _relabel(yongji, "schematic")
    with pytest.raises(zoning.ExportError, match="not official shapes") as err:
        write_cn_mnr(plan, tmp_path / "refused.gpkg")
    assert feature_id in str(err.value)
    assert not (tmp_path / "refused.gpkg").exists()
    path = write_cn_mnr(plan, tmp_path / "marked.gpkg", include_schematic=True)
    problems = qc(path)
    assert set(problems.rule) == {"schematic"}
    rows = sum(len(pyogrio.read_dataframe(path, layer=n)) for n, _ in pyogrio.list_layers(path))
    assert len(problems) == rows                    # every row of the file says so


def test_unknown_profile_and_missing_file_are_clear_errors(clean, tmp_path):
    with pytest.raises(zoning.ZoningError, match="unknown cn-mnr profile 'town'"):
        qc(clean, profile="town")
    with pytest.raises(zoning.ZoningError, match="no such file"):
        qc(tmp_path / "missing.gpkg")


def test_cli_export_then_qc(yongji, tmp_path):
    from typer.testing import CliRunner

    from zoning.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["export", "cn-yongji-2035", "--format", "cn-mnr", "--profile",
                                 "county", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    path = tmp_path / "cn-yongji-2035-cn-mnr.gpkg"
    result = runner.invoke(app, ["qc", str(path), "--profile", "county"])
    assert result.exit_code == 0 and "no problems" in result.output
    result = runner.invoke(app, ["export", "cn-yongji-2035", "--format", "cn-mnr", "--driver",
                                 "shp", "--crs", "geographic", "--out", str(tmp_path)])
    assert result.exit_code == 0 and (tmp_path / "cn-yongji-2035-cn-mnr" / "XZQ.cpg").exists()
    _sql(path, "update XZQ set YSDM = '1'")
    result = runner.invoke(app, ["qc", str(path), "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 1 and "[ysdm]" in result.output
    assert "ysdm" in (tmp_path / "p.csv").read_text()
    result = runner.invoke(app, ["export", "cn-yongji-2035", "--format", "gpkg", "--crs", "gk3",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 2 and "cn-mnr only" in result.output

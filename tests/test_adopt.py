"""zoning.adopt: an official 三区三线 package (written here in the official layout over real
Shanxi counties, in a 3-degree Gauss-Krüger zone) swapped into Shanxi's control lines."""

import dataclasses
import json

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

import zoning
from zoning import reference

ZONE37 = "EPSG:4525"      # CGCS2000 / 3-degree Gauss-Kruger zone 37 (central meridian 111°E)
EQUAL_AREA = "EPSG:6933"


@pytest.fixture(scope="module")
def shanxi(plans):
    plan = plans.get("cn-shanxi-2035")
    if plan is None:
        pytest.skip("Shanxi plan not encoded")
    return plan


@pytest.fixture(scope="module")
def zone37_counties(shanxi):
    """Shanxi counties lying wholly in GK zone 37 (109.5-112.5°E), by adcode."""
    counties = reference.china_units(reference.china_children("140000", "county"))
    counties = counties.set_index("adcode")
    b = counties.geometry.bounds
    return counties[(b.minx > 109.6) & (b.maxx < 112.4)].sort_index()


@pytest.fixture(scope="module")
def package(tmp_path_factory, zone37_counties):
    """A 三区三线 handover: STBHHX (3 counties' union), YJJBNTBHTB (one patch per county, 6
    counties), CZKFBJ (one county cut into 城镇集中建设区 / 城镇弹性发展区 halves)."""
    c = zone37_counties
    red = c.iloc[[0, 1, 2]]
    farm = c.iloc[10:16]
    town = c.geometry.iloc[20]
    minx, miny, maxx, maxy = town.bounds
    west = shapely.intersection(town, shapely.box(minx, miny, (minx + maxx) / 2, maxy))
    east = shapely.difference(town, west)

    def layer(geoms, **cols):
        return gpd.GeoDataFrame(cols, geometry=list(geoms), crs="EPSG:4326").to_crs(ZONE37)

    path = tmp_path_factory.mktemp("sqsx") / "sqsx.gpkg"
    stbhhx = layer([shapely.union_all(red.geometry.values)], BSM=["140000000000000001"],
                   YSDM=["2090020210"], XZQDM=["140000"], XZQMC=["山西省"], HXMC=["吕梁山生态保护红线"])
    yjjbnt = layer(farm.geometry.values, BSM=[f"{a}000000000001" for a in farm.index],
                   YSDM=["2090020220"] * len(farm), XZQDM=list(farm.index),
                   XZQMC=list(farm["name"]))
    czkfbj = layer([west, east], BSM=["140000000000000010", "140000000000000011"],
                   YSDM=["2090020230"] * 2, XZQDM=[c.index[20]] * 2, XZQMC=[c["name"].iloc[20]] * 2,
                   GHFQDM=["01", "02"], GHFQMC=["城镇集中建设区", "城镇弹性发展区"])
    pyogrio.write_dataframe(stbhhx, path, layer="STBHHX")
    pyogrio.write_dataframe(yjjbnt, path, layer="YJJBNTBHTB")
    pyogrio.write_dataframe(czkfbj, path, layer="CZKFBJ")
    return {"path": path, "red": shapely.union_all(red.geometry.values),
            "farm": shapely.union_all(farm.geometry.values),
            "town": shapely.union_all([west, east]), "farm_count": len(farm)}


@pytest.fixture(scope="module")
def adopted(shanxi, package):
    return zoning.adopt(shanxi, package["path"])


def _area_km2(geom):
    return float(gpd.GeoSeries([geom], crs="EPSG:4326").to_crs(EQUAL_AREA).area.iloc[0]) / 1e6


def test_three_lines_become_authoritative_with_the_official_shapes(shanxi, package, adopted):
    plan, report = adopted
    lines = plan["control_lines"].set_index("feature_id")
    expected = {
        "cn-shanxi-2035/control_lines/ecological-protection-red-line": package["red"],
        "cn-shanxi-2035/control_lines/permanent-basic-farmland": package["farm"],
        "cn-shanxi-2035/control_lines/urban-development-boundary": package["town"],
    }
    assert set(report.feature_id) == set(expected)
    for fid, official in expected.items():
        row = lines.loc[fid]
        assert row.basis_badge == "authoritative" and row.geometry_basis == "authoritative"
        # GK round trip: the shape comes back within centimetres of the counties it was cut from
        assert shapely.symmetric_difference(row.geometry, official).area < 1e-9 * max(official.area, 1)
        assert "sqsx.gpkg" in row.basis_detail
    before = shanxi["control_lines"].set_index("feature_id")
    untouched = before.index.difference(list(expected))
    assert (lines.loc[untouched, "basis_badge"] == before.loc[untouched, "basis_badge"]).all()
    assert report.set_index("layer").at["YJJBNTBHTB", "official_features"] == package["farm_count"]


def test_citations_attributes_and_rules_are_kept(shanxi, adopted):
    plan, _ = adopted
    cols = ["name", "name_en", "zone_class", "regulation", "source_lines", "source_text",
            "target_text"]
    before = shanxi["control_lines"].set_index("feature_id")[cols]
    after = plan["control_lines"].set_index("feature_id")[cols]
    assert after.fillna("").equals(before.fillna(""))
    assert plan.tables["rules"].equals(shanxi.tables["rules"])


def test_report_compares_official_area_with_the_stated_size(shanxi, package, adopted):
    _, report = adopted
    report = report.set_index("layer")
    red = report.loc["STBHHX"]
    assert red.recognised_by == "name"
    assert red.official_km2 == pytest.approx(_area_km2(package["red"]), rel=1e-4)
    stated = float(shanxi["control_lines"].set_index("feature_id").at[
        "cn-shanxi-2035/control_lines/ecological-protection-red-line", "delineated_km2"])
    assert red.stated_km2 == stated == 34100
    assert red.official_to_stated == pytest.approx(red.official_km2 / 34100, rel=1e-3)
    farm = report.loc["YJJBNTBHTB"]
    assert farm.stated_km2 == 31653 and "4748万亩" in farm.stated_text
    assert pd.isna(report.loc["CZKFBJ", "stated_km2"])          # the plan states a factor, not an area
    assert "1.3" in report.loc["CZKFBJ", "stated_text"]
    assert red.drawn_km2_before == pytest.approx(_area_km2(
        shanxi["control_lines"].set_index("feature_id").geometry[
            "cn-shanxi-2035/control_lines/ecological-protection-red-line"]), rel=1e-3)


def test_query_and_compliance_use_the_adopted_red_line(shanxi, package, adopted):
    plan, _ = adopted
    red_id = "cn-shanxi-2035/control_lines/ecological-protection-red-line"
    envelope = shanxi["control_lines"].set_index("feature_id").geometry[red_id]
    inside = package["red"].representative_point()
    outside = shapely.difference(envelope, package["red"].buffer(0.05)).representative_point()
    assert envelope.contains(outside) and not package["red"].contains(outside)
    sites = gpd.GeoSeries([inside, outside], crs="EPSG:4326")
    before = zoning.query(sites, plans=shanxi)
    after = zoning.query(sites, plans=plan)
    assert red_id in set(before.loc[[1]].feature_id)          # the envelope covered it
    assert red_id in set(after.loc[[0]].feature_id)
    assert red_id not in set(after.loc[[1]].feature_id)        # the official line does not
    hit = after.loc[[0]].set_index("feature_id").loc[red_id]
    assert hit.basis_badge == "authoritative"
    verdicts = zoning.comply(sites, "housing", plans=plan)
    red_rules = verdicts[verdicts.feature_ids.astype(str).str.contains(red_id, regex=False)]
    assert 0 in red_rules.index and 1 not in red_rules.index


def test_layers_are_recognised_by_ysdm_in_a_shapefile_folder(shanxi, package, tmp_path):
    folder = tmp_path / "delivery"
    folder.mkdir()
    red = pyogrio.read_dataframe(package["path"], layer="STBHHX")
    pyogrio.write_dataframe(red, folder / "hongxian.shp", encoding="UTF-8")
    plan, report = zoning.adopt(shanxi, folder)
    assert report.layer.tolist() == ["STBHHX"] and report.recognised_by.tolist() == ["YSDM"]
    assert plan["control_lines"].set_index("feature_id").at[
        "cn-shanxi-2035/control_lines/ecological-protection-red-line", "basis_badge"] == \
        "authoritative"


def test_a_package_without_control_lines_or_crs_is_a_clear_error(shanxi, tmp_path):
    other = tmp_path / "other.gpkg"
    gdf = gpd.GeoDataFrame({"NAME": ["x"]}, geometry=[shapely.box(111, 37, 111.1, 37.1)],
                           crs="EPSG:4490")
    pyogrio.write_dataframe(gdf, other, layer="ROADS")
    with pytest.raises(zoning.ZoningError, match="no layer recognised"):
        zoning.adopt(shanxi, other)
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.warns(UserWarning, match="crs"):
        pyogrio.write_dataframe(gdf.set_crs(None, allow_override=True), bare / "STBHHX.shp")
    with pytest.raises(zoning.CRSError, match="no CRS"):
        zoning.adopt(shanxi, bare)
    with pytest.raises(zoning.ZoningError, match="no such file"):
        zoning.adopt(shanxi, tmp_path / "missing.gdb")


def test_ambiguous_targets_need_a_choice(shanxi, package):
    lines = shanxi.layers["control_lines"].copy()
    twin = lines[lines.zone_class == "ecological_protection_red_line"].copy()
    twin["feature_id"] = twin.feature_id + "-twin"
    layers = dict(shanxi.layers)
    layers["control_lines"] = gpd.GeoDataFrame(
        pd.concat([lines, twin], ignore_index=True), crs=lines.crs)
    doubled = dataclasses.replace(shanxi, layers=layers)
    with pytest.raises(zoning.ZoningError, match="could receive STBHHX"):
        zoning.adopt(doubled, package["path"])
    plan, _ = zoning.adopt(doubled, package["path"], targets={
        "STBHHX": "control_lines/ecological-protection-red-line-twin"})
    got = plan["control_lines"].set_index("feature_id")
    assert got.at["cn-shanxi-2035/control_lines/ecological-protection-red-line-twin",
                  "basis_badge"] == "authoritative"
    assert got.at["cn-shanxi-2035/control_lines/ecological-protection-red-line",
                  "basis_badge"] != "authoritative"


def test_cli_adopt_writes_the_plan_and_reports(package, tmp_path):
    from typer.testing import CliRunner

    from zoning.cli import app

    result = CliRunner().invoke(app, ["adopt", "cn-shanxi-2035", str(package["path"]), "--out",
                                      str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["layer"]: r for r in json.loads(result.stdout)}
    assert rows["STBHHX"]["stated_km2"] == 34100
    assert rows["STBHHX"]["official_km2"] == pytest.approx(_area_km2(package["red"]), rel=1e-4)
    back = zoning.read_gpkg(tmp_path / "cn-shanxi-2035-adopted.gpkg")
    assert back["control_lines"].set_index("feature_id").at[
        "cn-shanxi-2035/control_lines/ecological-protection-red-line", "basis_badge"] == \
        "authoritative"


def test_a_filegdb_package_is_read(shanxi, package, tmp_path):
    gdb = tmp_path / "sqsx.gdb"
    for name in ("STBHHX", "CZKFBJ"):
        pyogrio.write_dataframe(pyogrio.read_dataframe(package["path"], layer=name), gdb,
                                layer=name, driver="OpenFileGDB")
    plan, report = zoning.adopt(shanxi, gdb)
    assert sorted(report.layer) == ["CZKFBJ", "STBHHX"]
    got = plan["control_lines"].set_index("feature_id").geometry[
        "cn-shanxi-2035/control_lines/urban-development-boundary"]
    # FileGDB snaps coordinates to its XY resolution grid (sub-millimetre in GK metres)
    assert shapely.symmetric_difference(got, package["town"]).area < 1e-8 * package["town"].area

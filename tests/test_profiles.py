"""The cn-mnr profiles are reviewed data: valid, sourced, documented, and absent from code."""

import re
from pathlib import Path

import pytest

from zoning import profiles as prof

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "exports.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["county", "city", "sqsx"])
def test_every_entry_is_valid_sourced_and_documented(name):
    table = prof.profile_table(name)          # raises on a bad type, fill, status or domain
    known = set(prof.sources().index)
    section = DOC[DOC.index(f"#### Profile `{name}`"):]
    section = section[:section.index("\n#### ", 1)]
    for row in table.itertuples():
        cited = {s.strip() for s in row.source.split(";") if s.strip()}
        assert cited <= known, (name, row.layer, row.field, cited - known)
        assert cited or row.status == "unverified", (name, row.layer, row.field)
        if row.status == "two sources":
            assert len(cited) >= 2, (name, row.layer, row.field)
        label = f"`{row.field}`" if row.field else f"**{row.layer}**"
        line = next(ln for ln in section.splitlines() if ln.startswith(f"| {row.layer} | {label}")
                    or ln.startswith(f"| {label}"))
        assert f"| {row.status} |" in line and (row.ysdm in line if not row.field else True)
    layers = prof.profile_layers(name)
    assert layers.ysdm.str.fullmatch(r"\d{10}").all()
    for layer in layers.index:
        fields = prof.profile_fields(name, layer)
        assert {"BSM", "YSDM", "XZQDM", "XZQMC"} <= set(fields.index)
        assert (fields.fill == "area_m2").sum() == 1


def test_domains_are_unique_and_map_existing_zone_classes():
    from zoning.model import zone_classes

    d = prof.domains()
    assert not d.duplicated(["domain", "code"]).any()
    mapped = d[d.zone_class != ""]
    assert set(mapped.zone_class) <= set(zone_classes().index)
    assert not mapped.duplicated(["domain", "zone_class"]).any()


def test_no_python_module_holds_a_layer_code_or_ysdm():
    codes = set()
    for name in prof.profiles().index:
        layers = prof.profile_layers(name)
        codes |= set(layers.index) | set(layers.ysdm)
    codes |= set(prof.domains().code[prof.domains().code.str.len() > 2])
    for path in (ROOT / "zoning").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        code_only = re.sub(r'("""|\'\'\')[\s\S]*?\1|#.*', "", text)   # docstrings, comments
        for code in codes:
            assert not re.search(rf'["\']{code}["\']', code_only), (path.name, code)


def test_gk3_zone_and_crs_choice():
    assert prof.gk3_zone(110.45) == 37 and prof.gk3_epsg(37) == 4525
    assert prof.gk3_epsg(25) == 4513 and prof.gk3_epsg(45) == 4533
    assert prof.choose_crs((110.2, 34.7, 110.8, 35.1)) == 4525
    assert prof.choose_crs((110.2, 34.6, 114.6, 40.7)) == 4490        # Shanxi: two zones
    assert prof.choose_crs((110.2, 34.6, 114.6, 40.7), "gk3") == 4525
    with pytest.raises(prof.InvalidArgumentError):
        prof.gk3_epsg(50)

"""Every plan's GeoPackage holds exactly the tables and layers recorded in
``tests/data/gpkg_digest.json``: a restructuring of the code must not change what a plan
builds to. A deliberate change of output is recorded anew, and says so in its commit:

    ZONING_RECORD_DIGEST=1 python -m pytest tests/test_gpkg_digest.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gpkg_digest import differences, folder_digests, versions
from zoning.io import write_gpkg

RECORD = Path(__file__).parent / "data" / "gpkg_digest.json"


def test_every_plan_builds_the_recorded_geopackage(plans, tmp_path):
    assert len(plans) == 5
    for plan in plans.values():
        write_gpkg(plan, tmp_path / f"{plan.plan_id}.gpkg")
    digest = folder_digests(tmp_path)
    if os.environ.get("ZONING_RECORD_DIGEST"):
        RECORD.write_text(json.dumps({"versions": versions(), "plans": digest}, indent=1,
                                     sort_keys=True, ensure_ascii=False) + "\n")
        pytest.skip(f"recorded {RECORD}")
    record = json.loads(RECORD.read_text())
    if record["versions"] != versions():
        pytest.skip(f"the digest was recorded with {record['versions']}; this machine has "
                    f"{versions()} (geometry bytes depend on them)")
    found = differences(record["plans"], digest)
    assert not found, "GeoPackage content changed:\n" + "\n".join(found)


def test_the_digest_sees_a_changed_value(plans, tmp_path):
    plan = plans["ir-qom-1414"]
    write_gpkg(plan, tmp_path / "a" / "q.gpkg")
    rules = plan.tables["rules"].copy()
    rules.loc[rules.index[0], "text_en"] += "."
    import dataclasses
    from types import MappingProxyType

    changed = dataclasses.replace(plan, tables=MappingProxyType({**plan.tables, "rules": rules}))
    write_gpkg(changed, tmp_path / "b" / "q.gpkg")
    found = differences(folder_digests(tmp_path / "a"), folder_digests(tmp_path / "b"))
    assert found == ["q.gpkg: rules differs (values)"]

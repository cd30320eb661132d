"""Every element row of each seed digest is accounted for in its plan's coverage table.

The digests in ``../shared/research/seed-*.md`` list each plan's spatial elements in tables.
``layers/<plan>/digest_coverage.csv`` maps every such row — by its digest id (``QOM-AX-01``)
or, where the row has none, by its digest line (``L212``) — to what encodes it (features,
rules, statements, indicators of the built plan) or says why it is not encoded. The test
reads the digest itself, so a row added to or missed from the table fails it, and every
reference must resolve in the built plan.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from zoning.model import LAYERS_DIR
from zoning.settings import settings

#: The research digests are not part of the repository (``ZONING_RESEARCH``; ``./dev`` sets it
#: where ``../shared/research`` exists); without them the digest tests skip.
RESEARCH = settings.research_dir

#: Digest file and its element sections (first, last digest line, inclusive) per plan.
DIGESTS = {
    "ir-qom-1414": ("seed-000-qom.md", [(183, 472), (671, 714)]),          # §2 (not the counts), §6.1
    "ir-ardabil-1424": ("seed-001-ardabil.md", [(166, 574), (775, 830)]),  # §2 (not the counts), §6.1
    "cn-shanxi-2035": ("seed-002-shanxi.md", [(136, 555)]),                 # §2, §3
    "cn-yongji-2035": ("seed-003-yongji.md", [(105, 550)]),                 # §2, §3
    "vn-kontum-2030": ("seed-004-kontum.md", [(111, 356)]),                 # §2
}
STATUSES = {"encoded", "partial", "not_encoded"}
_ID = re.compile(r"^[A-Z]{2,4}(-[A-Z0-9]+)+$")
_RULE = re.compile(r"^\|[\s:|-]+\|?\s*$")


def digest_rows(name: str, sections: list[tuple[int, int]]) -> dict[str, int]:
    """Digest key → line of every table body row inside the element sections."""
    lines = (RESEARCH / name).read_text(encoding="utf-8").splitlines()
    rows = {}
    for first, last in sections:
        for n in range(first, last + 1):
            line = lines[n - 1]
            following = lines[n] if n < len(lines) else ""
            if not line.startswith("|") or _RULE.match(line) or _RULE.match(following):
                continue                                  # not a table row, or a header row
            cell = line.strip("|").split("|")[0].strip().strip("*").strip()
            rows[cell if _ID.match(cell) else f"L{n}"] = n
    return rows


def coverage(plan_id: str) -> pd.DataFrame:
    path = LAYERS_DIR / plan_id / "digest_coverage.csv"
    if not path.exists():
        return pd.DataFrame(columns=["digest_ref", "digest_line", "element", "status",
                                     "encoded_as", "note"])
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(params=sorted(DIGESTS))
def plan_id(request):
    name, _ = DIGESTS[request.param]
    if RESEARCH is None or not (RESEARCH / name).exists():
        pytest.skip(f"digest {name} not on this machine (set ZONING_RESEARCH)")
    return request.param


def test_every_digest_element_row_is_accounted_for(plan_id):
    name, sections = DIGESTS[plan_id]
    expected = digest_rows(name, sections)
    table = coverage(plan_id)
    duplicated = sorted(table.digest_ref[table.digest_ref.duplicated()])
    assert not duplicated, f"{plan_id}: rows listed twice: {duplicated}"
    missing = sorted(set(expected) - set(table.digest_ref), key=lambda k: expected[k])
    assert not missing, f"{plan_id}: digest rows with no coverage entry: {missing[:20]}"
    extra = sorted(set(table.digest_ref) - set(expected))
    assert not extra, f"{plan_id}: coverage entries for no digest row: {extra[:20]}"
    lines = table.set_index("digest_ref").digest_line
    wrong = [k for k, n in expected.items() if lines[k] != str(n)]
    assert not wrong, f"{plan_id}: digest_line does not match the digest for {wrong[:20]}"


def test_every_coverage_entry_resolves_in_the_built_plan(plans, plan_id):
    if plan_id not in plans:
        pytest.skip(f"{plan_id} not built")
    plan = plans[plan_id]
    known = set(plan.features.feature_id.str.removeprefix(f"{plan_id}/"))
    known |= {f"rule:{r}" for r in plan.tables["rules"].rule_id}
    known |= {f"statement:{s}" for s in plan.tables["statements"].statement_id}
    known |= {f"indicator:{i}" for i in plan.tables["indicators"].indicator_id}
    table = coverage(plan_id)
    assert not table.empty, f"{plan_id}: no digest_coverage.csv"
    bad_status = table[~table.status.isin(STATUSES)]
    assert bad_status.empty, bad_status[["digest_ref", "status"]].to_string()
    refs = table.encoded_as.str.split(";").map(lambda r: [x.strip() for x in r if x.strip()])
    for row, targets in zip(table.itertuples(), refs):
        assert row.element.strip(), row.digest_ref
        if row.status in {"encoded", "partial"}:
            assert targets, f"{plan_id} {row.digest_ref}: {row.status} but encoded_as is empty"
        if row.status in {"partial", "not_encoded"}:
            assert row.note.strip(), f"{plan_id} {row.digest_ref}: {row.status} needs a reason"
        unknown = [t for t in targets if t not in known]
        assert not unknown, f"{plan_id} {row.digest_ref}: {unknown} not in the built plan"


def test_coverage_tables_are_plain_utf8_csv_with_the_documented_columns():
    for path in sorted(LAYERS_DIR.glob("*/digest_coverage.csv")):
        header = Path(path).read_text(encoding="utf-8").splitlines()[0]
        assert header == "digest_ref,digest_line,element,status,encoded_as,note", path


def test_status_is_consistent_with_the_note():
    """A spatial element carried only by rules, statements or indicators whose note says it
    has no geometry (no location, not drawn …) is ``partial``, never ``encoded``."""
    import re

    no_geometry = re.compile(r"(^|[^a-z])no geometry(?! of its own)|not located|no location|"
                             r"no extent|no sites|not drawn|cannot be located", re.I)
    wrong = []
    for path in sorted(LAYERS_DIR.glob("*/digest_coverage.csv")):
        table = pd.read_csv(path, keep_default_na=False, dtype=str)
        for row in table.itertuples():
            refs = [r.strip() for r in row.encoded_as.split(";") if r.strip()]
            tables_only = bool(refs) and all(
                ":" in r and r.split(":")[0] in ("rule", "statement", "indicator") for r in refs)
            if row.status == "encoded" and tables_only and no_geometry.search(row.note):
                wrong.append(f"{path.parent.name} {row.digest_ref}")
    assert not wrong, wrong

"""Shared fixtures: the real plans and a small real test plan, each built once per session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
os.environ.setdefault("ZONING_RIVER_DIRS", str(DATA / "named_rivers"))
# A cache of this session's own (shared with the subprocesses it starts, e.g. notebook
# kernels and CLI runs), so tests never read or write the user's cache.
os.environ.setdefault("ZONING_CACHE_DIR", tempfile.mkdtemp(prefix="zoning-test-cache-"))

import zoning  # noqa: E402  (after the environment is set)


@pytest.fixture(scope="session")
def test_layers_dir() -> Path:
    return DATA / "layers"


@pytest.fixture(scope="session")
def mini_plan(test_layers_dir):
    return zoning.build_plan("cn-test-mini", layers_dir=test_layers_dir)


BUILD_ERRORS: dict[str, Exception] = {}


@pytest.fixture(scope="session")
def plans():
    """Every real plan under layers/ that builds, built once (failures: tests/test_plans.py)."""
    built = {}
    for pid in zoning.plan_ids():
        try:
            built[pid] = zoning.load(pid)
        except zoning.ZoningError as exc:
            BUILD_ERRORS[pid] = exc
    return built


@pytest.fixture(scope="session")
def source_texts():
    """The folder of the plans' source documents; skip where this machine has none.

    A user's clone has no source texts; this repository's CI has them (``./dev`` sets
    ``ZONING_SOURCES`` when ``../shared/seeds`` exists), so there every quote is verified.
    """
    from zoning.settings import settings

    if settings.sources_dir is None or not settings.sources_dir.is_dir():
        pytest.skip("the plans' source texts are not on this machine (set ZONING_SOURCES)")
    return settings.sources_dir


def plan_or_skip(plans, plan_id):
    if plan_id not in plans:
        reason = BUILD_ERRORS.get(plan_id, "not encoded")
        pytest.skip(f"plan {plan_id} unavailable: {str(reason)[:200]}")
    return plans[plan_id]


CHROMIUM = os.environ.get("ZONING_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium, one per session: Playwright's sync API allows one at a time."""
    import shutil

    sync_api = pytest.importorskip("playwright.sync_api")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (./dev test installs the Debian package)")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()

#: Run by /usr/bin/python3 (Debian's QGIS) from tests/test_qgis_project.py, never imported here.
collect_ignore = ["qgis_probe.py"]

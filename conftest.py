"""Doctests of the library (``pytest`` collects ``zoning/`` with ``--doctest-modules``): every
example runs on the bundled plans, with ``zoning`` imported, a cache of the session's own and
``tmp``, an empty folder of the example's own for the files it writes."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

os.environ.setdefault("ZONING_CACHE_DIR", tempfile.mkdtemp(prefix="zoning-test-cache-"))

import pytest  # noqa: E402

#: Examples that read the plans' git history: skipped where there is none (a source archive).
NEEDS_GIT_HISTORY = {"zoning.diff.plan_at_revision"}


def _in_git_checkout() -> bool:
    from zoning.settings import settings

    return shutil.which("git") is not None and subprocess.run(
        ["git", "-C", str(Path(settings.layers_dir)), "rev-parse", "--verify", "HEAD"],
        capture_output=True).returncode == 0


@pytest.fixture(autouse=True)
def _doctest_namespace(request, doctest_namespace):
    import zoning

    doctest_namespace["zoning"] = zoning
    if isinstance(request.node, pytest.DoctestItem):
        if request.node.name in NEEDS_GIT_HISTORY and not _in_git_checkout():
            pytest.skip("needs the plans' git history (not in a source archive)")
        doctest_namespace["tmp"] = request.getfixturevalue("tmp_path")

"""Doctests of the library (``pytest`` collects ``zoning/`` with ``--doctest-modules``): every
example runs on the bundled plans, with ``zoning`` imported and a cache of the session's own."""

import os
import tempfile

os.environ.setdefault("ZONING_CACHE_DIR", tempfile.mkdtemp(prefix="zoning-test-cache-"))

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    import zoning

    doctest_namespace["zoning"] = zoning

"""Doctests of the library (``pytest`` collects ``zoning/`` with ``--doctest-modules``): every
example runs on the bundled plans, with ``zoning`` imported, a cache of the session's own and
``tmp``, an empty folder of the example's own for the files it writes."""

import os
import tempfile

os.environ.setdefault("ZONING_CACHE_DIR", tempfile.mkdtemp(prefix="zoning-test-cache-"))

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _doctest_namespace(request, doctest_namespace):
    import zoning

    doctest_namespace["zoning"] = zoning
    if isinstance(request.node, pytest.DoctestItem):
        doctest_namespace["tmp"] = request.getfixturevalue("tmp_path")

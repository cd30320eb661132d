"""The persistent cache: read back instead of rebuilt, rebuilt when a source changes, safe
when several processes fill it at once, and never the cause of a wrong or missing answer."""

from __future__ import annotations

import multiprocessing
import pickle
import shutil
import warnings

import pytest

from zoning import cache
from zoning.settings import settings


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setattr(settings, "cache_dir", folder)
    return folder


def test_a_value_is_computed_once_then_read_back(cache_dir):
    calls = []
    compute = lambda: calls.append(1) or {"answer": 42}          # noqa: E731
    assert cache.cached("test", "k1", compute) == {"answer": 42}
    assert cache.cached("test", "k1", compute) == {"answer": 42}
    assert len(calls) == 1
    assert cache.cached("test", "k2", compute) == {"answer": 42}
    assert len(calls) == 2
    assert len(list(cache_dir.glob("test-*.pickle"))) == 2
    assert not list(cache_dir.glob(".*"))                         # no temporary file left


def test_a_new_entry_replaces_the_older_ones_of_the_same_name(cache_dir):
    cache.cached("plan", "sources v1", lambda: 1, name="cn-yongji-2035")
    cache.cached("plan", "other plan", lambda: 2, name="cn-shanxi-2035")
    cache.cached("plan", "sources v2", lambda: 3, name="cn-yongji-2035")
    left = sorted(p.name.rsplit("-", 1)[0] for p in cache_dir.glob("plan-*.pickle"))
    assert left == ["plan-cn-shanxi-2035", "plan-cn-yongji-2035"]
    assert cache.cached("plan", "sources v2", lambda: 0, name="cn-yongji-2035") == 3


def test_warnings_of_the_computation_are_said_again_when_read_back(cache_dir):
    def compute():
        warnings.warn("plan x left out", UserWarning)
        return 1

    for _ in range(2):
        with pytest.warns(UserWarning, match="plan x left out"):
            assert cache.cached("test", "w", compute) == 1


def test_a_damaged_entry_is_rebuilt(cache_dir):
    cache.cached("test", "d", lambda: [1, 2, 3])
    (entry,) = cache_dir.glob("test-*.pickle")
    entry.write_bytes(b"not a pickle")
    assert cache.cached("test", "d", lambda: [4]) == [4]
    with open(entry, "rb") as f:
        assert pickle.load(f)[2] == [4]


def test_an_unwritable_cache_costs_speed_not_the_answer(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setattr(settings, "cache_dir", blocker / "cache")   # cannot be created
    with pytest.warns(RuntimeWarning, match="could not write"):
        assert cache.cached("test", "u", lambda: 5) == 5


def test_the_cache_can_be_turned_off(monkeypatch):
    monkeypatch.setattr(settings, "cache_dir", None)
    calls = []
    for _ in range(2):
        cache.cached("test", "off", lambda: calls.append(1))
    assert len(calls) == 2


def _fill(args):
    folder, n = args
    settings.cache_dir = folder
    import time

    return cache.cached("race", "same-key", lambda: time.sleep(0.2) or list(range(n)))


def test_processes_filling_the_same_entry_at_once_all_get_it_whole(cache_dir):
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.map(_fill, [(cache_dir, 100_000)] * 8)
    assert all(r == list(range(100_000)) for r in results)
    (entry,) = cache_dir.glob("race-*.pickle")
    with open(entry, "rb") as f:
        assert pickle.load(f)[2] == list(range(100_000))
    assert not list(cache_dir.glob(".*"))


def test_the_fingerprint_follows_the_content_of_the_sources(tmp_path):
    layers = tmp_path / "layers"
    shutil.copytree(settings.layers_dir / "cn-yongji-2035", layers / "cn-yongji-2035")
    for csv in settings.layers_dir.glob("*.csv"):
        shutil.copy(csv, layers / csv.name)
    original = cache.fingerprint("cn-yongji-2035")
    copy = cache.fingerprint("cn-yongji-2035", layers_dir=layers)
    assert copy == original                      # same content elsewhere: same entry
    rules = layers / "cn-yongji-2035" / "rules.yaml"
    rules.write_text(rules.read_text(encoding="utf-8") + "\n# reviewed\n", encoding="utf-8")
    assert cache.fingerprint("cn-yongji-2035", layers_dir=layers) != original
    (layers / "activities.csv").write_text("changed", encoding="utf-8")
    assert cache.fingerprint("cn-yongji-2035", layers_dir=layers) != original


def test_a_cached_plan_and_index_equal_fresh_ones(plans, tmp_path, monkeypatch):
    import importlib

    import pandas as pd

    from zoning import build
    query = importlib.import_module("zoning.query")     # zoning.query is the function

    if "cn-yongji-2035" not in plans:
        pytest.skip("cn-yongji-2035 unavailable")
    monkeypatch.setattr(settings, "cache_dir", tmp_path / "c")
    build._load_cached.cache_clear()
    fresh = build.load("cn-yongji-2035")
    build._load_cached.cache_clear()
    again = build.load("cn-yongji-2035")                           # read from disk
    assert again is not fresh
    for name in fresh.layers:
        pd.testing.assert_frame_equal(pd.DataFrame(again[name]), pd.DataFrame(fresh[name]))
    query._INDEX_CACHE.clear()
    first = query.query_point(110.44, 34.87, "cn-yongji-2035")
    query._INDEX_CACHE.clear()
    stored = query.query_point(110.44, 34.87, "cn-yongji-2035")    # index read from disk
    pd.testing.assert_frame_equal(stored, first)
    assert len(list((tmp_path / "c").glob("index-*.pickle"))) == 1
    query._INDEX_CACHE.clear()
    build._load_cached.cache_clear()

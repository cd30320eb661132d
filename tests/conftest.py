"""Shared fixtures: the real plans and a small real test plan, each built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
os.environ.setdefault("ZONING_RIVER_DIRS", str(DATA / "named_rivers"))

import zoning  # noqa: E402  (after the environment is set)


@pytest.fixture(scope="session")
def test_layers_dir() -> Path:
    return DATA / "layers"


@pytest.fixture(scope="session")
def mini_plan(test_layers_dir):
    return zoning.build_plan("cn-test-mini", layers_dir=test_layers_dir)


@pytest.fixture(scope="session")
def plans():
    """Every real plan under layers/, built once."""
    return {pid: zoning.load(pid) for pid in zoning.plan_ids()}


def plan_or_skip(plans, plan_id):
    if plan_id not in plans:
        pytest.skip(f"plan {plan_id} is not encoded")
    return plans[plan_id]

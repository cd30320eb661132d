"""Symbology read from ``styles/`` (data, not code)."""

from __future__ import annotations

from functools import cache

import pandas as pd

from .model import ROOT

STYLES_DIR = ROOT / "styles"


@cache
def themes() -> pd.DataFrame:
    """Default style per theme (``styles/themes.csv``), indexed by theme."""
    return pd.read_csv(STYLES_DIR / "themes.csv", keep_default_na=False).set_index("theme")


def layer_style(theme: str) -> dict:
    """Style record of a theme (falls back to ``other``)."""
    table = themes()
    row = table.loc[theme] if theme in table.index else table.loc["other"]
    return {"theme": theme, **row.to_dict()}

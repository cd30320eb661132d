"""Interactive web maps (folium): one toggleable layer per plan layer, legend and popups.

Every popup shows the original and English name, class, regulation, citation and the
geometry-basis badge, so a reader always sees whether a shape is authoritative, approximate
or schematic.
"""

from __future__ import annotations

import html
from pathlib import Path

import folium
import geopandas as gpd
import pandas as pd

from .io import atomic_path
from .model import Plan
from .styles import layer_style

RTL_LANGUAGES = {"fa", "ar", "he", "ur"}
_BADGE_COLOURS = {"authoritative": "#1a9850", "approximate": "#fc8d59", "schematic": "#d73027"}


def _popup_html(row: pd.Series, language: str) -> str:
    direction = "rtl" if language in RTL_LANGUAGES else "ltr"
    badge = row.get("basis_badge", "")
    esc = lambda v: html.escape("" if v is None or (isinstance(v, float) and pd.isna(v))  # noqa: E731
                                else str(v))
    text = esc(row.get("source_text", ""))
    if len(text) > 400:
        text = text[:400] + "…"
    return (
        f'<div class="zoning-popup" style="max-width:360px">'
        f'<div lang="{language}" dir="{direction}" style="font-weight:bold">{esc(row["name"])}</div>'
        f'<div lang="en">{esc(row["name_en"])}</div>'
        f'<div><b>Class</b>: {esc(row["zone_class_label"])} <code>{esc(row["zone_class"])}</code></div>'
        f'<div><b>Regulation</b>: {esc(row["regulation"])}</div>'
        f'<div><b>Source</b>: {esc(row["source_section"])}, lines {esc(row["source_lines"])}</div>'
        f'<div class="zoning-citation" lang="{language}" dir="{direction}" '
        f'style="font-size:90%;color:#333">{text}</div>'
        f'<div><b>Geometry</b>: <span class="zoning-badge" style="background:'
        f'{_BADGE_COLOURS.get(badge, "#999")};color:#fff;padding:0 4px;border-radius:3px">'
        f'{esc(badge)}</span> {esc(row["geometry_basis"])}</div>'
        f'<div style="font-size:85%;color:#555">{esc(row["basis_detail"])[:300]}</div>'
        f'</div>')


def plan_map(plans: list[Plan], *, tiles: str | None = None) -> folium.Map:
    """Folium map of one or more plans.

    Parameters
    ----------
    plans : list of Plan
    tiles : str, optional
        A tile provider name understood by folium; by default no tiles (works offline).

    Examples
    --------
    >>> import zoning
    >>> m = zoning.load("cn-yongji-2035").map()     # doctest: +SKIP
    """
    bounds = gpd.GeoSeries(pd.concat([p.features.geometry for p in plans])).total_bounds
    m = folium.Map(tiles=tiles, control_scale=True, prefer_canvas=False)
    m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    legend: dict[str, dict] = {}
    for plan in plans:
        language = str(plan.meta.get("language", "en"))
        catalog = plan.tables["layer_catalog"].set_index("layer")
        order = sorted(plan.layers, key=lambda n: layer_style(catalog.at[n, "theme"])["z_order"])
        for name in order:
            gdf = plan.layers[name]
            if gdf.empty:
                continue
            theme = catalog.at[name, "theme"]
            style = layer_style(theme)
            title = f"{plan.plan_id}: {catalog.at[name, 'title_en']}"
            group = folium.FeatureGroup(name=title, show=True)
            data = gdf[["feature_id", "name", "name_en", "zone_class", "zone_class_label",
                        "regulation", "source_section", "source_lines", "source_text",
                        "geometry_basis", "basis_badge", "basis_detail", "geometry"]]
            if catalog.at[name, "geometry_type"] == "point":
                for _, row in data.iterrows():
                    for pt in getattr(row.geometry, "geoms", [row.geometry]):
                        folium.CircleMarker(
                            [pt.y, pt.x], radius=6, color=style["stroke"], weight=1,
                            fill=True, fill_color=style["fill"], fill_opacity=0.9,
                            tooltip=f"{row['name']} — {row['name_en']}",
                            popup=folium.Popup(_popup_html(row, language), max_width=380),
                        ).add_to(group)
            else:
                popups = [_popup_html(r, language) for _, r in data.iterrows()]
                for (_, row), popup in zip(data.iterrows(), popups):
                    folium.GeoJson(
                        gpd.GeoDataFrame([row], crs=gdf.crs).to_json(drop_id=True),
                        style_function=lambda _f, s=style: {
                            "fillColor": s["fill"], "color": s["stroke"],
                            "weight": s["weight"], "fillOpacity": s["fill_opacity"],
                            "dashArray": s["dash"] or None},
                        tooltip=f"{row['name']} — {row['name_en']}",
                        popup=folium.Popup(popup, max_width=380),
                    ).add_to(group)
            group.add_to(m)
            legend[theme] = style
    folium.LayerControl(collapsed=False).add_to(m)
    _add_legend(m, legend)
    return m


def _add_legend(m: folium.Map, legend: dict[str, dict]) -> None:
    items = "".join(
        f'<div><span style="display:inline-block;width:14px;height:10px;background:{s["fill"]};'
        f'border:2px solid {s["stroke"]};margin-right:4px"></span>{html.escape(theme)}</div>'
        for theme, s in sorted(legend.items(), key=lambda kv: -kv[1]["z_order"]))
    badges = "".join(
        f'<div><span style="background:{c};color:#fff;padding:0 4px;border-radius:3px">{b}</span>'
        f'</div>' for b, c in _BADGE_COLOURS.items())
    box = (f'<div class="zoning-legend" style="position:fixed;bottom:20px;left:10px;z-index:9999;'
           f'background:#fff;padding:6px 8px;border:1px solid #999;font:12px sans-serif">'
           f'<b>Legend</b>{items}<b>Geometry basis</b>{badges}</div>')
    m.get_root().html.add_child(folium.Element(box))


def write_map(plans: list[Plan], path: str | Path, **kwargs) -> Path:
    """Write a self-contained HTML map of ``plans`` to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        plan_map(plans, **kwargs).save(str(tmp))
    return path

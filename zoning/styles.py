"""Symbology read from ``styles/`` (data, not code), and its QGIS and SLD renderings.

One style source feeds every output: the web maps (:mod:`zoning.webmap`), the static figures
(:mod:`zoning.figures`), the QGIS styles stored in each GeoPackage (``layer_styles``) and SLD
files for GeoServer.

* ``styles/themes.csv`` — default style and legend label of each theme;
* ``styles/zone_class_styles.csv`` — one style per zone class (a blank cell inherits the
  theme's value), with the legend label in Chinese, Persian and Vietnamese and the
  cartographic convention it follows; a class without a row gets its theme's style;
* ``styles/hatches.csv``, ``styles/markers.csv`` — the hatch and point-symbol vocabularies and
  their names in matplotlib, QGIS and SLD;
* ``styles/badges.csv``, ``styles/base_maps.csv``, ``styles/ui_strings.csv`` — geometry-basis
  badges, base maps and the words of the map interface in every plan language;
* ``styles/base_labels.csv`` — which place, river and province names the offline base map
  shows from which zoom;
* ``styles/draw_order.csv``, ``styles/layer_defaults.csv`` — the cartographic defaults of a
  map: points over lines over control lines over zones, and which layers of each plan are on
  when the map opens (the key layers), one click away, or context outside the plan's area.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import sqlite3
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import geopandas as gpd
import pandas as pd

from ._errors import DataFileError, ExportError
from .settings import settings
from .model import Plan, zone_classes

#: Languages the legend labels are given in (the plans' languages besides English).
LANGUAGES = ("zh", "fa", "vi")
#: Style attributes a zone class inherits from its theme when its own cell is blank.
STYLE_COLUMNS = ("fill", "fill_opacity", "stroke", "weight", "dash", "hatch", "hatch_color",
                 "marker", "marker_size", "z_order")
_NUMERIC = ("fill_opacity", "weight", "marker_size", "z_order")
#: QGIS ``layerGeometryType`` and symbol type of each layer geometry type.
_QGIS_GEOMETRY = {"point": (0, "marker"), "line": (1, "line"), "polygon": (2, "fill")}
#: Spacing of hatch lines, in pixels, in every rendering.
HATCH_SPACING_PX = 7


def read_table(name: str, index: str) -> pd.DataFrame:
    return pd.read_csv(settings.styles_dir / name, keep_default_na=False,
                       dtype=str).set_index(index)


@cache
def themes() -> pd.DataFrame:
    """Default style per theme (``styles/themes.csv``), indexed by theme."""
    table = read_table("themes.csv", "theme")
    for col in _NUMERIC:
        table[col] = pd.to_numeric(table[col])
    return table


def layer_style(theme: str) -> dict:
    """Style record of a theme (falls back to ``other``).

    Examples
    --------
    >>> layer_style("control_line")["z_order"]
    90
    """
    table = themes()
    row = table.loc[theme] if theme in table.index else table.loc["other"]
    record = row.to_dict()
    record["z_order"] = int(record["z_order"])
    return {"theme": theme, **record}


@cache
def hatches() -> pd.DataFrame:
    """Hatch vocabulary (``styles/hatches.csv``): angles and names in each renderer."""
    return read_table("hatches.csv", "hatch")


@cache
def markers() -> pd.DataFrame:
    """Point-symbol vocabulary (``styles/markers.csv``): names in each renderer, SVG path."""
    return read_table("markers.csv", "marker")


@cache
def badges() -> pd.DataFrame:
    """Geometry-basis badges (``styles/badges.csv``): colour, labels and how shapes of that
    badge are drawn (``draw_hatch``: a light hatch in the class colour instead of the class's
    own fill — envelopes are outline and hatch, so no one takes them for a delineated line)."""
    return read_table("badges.csv", "badge")


@cache
def base_maps() -> pd.DataFrame:
    """Base maps offered on web maps (``styles/base_maps.csv``), in menu order."""
    return read_table("base_maps.csv", "base")


@cache
def ui_strings() -> pd.DataFrame:
    """Words of the map interface in English and each plan language (``styles/ui_strings.csv``)."""
    return read_table("ui_strings.csv", "key")


@cache
def draw_order() -> pd.DataFrame:
    """Draw groups, bottom to top (``styles/draw_order.csv``), indexed by group."""
    table = read_table("draw_order.csv", "group")
    table["order"] = pd.to_numeric(table["order"])
    return table.sort_values("order")


@cache
def _layer_defaults_table() -> pd.DataFrame:
    table = pd.read_csv(settings.styles_dir / "layer_defaults.csv", keep_default_na=False,
                        dtype=str)
    bad = sorted(set(table["default"]) - {"on", "off", "context"})
    if bad:
        raise DataFileError(f"styles/layer_defaults.csv: default must be on, off or context, "
                            f"not {', '.join(map(repr, bad))}")
    return table


@cache
def base_labels() -> pd.DataFrame:
    """Labels of the offline base map by zoom (``styles/base_labels.csv``): per kind
    (``province``, ``river``, ``place``) and, for places, per population class, the zooms
    between which a label shows, its size and colour. Rows are in priority order: the map
    places names of earlier rows first."""
    table = pd.read_csv(settings.styles_dir / "base_labels.csv", keep_default_na=False, dtype=str)
    table["min_population"] = pd.to_numeric(table["min_population"].replace("", "0"))
    table["max_zoom"] = pd.to_numeric(table["max_zoom"].replace("", "18"))
    for column in ("min_zoom", "font_px"):
        table[column] = pd.to_numeric(table[column])
    return table


def draw_group(geometry_type: str, theme: str) -> str:
    """Draw group of a layer: ``point``, ``line``, ``control_line`` or ``zone``.

    Examples
    --------
    >>> draw_group("polygon", "control_line"), draw_group("line", "control_line")
    ('control_line', 'line')
    """
    if geometry_type in ("point", "line"):
        return geometry_type
    return "control_line" if theme == "control_line" else "zone"


def layer_defaults(plan: Plan) -> pd.DataFrame:
    """Cartographic defaults of each layer of a plan, bottom to top in draw order.

    Columns: ``layer``, ``theme``, ``geometry_type``, ``group`` (:func:`draw_group`),
    ``group_order`` (from ``styles/draw_order.csv``), ``z`` (the highest z-order of the layer's
    classes), ``visible`` (on when the map opens), ``context`` (drawn outside the plan's area:
    off, and left out of the initial view). A plan listed in ``styles/layer_defaults.csv``
    shows only the layers marked ``on``; a plan not listed there shows every layer.

    Examples
    --------
    >>> table = layer_defaults(zoning.load("cn-shanxi-2035"))
    >>> bool(table.set_index("layer").loc["control_lines", "visible"])
    True
    """
    catalog = plan.tables["layer_catalog"].set_index("layer")
    listed = _layer_defaults_table()
    listed = listed[listed.plan_id == plan.plan_id].set_index("layer")["default"]
    orders = draw_order()["order"]
    rows = []
    for name, gdf in plan.layers.items():
        theme = catalog.at[name, "theme"] or "other"
        geometry_type = catalog.at[name, "geometry_type"]
        group = draw_group(geometry_type, theme)
        classes = set(gdf["zone_class"]) or {""}
        z = max(class_style(c)["z_order"] for c in classes) if len(gdf) else \
            layer_style(theme)["z_order"]
        default = listed.get(name, "off" if len(listed) else "on")
        rows.append({"layer": name, "theme": theme, "geometry_type": geometry_type,
                     "group": group, "group_order": int(orders[group]), "z": int(z),
                     "visible": default == "on", "context": default == "context"})
    table = pd.DataFrame(rows, columns=["layer", "theme", "geometry_type", "group",
                                        "group_order", "z", "visible", "context"])
    return table.sort_values(["group_order", "z", "layer"], kind="stable").reset_index(drop=True)


def hatch_angles(hatch: str) -> list[float]:
    """Angles (degrees anticlockwise from east) of the line families of a hatch; [] for none.

    Examples
    --------
    >>> hatch_angles("diagonal_cross")
    [45.0, 135.0]
    """
    if not hatch:
        return []
    return [float(a) for a in hatches().at[hatch, "angles_deg"].split(";")]


@cache
def _class_styles() -> pd.DataFrame:
    classes = zone_classes()
    own = read_table("zone_class_styles.csv", "code")
    table = themes()
    rows = []
    for code, cls in classes.iterrows():
        theme = cls["theme"] if cls["theme"] in table.index else "other"
        base = table.loc[theme]
        mine = own.loc[code] if code in own.index else None
        record = {"code": code, "theme": cls["theme"], "own_style": mine is not None}
        for col in STYLE_COLUMNS:
            value = mine[col] if mine is not None else ""
            record[col] = value if value != "" else base[col]
        record["label_en"] = cls["label_en"]
        for lang in LANGUAGES:
            value = mine[f"label_{lang}"] if mine is not None else ""
            if not value and lang == "zh":
                value = cls.get("label_zh", "")
            record[f"label_{lang}"] = value or cls["label_en"]
        record["convention"] = mine["convention"] if mine is not None else ""
        rows.append(record)
    out = pd.DataFrame(rows).set_index("code")
    for col in _NUMERIC:
        out[col] = pd.to_numeric(out[col])
    out["z_order"] = out["z_order"].astype(int)
    return out


def class_styles() -> pd.DataFrame:
    """Resolved style of every zone class in ``layers/zone_classes.csv``, indexed by code.

    A class with a row in ``styles/zone_class_styles.csv`` takes it (blank cells inherit the
    theme's value); any other class takes its theme's style, so a class appended to the
    taxonomy is drawn before anyone styles it.

    Examples
    --------
    >>> styles = class_styles()
    >>> styles.at["permanent_basic_farmland", "label_zh"]
    '永久基本农田'
    """
    return _class_styles().copy()


def class_style(code: str) -> dict:
    """Style record of one zone class; an unknown code gets the ``other`` theme's style.

    Examples
    --------
    >>> class_style("ecological_protection_red_line")["hatch"]
    'diagonal'
    """
    table = _class_styles()
    if code in table.index:
        return {"code": code, **table.loc[code].to_dict()}
    base = layer_style("other")
    labels = {f"label_{lang}": code for lang in ("en",) + LANGUAGES}
    return {"code": code, "own_style": False, "convention": "",
            **{c: base[c] for c in STYLE_COLUMNS}, "theme": "other", **labels}


def legend_label(code: str, language: str | None = None) -> str:
    """Legend label of a zone class: English, followed by the plan language's label if any.

    Examples
    --------
    >>> legend_label("urban_development_boundary", "zh")
    'Urban development boundary / 城镇开发边界'
    """
    style = class_style(code)
    local = style.get(f"label_{language}", "") if language in LANGUAGES else ""
    return f"{style['label_en']} / {local}" if local and local != style["label_en"] else \
        style["label_en"]


def _rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


def _dash_list(dash: str) -> list[float]:
    return [float(x) for x in dash.split()] if dash else []


def _layer_classes(gdf: gpd.GeoDataFrame) -> list[str]:
    """Zone classes present in a layer, bottom-most first (the order they are drawn in)."""
    codes = sorted(set(gdf["zone_class"].dropna()))
    return sorted(codes, key=lambda c: (class_style(c)["z_order"], c))


# --- QGIS (QML) ---------------------------------------------------------------------------

def _opt(name: str, value) -> str:
    return f'<Option type="QString" name="{name}" value={quoteattr(str(value))}/>'


def _qgis_colour(colour: str, opacity: float = 1.0) -> str:
    r, g, b = _rgb(colour)
    return f"{r},{g},{b},{round(255 * float(opacity))}"


def _qgis_line_layer(style: dict, z: int, colour: str | None = None,
                     width: float | None = None, dash: str | None = None) -> str:
    dash = style["dash"] if dash is None else dash
    pattern = _dash_list(dash)
    opts = [_opt("line_color", _qgis_colour(colour or style["stroke"])),
            _opt("line_width", width if width is not None else style["weight"]),
            _opt("line_width_unit", "Pixel"), _opt("line_style", "solid"),
            _opt("capstyle", "round"), _opt("joinstyle", "round"),
            _opt("use_custom_dash", int(bool(pattern))),
            _opt("customdash", ";".join(f"{x:g}" for x in pattern) or "5;2"),
            _opt("customdash_unit", "Pixel")]
    return (f'<layer class="SimpleLine" enabled="1" locked="0" pass="{z}">'
            f'<Option type="Map">{"".join(opts)}</Option></layer>')


def _qgis_symbol(style: dict, symbol_type: str, name: str) -> str:
    z = int(style["z_order"])
    if symbol_type == "line":
        layers = [_qgis_line_layer(style, z)]
    elif symbol_type == "marker":
        opts = [_opt("name", markers().at[style["marker"], "qgis"]),
                _opt("color", _qgis_colour(style["fill"], max(style["fill_opacity"], 0.6))),
                _opt("outline_color", _qgis_colour(style["stroke"])),
                _opt("outline_width", 1), _opt("outline_width_unit", "Pixel"),
                _opt("outline_style", "solid"),
                _opt("size", style["marker_size"]), _opt("size_unit", "Pixel"),
                _opt("angle", 0), _opt("scale_method", "diameter")]
        layers = [f'<layer class="SimpleMarker" enabled="1" locked="0" pass="{z}">'
                  f'<Option type="Map">{"".join(opts)}</Option></layer>']
    else:
        fill = [_opt("color", _qgis_colour(style["fill"], style["fill_opacity"])),
                _opt("style", "solid" if style["fill_opacity"] > 0 else "no"),
                _opt("outline_style", "no"), _opt("outline_color", "0,0,0,0"),
                _opt("outline_width", 0), _opt("outline_width_unit", "Pixel")]
        layers = [f'<layer class="SimpleFill" enabled="1" locked="0" pass="{z}">'
                  f'<Option type="Map">{"".join(fill)}</Option></layer>']
        for k, angle in enumerate(hatch_angles(style["hatch"])):
            pattern = [_opt("angle", f"{angle:g}"), _opt("distance", HATCH_SPACING_PX),
                       _opt("distance_unit", "Pixel"), _opt("offset", 0),
                       _opt("offset_unit", "Pixel"), _opt("line_width", 1),
                       _opt("line_width_unit", "Pixel"),
                       _opt("color", _qgis_colour(style["hatch_color"] or style["stroke"]))]
            sub = _qgis_line_layer(style, 0, colour=style["hatch_color"] or style["stroke"],
                                   width=1, dash="")
            layers.append(
                f'<layer class="LinePatternFill" enabled="1" locked="0" pass="{z}">'
                f'<Option type="Map">{"".join(pattern)}</Option>'
                f'<symbol type="line" name="@{name}@{k + 1}" alpha="0.8" clip_to_extent="1" '
                f'force_rhr="0">{sub}</symbol></layer>')
        layers.append(_qgis_line_layer(style, z))
    return (f'<symbol type="{symbol_type}" name="{name}" alpha="1" clip_to_extent="1" '
            f'force_rhr="0">{"".join(layers)}</symbol>')


def layer_qml(gdf: gpd.GeoDataFrame, geometry_type: str, language: str | None = None) -> str:
    """QGIS style (QML) for one plan layer: a categorised renderer on ``zone_class``, labels.

    One category per zone class in the layer, labelled in English and the plan language
    (no catch-all category: the layer's classes are all listed, so a legend never shows an
    empty "other" entry); symbol levels follow the classes' z-order. Features are labelled
    with their name in the plan's own script (:func:`layer_labeling`).

    Parameters
    ----------
    gdf : GeoDataFrame
        The layer (only its ``zone_class`` column is read).
    geometry_type : {"polygon", "line", "point"}
    language : str, optional
        Plan language for the second label (zh, fa, vi) and the labels' font.

    Examples
    --------
    >>> import geopandas as gpd
    >>> qml = layer_qml(gpd.GeoDataFrame({"zone_class": ["river"]}), "line", "zh")
    >>> 'attr="zone_class"' in qml
    True
    """
    geometry_code, symbol_type = _QGIS_GEOMETRY[geometry_type]
    codes = _layer_classes(gdf)
    categories, symbols = [], []
    for i, code in enumerate(codes):
        categories.append(f'<category value={quoteattr(code)} symbol="{i}" '
                          f'label={quoteattr(legend_label(code, language))} render="true" '
                          f'type="string"/>')
        symbols.append(_qgis_symbol(class_style(code), symbol_type, str(i)))
    return ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
            '<qgis version="3.34.0-Prizren" styleCategories="Symbology|Labeling" '
            'labelsEnabled="1">'
            '<renderer-v2 type="categorizedSymbol" attr="zone_class" symbollevels="1" '
            'enableorderby="0" forceraster="0" referencescale="-1">'
            f'<categories>{"".join(categories)}</categories>'
            f'<symbols>{"".join(symbols)}</symbols>'
            '<rotation/><sizescale/></renderer-v2>'
            f'{layer_labeling(geometry_type, language)}'
            '<blendMode>0</blendMode><featureBlendMode>0</featureBlendMode>'
            '<layerOpacity>1</layerOpacity>'
            '<previewExpression>"name" || \' — \' || "name_en"</previewExpression>'
            f'<layerGeometryType>{geometry_code}</layerGeometryType></qgis>\n')


#: Font of map labels per plan language (Debian's fonts-noto-core / fonts-noto-cjk; QGIS
#: falls back to a font with the glyphs where it is missing).
LABEL_FONTS = {"zh": "Noto Sans CJK SC", "fa": "Noto Naskh Arabic", "vi": "Noto Sans"}
#: QGIS label placement per geometry type: ordered positions around a point, along a line,
#: horizontal over a polygon's inside.
_QGIS_PLACEMENT = {"point": 6, "line": 2, "polygon": 1}


def layer_labeling(geometry_type: str, language: str | None = None) -> str:
    """QGIS ``<labeling>`` element: each feature's ``name`` in the plan's own script.

    Examples
    --------
    >>> 'fieldName="name"' in layer_labeling("point", "fa")
    True
    """
    font = LABEL_FONTS.get(language or "", "Noto Sans")
    size = 8 if geometry_type == "point" else 7.5
    return (
        '<labeling type="simple"><settings calloutType="simple">'
        f'<text-style fieldName="name" isExpression="0" fontFamily={quoteattr(font)} '
        f'fontSize="{size}" fontSizeUnit="Point" textColor="40,40,40,255" textOpacity="1" '
        'namedStyle="Regular" fontWeight="50" fontItalic="0" multilineHeight="1" '
        'blendMode="0" allowHtml="0" capitalization="0" previewBkgrdColor="255,255,255,255">'
        '<text-buffer bufferDraw="1" bufferSize="0.8" bufferSizeUnits="MM" '
        'bufferColor="255,255,255,255" bufferOpacity="0.9" bufferNoFill="1" '
        'bufferJoinStyle="128" bufferBlendMode="0"/></text-style>'
        '<text-format wrapChar="" autoWrapLength="24" useMaxLineLengthForAutoWrap="1" '
        'multilineAlign="3" plussign="0" addDirectionSymbol="0" formatNumbers="0" '
        'decimals="3" reverseDirectionSymbol="0" placeDirectionSymbol="0" '
        'leftDirectionSymbol="&lt;" rightDirectionSymbol="&gt;"/>'
        f'<placement placement="{_QGIS_PLACEMENT[geometry_type]}" dist="1" distUnits="MM" '
        'placementFlags="10" priority="5" centroidWhole="0" centroidInside="1" '
        'fitInPolygonOnly="0" repeatDistance="0" offsetType="0" quadOffset="4" '
        'overrunDistance="0" overrunDistanceUnit="MM" lineAnchorPercent="0.5" '
        'lineAnchorType="0" lineAnchorClipping="0"/>'
        '<rendering drawLabels="1" obstacle="1" obstacleType="1" obstacleFactor="1" '
        'scaleVisibility="0" fontLimitPixelSize="0" displayAll="0" upsidedownLabels="0" '
        'limitNumLabels="0" mergeLines="0" labelPerPart="0" minFeatureSize="0" '
        'zIndex="0" unplacedVisibility="0"/>'
        '</settings></labeling>')


# --- SLD (GeoServer) ----------------------------------------------------------------------

def _css(name: str, value) -> str:
    return f'<CssParameter name="{name}">{escape(str(value))}</CssParameter>'


def _sld_stroke(style: dict, colour: str | None = None, width: float | None = None,
                dash: str | None = None) -> str:
    dash = style["dash"] if dash is None else dash
    parts = [_css("stroke", colour or style["stroke"]),
             _css("stroke-width", width if width is not None else style["weight"]),
             _css("stroke-linejoin", "round"), _css("stroke-linecap", "round")]
    if dash:
        parts.append(_css("stroke-dasharray", dash))
    return f"<Stroke>{''.join(parts)}</Stroke>"


def _sld_symbolizers(style: dict, geometry_type: str) -> str:
    if geometry_type == "line":
        return f"<LineSymbolizer>{_sld_stroke(style)}</LineSymbolizer>"
    if geometry_type == "point":
        mark = markers().loc[style["marker"]]
        rotation = f"<Rotation>{mark['sld_rotation']}</Rotation>" if \
            float(mark["sld_rotation"]) else ""
        return (f"<PointSymbolizer><Graphic><Mark>"
                f"<WellKnownName>{mark['sld_mark']}</WellKnownName>"
                f"<Fill>{_css('fill', style['fill'])}"
                f"{_css('fill-opacity', max(style['fill_opacity'], 0.6))}</Fill>"
                f"{_sld_stroke(style, width=1, dash='')}</Mark>"
                f"<Size>{style['marker_size']:g}</Size>{rotation}</Graphic></PointSymbolizer>")
    out = [f"<PolygonSymbolizer><Fill>{_css('fill', style['fill'])}"
           f"{_css('fill-opacity', style['fill_opacity'])}</Fill></PolygonSymbolizer>"]
    if style["hatch"]:
        hatch_colour = style["hatch_color"] or style["stroke"]
        out.append(f"<PolygonSymbolizer><Fill><GraphicFill><Graphic><Mark>"
                   f"<WellKnownName>{hatches().at[style['hatch'], 'sld_mark']}</WellKnownName>"
                   f"<Stroke>{_css('stroke', hatch_colour)}{_css('stroke-width', 1)}</Stroke>"
                   f"</Mark><Size>{HATCH_SPACING_PX}</Size></Graphic></GraphicFill></Fill>"
                   f"</PolygonSymbolizer>")
    out.append(f"<LineSymbolizer>{_sld_stroke(style)}</LineSymbolizer>")
    return "".join(out)


def _equal(code: str) -> str:
    return ("<ogc:Filter><ogc:PropertyIsEqualTo><ogc:PropertyName>zone_class</ogc:PropertyName>"
            f"<ogc:Literal>{escape(code)}</ogc:Literal></ogc:PropertyIsEqualTo></ogc:Filter>")


def layer_sld(gdf: gpd.GeoDataFrame, layer: str, geometry_type: str,
              language: str | None = None, theme: str = "other", title: str = "") -> str:
    """SLD 1.0 style for one plan layer (GeoServer): one rule per zone class.

    Each class is its own ``FeatureTypeStyle``, in z-order, so GeoServer draws classes in the
    same stacking order as the web map and QGIS; hatches use GeoServer's ``shape://`` marks.

    Examples
    --------
    >>> import geopandas as gpd
    >>> sld = layer_sld(gpd.GeoDataFrame({"zone_class": ["river"]}), "rivers", "line")
    >>> "<ogc:Literal>river</ogc:Literal>" in sld
    True
    """
    fallback = {**layer_style(theme), "hatch": "", "hatch_color": ""}
    styles = [("<Rule><Name>other</Name><Title>other</Title><ElseFilter/>"
               f"{_sld_symbolizers(fallback, geometry_type)}</Rule>")]
    for code in _layer_classes(gdf):
        style = class_style(code)
        styles.append(f"<Rule><Name>{escape(code)}</Name>"
                      f"<Title>{escape(legend_label(code, language))}</Title>{_equal(code)}"
                      f"{_sld_symbolizers(style, geometry_type)}</Rule>")
    body = "".join(f"<FeatureTypeStyle>{rule}</FeatureTypeStyle>" for rule in styles)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<StyledLayerDescriptor version="1.0.0" xmlns="http://www.opengis.net/sld" '
            'xmlns:ogc="http://www.opengis.net/ogc" xmlns:xlink="http://www.w3.org/1999/xlink" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://www.opengis.net/sld '
            'http://schemas.opengis.net/sld/1.0.0/StyledLayerDescriptor.xsd">'
            f"<NamedLayer><Name>{escape(layer)}</Name><UserStyle><Name>{escape(layer)}</Name>"
            f"<Title>{escape(title or layer)}</Title>{body}</UserStyle></NamedLayer>"
            "</StyledLayerDescriptor>\n")


# --- per plan -----------------------------------------------------------------------------

def plan_layer_styles(plan: Plan) -> pd.DataFrame:
    """QML and SLD of every layer of a plan: columns ``layer``, ``title``, ``qml``, ``sld``.

    Examples
    --------
    >>> plan_layer_styles(zoning.load("cn-yongji-2035")).layer.tolist()[:3]
    ['admin_units', 'agriculture', 'central_urban_area']
    """
    catalog = plan.tables["layer_catalog"].set_index("layer")
    language = str(plan.meta.get("language", ""))
    rows = []
    for name, gdf in plan.layers.items():
        geometry_type = catalog.at[name, "geometry_type"]
        theme = catalog.at[name, "theme"] or "other"
        title = f"{catalog.at[name, 'title_en']} / {catalog.at[name, 'title']}"
        rows.append({"layer": name, "title": title, "geometry_type": geometry_type,
                     "qml": layer_qml(gdf, geometry_type, language),
                     "sld": layer_sld(gdf, name, geometry_type, language, theme, title)})
    return pd.DataFrame(rows, columns=["layer", "title", "geometry_type", "qml", "sld"])


def write_layer_styles(gpkg_path: str | Path, plan: Plan) -> None:
    """Store each layer's QGIS style (and SLD) in the GeoPackage's ``layer_styles`` table.

    The table is the one QGIS itself creates and reads: one default style per layer
    (``useAsDefault = 1``), so the layers open in QGIS already styled. It is registered in
    ``gpkg_contents`` as ``attributes`` (and, as QGIS does, not as an extension).

    Examples
    --------
    >>> import sqlite3
    >>> plan = zoning.load("cn-yongji-2035")
    >>> path = zoning.write_gpkg(plan, tmp / "cn-yongji-2035.gpkg")   # styled already
    >>> write_layer_styles(path, plan)                                 # styled again
    >>> sqlite3.connect(path).execute("select count(*) from layer_styles").fetchone()
    (15,)
    """
    styles = plan_layer_styles(plan)
    start = _dt.datetime.now(_dt.timezone.utc)
    # milliseconds, as QGIS writes them; one millisecond apart, because QGIS's "Load Style
    # from database" keys its list on the time and repeats rows that share one
    stamps = [(start + _dt.timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
              for i in range(len(styles))]
    now = stamps[0]
    try:
        with contextlib.closing(sqlite3.connect(gpkg_path)) as con, con:
            geometry_columns = dict(con.execute(
                "SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall())
            con.execute("""CREATE TABLE IF NOT EXISTS layer_styles (
                id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256),
                f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256),
                styleName TEXT(30), styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN,
                description TEXT, owner TEXT(30), ui TEXT(30),
                update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))""")
            con.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, "
                        "description, last_change) VALUES ('layer_styles', 'attributes', "
                        "'layer_styles', 'QGIS layer styles (QML and SLD)', ?)", (now,))
            con.executemany("DELETE FROM layer_styles WHERE f_table_name = ?",
                            [(name,) for name in styles.layer])
            con.executemany(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
                "owner, ui, update_time) VALUES ('', '', ?, ?, ?, ?, ?, 1, ?, '', NULL, ?)",
                [(row.layer, geometry_columns.get(row.layer, "geom"), row.layer, row.qml,
                  row.sld, f"zoning style: {row.title}", stamp)
                 for row, stamp in zip(styles.itertuples(), stamps)])
    except sqlite3.Error as exc:
        raise ExportError(f"writing layer_styles into {gpkg_path} failed: {exc}") from exc


def write_sld(plan: Plan, folder: str | Path) -> list[Path]:
    """Write one SLD file per layer of ``plan`` into ``folder`` (``<plan_id>.<layer>.sld``)."""
    from .files import atomic_path

    folder = Path(folder)
    paths = []
    for row in plan_layer_styles(plan).itertuples():
        path = folder / f"{plan.plan_id}.{row.layer}.sld"
        with atomic_path(path) as tmp:
            tmp.write_text(row.sld, encoding="utf-8")
        paths.append(path)
    return paths

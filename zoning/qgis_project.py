"""A QGIS project inside each plan GeoPackage (the ``qgis_projects`` table).

QGIS reads projects stored in a GeoPackage (Project → Open From → GeoPackage): a table
``qgis_projects(name, metadata, content)`` whose ``content`` is the hex text of a ``.qgz``
archive. The project written here opens the plan as the web map does
(:func:`zoning.styles.layer_defaults`): layers grouped by theme, drawn points over lines over
control lines over zones, the plan's key layers on and the rest one click away, each layer
styled by its zone classes and labelled with the features' names in the plan's own script,
the view on the plan's area and the plan's title as the project title.

Layer sources are relative (``./<file>.gpkg|layername=<layer>``), as QGIS itself writes them
for a project stored in a GeoPackage, so the file can be moved or renamed only together
with its name inside; :func:`write_qgis_project` is called with the final file name.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import sqlite3
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import shapely

from . import styles
from ._errors import ExportError
from .model import Plan

#: QGIS version the project is written for (Debian stable's QGIS reads it; newer ones too).
QGIS_VERSION = "3.22.16-Białowieża"
_WKB = {"polygon": ("Polygon", "MultiPolygon"), "line": ("Line", "MultiLineString"),
        "point": ("Point", "MultiPoint")}
_WGS84 = ("<spatialrefsys><authid>EPSG:4326</authid><srid>4326</srid>"
          "<proj4>+proj=longlat +datum=WGS84 +no_defs</proj4>"
          "<description>WGS 84</description><projectionacronym>longlat</projectionacronym>"
          "<ellipsoidacronym>EPSG:7030</ellipsoidacronym><geographicflag>true</geographicflag>"
          "</spatialrefsys>")


def layer_title(plan: Plan, layer: str) -> str:
    """Human name of a layer: English title and the plan-language title.

    Examples
    --------
    >>> layer_title(zoning.load("cn-yongji-2035"), "rivers")
    'Rivers (the Yellow River and the "three rivers") / 河流（黄河与"三河"）'
    """
    catalog = plan.tables["layer_catalog"].set_index("layer")
    english, local = str(catalog.at[layer, "title_en"]), str(catalog.at[layer, "title"])
    return english if not local or local == english else f"{english} / {local}"


def _inner(qml: str) -> str:
    """The renderer and labelling of a QML document, to embed in a ``<maplayer>``."""
    start = qml.index("<renderer-v2")
    end = qml.index("<layerGeometryType>")
    return qml[start:end]


def _extent(bounds) -> str:
    west, south, east, north = (float(v) for v in bounds)
    return (f"<xmin>{west!r}</xmin><ymin>{south!r}</ymin>"
            f"<xmax>{east!r}</xmax><ymax>{north!r}</ymax>")


def project_xml(plan: Plan, gpkg_name: str) -> str:
    """The ``.qgs`` XML of a plan's project, its layers read from ``./<gpkg_name>``.

    Examples
    --------
    >>> xml = project_xml(zoning.load("cn-yongji-2035"), "cn-yongji-2035.gpkg")
    >>> xml.count("<maplayer "), "./cn-yongji-2035.gpkg|layername=rivers" in xml
    (15, True)
    """
    defaults = styles.layer_defaults(plan)
    qml = styles.plan_layer_styles(plan).set_index("layer")["qml"]
    themes = styles.themes()
    title = f"{plan.meta.get('title', plan.plan_id)} — {plan.meta.get('title_en', '')}".strip(" —")
    extent = shapely.from_wkt(plan.meta["extent_wkt"]).bounds if plan.meta.get("extent_wkt") \
        else (-180.0, -90.0, 180.0, 90.0)
    top_first = defaults.iloc[::-1]
    ids = {name: f"{plan.plan_id}__{name}".replace("-", "_") for name in defaults.layer}
    # Theme groups in the order of their topmost layer; layers in draw order within them.
    groups: dict[str, list] = {}
    for row in top_first.itertuples():
        groups.setdefault(row.theme, []).append(row)
    tree = []
    for theme, rows in groups.items():
        label = themes.at[theme, "label_en"] if theme in themes.index else \
            theme.replace("_", " ").capitalize()
        items = "".join(
            f'<layer-tree-layer id="{ids[r.layer]}" name={quoteattr(layer_title(plan, r.layer))} '
            f'source={quoteattr(f"./{gpkg_name}|layername={r.layer}")} providerKey="ogr" '
            f'checked="Qt::{"Checked" if r.visible else "Unchecked"}" expanded="0">'
            '<customproperties/></layer-tree-layer>' for r in rows)
        on = any(r.visible for r in rows)
        tree.append(f'<layer-tree-group name={quoteattr(label)} '
                    f'checked="Qt::{"Checked" if on else "Unchecked"}" expanded="{int(on)}">'
                    f'<customproperties/>{items}</layer-tree-group>')
    order = "".join(f"<item>{ids[r.layer]}</item>" for r in top_first.itertuples())
    layers = []
    for row in top_first.itertuples():
        gdf = plan.layers[row.layer]
        geometry, wkb = _WKB[row.geometry_type]
        bounds = gdf.total_bounds if len(gdf) else extent
        layers.append(
            f'<maplayer type="vector" geometry="{geometry}" wkbType="{wkb}" labelsEnabled="1" '
            'autoRefreshEnabled="0" readOnly="0" hasScaleBasedVisibilityFlag="0" '
            'minScale="100000000" maxScale="0" simplifyDrawingHints="1" simplifyLocal="1" '
            'simplifyAlgorithm="0" simplifyDrawingTol="1" simplifyMaxScale="1" '
            'symbologyReferenceScale="-1" styleCategories="AllStyleCategories">'
            f"<extent>{_extent(bounds)}</extent><id>{ids[row.layer]}</id>"
            f"<datasource>{escape(f'./{gpkg_name}|layername={row.layer}')}</datasource>"
            f"<layername>{escape(layer_title(plan, row.layer))}</layername>"
            f"<srs>{_WGS84}</srs><provider encoding=\"UTF-8\">ogr</provider>"
            f"{_inner(qml[row.layer])}"
            "<blendMode>0</blendMode><featureBlendMode>0</featureBlendMode>"
            "<layerOpacity>1</layerOpacity>"
            "<previewExpression>\"name\" || ' — ' || \"name_en\"</previewExpression>"
            "<mapTip>[% \"name\" %] — [% \"name_en\" %]</mapTip>"
            f"<layerGeometryType>{['point', 'line', 'polygon'].index(row.geometry_type)}"
            "</layerGeometryType></maplayer>")
    view = _extent(extent)
    layer_order = "".join(f'<layer id="{ids[r.layer]}"/>' for r in top_first.itertuples())
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        f'<qgis version="{QGIS_VERSION}" projectname={quoteattr(title)}>'
        f'<homePath path=""/><title>{escape(title)}</title>'
        f"<projectCrs>{_WGS84}</projectCrs>"
        f'<layer-tree-group><customproperties/>{"".join(tree)}'
        f'<custom-order enabled="1">{order}</custom-order></layer-tree-group>'
        '<mapcanvas name="theMapCanvas" annotationsVisible="1"><units>degrees</units>'
        f"<extent>{view}</extent><rotation>0</rotation>"
        f"<destinationsrs>{_WGS84}</destinationsrs><rendermaptile>0</rendermaptile>"
        "</mapcanvas>"
        f'<projectlayers>{"".join(layers)}</projectlayers>'
        f"<layerorder>{layer_order}</layerorder>"
        '<properties><Paths><Absolute type="bool">false</Absolute></Paths>'
        '<Measurement><DistanceUnits type="QString">km</DistanceUnits>'
        '<AreaUnits type="QString">km2</AreaUnits></Measurement></properties>'
        f"<projectMetadata><identifier>{escape(plan.plan_id)}</identifier>"
        f"<language>{escape(str(plan.meta.get('language', '')))}</language>"
        f"<title>{escape(title)}</title>"
        f"<abstract>{escape(str(plan.meta.get('source_document', '')))}</abstract>"
        "</projectMetadata>"
        f'<ProjectViewSettings UseProjectScales="0" rotation="0"><Scales/>'
        f"<DefaultViewExtent {_attrs(extent)}>{_WGS84}</DefaultViewExtent>"
        "</ProjectViewSettings>"
        "</qgis>\n")


def _attrs(bounds) -> str:
    west, south, east, north = (float(v) for v in bounds)
    return f'xmin="{west!r}" ymin="{south!r}" xmax="{east!r}" ymax="{north!r}"'


def write_qgis_project(gpkg_path: str | Path, plan: Plan, gpkg_name: str | None = None) -> None:
    """Store the plan's QGIS project in the GeoPackage (``qgis_projects``, name = plan id).

    ``gpkg_name`` is the file name the GeoPackage will have (its layers are read from
    ``./<gpkg_name>``); by default the name of ``gpkg_path``.

    Examples
    --------
    >>> import sqlite3
    >>> plan = zoning.load("cn-yongji-2035")
    >>> path = zoning.write_gpkg(plan, tmp / "cn-yongji-2035.gpkg")   # has its project already
    >>> write_qgis_project(path, plan)                                 # written again
    >>> sqlite3.connect(path).execute("select name from qgis_projects").fetchall()
    [('cn-yongji-2035',)]
    """
    gpkg_path = Path(gpkg_path)
    xml = project_xml(plan, gpkg_name or gpkg_path.name)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as qgz:
        qgz.writestr(f"{plan.plan_id}.qgs", xml.encode("utf-8"))
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    metadata = json.dumps({"last_modified_time": now, "last_modified_user": "zoning"})
    try:
        with contextlib.closing(sqlite3.connect(gpkg_path)) as con, con:
            con.execute("CREATE TABLE IF NOT EXISTS qgis_projects(name TEXT PRIMARY KEY, "
                        "metadata BLOB, content BLOB)")
            con.execute("INSERT OR REPLACE INTO qgis_projects VALUES (?, ?, ?)",
                        (plan.plan_id, metadata, archive.getvalue().hex()))
    except sqlite3.Error as exc:
        raise ExportError(f"writing the QGIS project into {gpkg_path} failed: {exc}") from exc

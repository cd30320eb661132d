"""Open a GeoPackage's embedded QGIS project in QGIS itself and report what it finds (JSON).

Run with the Python that has QGIS (Debian: ``/usr/bin/python3`` with ``python3-qgis``), under
``QT_QPA_PLATFORM=offscreen``; tests/test_qgis.py calls it and checks the report. Usage::

    python3 qgis_probe.py FILE.gpkg PROJECT_NAME LAYER [LAYER ...]

The layers named are the ones whose visibility on top of the full stack is measured: each is
rendered alone, and the full stack is rendered with and without it.
"""

import json
import sys

import numpy

from qgis.core import (QgsApplication, QgsMapRendererSequentialJob, QgsMapSettings,
                       QgsProject, QgsRectangle)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

SIZE = 700


def render(settings_template, layers):
    settings = QgsMapSettings(settings_template)
    settings.setLayers(layers)
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    return bytes(ptr)


def changed(a, b):
    """Pixels (4 bytes each) that differ between two renderings."""
    a = numpy.frombuffer(a, dtype=numpy.uint32)
    b = numpy.frombuffer(b, dtype=numpy.uint32)
    return int((a != b).sum())


def main():
    path, name, toggled = sys.argv[1], sys.argv[2], sys.argv[3:]
    app = QgsApplication([], False)
    app.initQgis()
    messages = []
    QgsApplication.messageLog().messageReceived.connect(
        lambda text, tag, level: messages.append(f"{tag}: {text}"))
    project = QgsProject.instance()
    ok = project.read(f"geopackage:{path}?projectName={name}")
    report = {"read": ok, "title": project.title(), "layers": [], "messages": messages}
    root = project.layerTreeRoot()
    order = root.layerOrder()          # the drawing order, topmost first
    report["custom_order"] = root.hasCustomLayerOrder()
    report["order"] = [layer.source().split("layername=")[-1] for layer in order]
    for node in root.findLayers():
        layer = node.layer()
        entry = {"table": layer.source().split("layername=")[-1] if layer else None,
                 "name": node.name(), "valid": bool(layer and layer.isValid()),
                 "visible": node.itemVisibilityChecked(),
                 "group": node.parent().name()}
        if layer and layer.isValid():
            renderer = layer.renderer()
            entry["renderer"] = renderer.type()
            entry["categories"] = [[str(c.value()), c.label()] for c in renderer.categories()] \
                if renderer.type() == "categorizedSymbol" else []
            entry["labels"] = layer.labelsEnabled()
            labeling = layer.labeling()
            entry["label_field"] = labeling.settings().fieldName if labeling else None
            entry["features"] = layer.featureCount()
            entry["crs"] = layer.crs().authid()
            count, ids, names, descriptions, error = layer.listStylesInDatabase()
            entry["styles_related"] = count
            entry["style_names"] = list(names[:count]) if count >= 0 else []
        report["layers"].append(entry)
    # pixels: the whole stack (every layer on) in the project's drawing order
    settings = QgsMapSettings()
    settings.setOutputSize(QSize(SIZE, SIZE))
    settings.setBackgroundColor(QColor(255, 255, 255))
    settings.setDestinationCrs(order[0].crs() if order else settings.destinationCrs())
    extent = project.viewSettings().defaultViewExtent()
    settings.setExtent(QgsRectangle(extent) if not extent.isEmpty() else order[0].extent())
    by_table = {layer.source().split("layername=")[-1]: layer for layer in order}
    blank = render(settings, [])
    full = render(settings, order)
    report["pixels"] = {"full": changed(blank, full)}
    for table in toggled:
        layer = by_table[table]
        alone = changed(blank, render(settings, [layer]))
        without = changed(full, render(settings, [lyr for lyr in order if lyr is not layer]))
        report["pixels"][table] = {"alone": alone, "removed": without}
    # labels drawn: the same stack with labelling switched off differs
    settings_nolabels = QgsMapSettings(settings)
    settings_nolabels.setFlag(QgsMapSettings.DrawLabeling, False)
    report["pixels"]["labels"] = changed(full, render(settings_nolabels, order))
    print(json.dumps(report, ensure_ascii=False))
    app.exitQgis()


if __name__ == "__main__":
    main()

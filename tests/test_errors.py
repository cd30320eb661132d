"""One error class per kind of fault, whichever module meets it (``zoning/_errors.py``)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

import zoning
from zoning import _errors
from zoning.files import read_vector
from zoning.raster import zonal_stats


def _zones() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"zone": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326)


def test_every_class_is_a_zoning_error_and_documented():
    classes = [c for c in vars(_errors).values()
               if isinstance(c, type) and issubclass(c, Exception)
               and not issubclass(c, Warning)]
    assert len(classes) >= 12
    for cls in classes:
        assert issubclass(cls, zoning.ZoningError)
        assert cls.__doc__, cls
        assert f":class:`{cls.__name__}`" in _errors.__doc__ or cls is zoning.ZoningError
        assert getattr(zoning, cls.__name__) is cls


def test_no_crs_is_a_crs_error_for_vectors_and_rasters_alike(tmp_path):
    shp = tmp_path / "zones.shp"
    _zones().to_file(shp)
    shp.with_suffix(".prj").unlink()
    with pytest.raises(zoning.CRSError, match="has no CRS"):
        read_vector(shp)
    tif = tmp_path / "dem.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=2, height=2, count=1, dtype="int16",
                       transform=from_origin(0, 1, 0.5, 0.5)) as dst:
        dst.write(np.ones((1, 2, 2), dtype="int16"))
    with pytest.raises(zoning.CRSError, match="has no CRS"):
        zonal_stats(_zones(), tif)


def test_a_missing_input_file_is_an_input_file_error(tmp_path):
    for call in (lambda: read_vector(tmp_path / "nope.gpkg"),
                 lambda: zoning.read_gpkg(tmp_path / "nope.gpkg"),
                 lambda: zonal_stats(_zones(), tmp_path / "nope.tif")):
        with pytest.raises(zoning.InputFileError, match="no such"):
            call()


def test_unknown_names_and_bad_choices(mini_plan):
    with pytest.raises(zoning.UnknownPlanError, match="xx-nowhere"):
        zoning.load("xx-nowhere")
    with pytest.raises(zoning.UnknownLayerError, match="no layer 'nope'"):
        zoning.swap_in(mini_plan, "nope", _zones(), feature="x")
    with pytest.raises(zoning.UnknownLayerError, match="no layer 'nope'") as err:
        mini_plan["nope"]
    assert isinstance(err.value, KeyError) and str(err.value).startswith("plan cn-test-mini")
    with pytest.raises(zoning.UnknownColumnError, match="no column 'nope'"):
        zoning.rasterize_zones(_zones(), "nope", resolution=0.5)
    with pytest.raises(zoning.InvalidArgumentError, match="unknown engine") as err:
        zoning.query(_zones(), plans=[mini_plan], engine="nope")
    assert isinstance(err.value, ValueError)

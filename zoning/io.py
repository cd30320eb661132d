"""Plan GeoPackages: write a built plan (layers, tables, styles, QGIS project) and read it back.

Every write is atomic (:func:`zoning.files.atomic_path`): an interrupted or failing write
leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
from pathlib import Path
from types import MappingProxyType

import geopandas as gpd
import pandas as pd
import pyogrio

from ._errors import InputFileError, InvalidArgumentError
from .files import atomic_path
from .model import FEATURE_COLUMNS, Plan, PlanRecord, validation_problems

#: Non-spatial tables written into every plan GeoPackage, in this order.
TABLES = ("plan", "layer_catalog", "indicators", "rules", "statements", "zone_classes", "sources")


#: GeoPackage version written. Nothing here needs 1.4 (its changes concern tiled gridded
#: coverage and the optional timestamps of ``gpkg_contents``), and 1.3 files open without the
#: "user_version 10400 may only be partially supported" warning of GDAL < 3.7 (Debian 12).
GPKG_VERSION = "1.3"
#: Measures computed per feature; written as REAL columns even where a layer has none.
MEASURE_COLUMNS = ("area_km2", "length_km", "accuracy_m")


def plan_table(plan: Plan, *, extent_wkt: bool = False) -> pd.DataFrame:
    """The plan's metadata (a :class:`~zoning.model.PlanRecord`) as one row, one column per
    field in the record's order.

    The plan GeoPackage's ``plan`` table holds every field (``extent_wkt=True``); the folder
    and database exports leave out the plan area's WKT, which can run to megabytes.
    """
    record = dict(plan.meta.items())
    if not extent_wkt:
        del record["extent_wkt"]
    return pd.DataFrame([record])


def write_gpkg(plan: Plan, path: str | Path) -> Path:
    """Write every layer and every non-spatial table of ``plan`` to one GeoPackage, atomically.

    Layers get a spatial index, a human title (``gpkg_contents.identifier``), a description,
    and column aliases in the GeoPackage schema extension (``gpkg_data_columns``) so QGIS
    shows human column names; each layer's QGIS style is stored in ``layer_styles`` and a QGIS
    project of the whole plan in ``qgis_projects`` (:mod:`zoning.qgis_project`).
    """
    from .qgis_project import layer_title, write_qgis_project
    from .styles import write_layer_styles

    path = Path(path)
    with atomic_path(path) as tmp:
        catalog = plan.tables["layer_catalog"].set_index("layer")
        for name, gdf in plan.layers.items():
            # a measure column that is empty in a layer is still a number (REAL), not TEXT
            gdf = gdf.astype({c: "float64" for c in MEASURE_COLUMNS if c in gdf.columns})
            geometry_type = {"polygon": "MultiPolygon", "line": "MultiLineString",
                             "point": "MultiPoint"}[catalog.at[name, "geometry_type"]]
            pyogrio.write_dataframe(
                gdf, tmp, layer=name, driver="GPKG", geometry_type=geometry_type,
                promote_to_multi=True, dataset_options={"VERSION": GPKG_VERSION},
                layer_options={"SPATIAL_INDEX": "YES",
                               "IDENTIFIER": layer_title(plan, name),
                               "DESCRIPTION": f"{catalog.at[name, 'title']} — "
                                              f"{catalog.at[name, 'title_en']}; family "
                                              f"{catalog.at[name, 'family']}"})
        tables = {"plan": plan_table(plan, extent_wkt=True),
                  **{t: plan.tables[t] for t in TABLES if t != "plan"}}
        for name, df in tables.items():
            pyogrio.write_dataframe(df.astype(object).where(df.notna(), None), tmp, layer=name,
                                    driver="GPKG")
        _write_schema_extension(tmp, list(plan.layers))
        _write_metadata(tmp, plan)
        write_layer_styles(tmp, plan)
        write_qgis_project(tmp, plan, gpkg_name=path.name)
    return path


def _write_schema_extension(path: Path, layers: list[str]) -> None:
    """Column aliases and descriptions in ``gpkg_data_columns`` (GeoPackage schema extension)."""
    with contextlib.closing(sqlite3.connect(path)) as con, con:
        con.execute("""CREATE TABLE IF NOT EXISTS gpkg_data_columns (
            table_name TEXT NOT NULL, column_name TEXT NOT NULL, name TEXT, title TEXT,
            description TEXT, mime_type TEXT, constraint_name TEXT,
            CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name),
            CONSTRAINT gdc_tn UNIQUE (table_name, name))""")
        con.execute("""CREATE TABLE IF NOT EXISTS gpkg_extensions (table_name TEXT,
            column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL,
            scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name,
            extension_name))""")
        con.execute("""INSERT OR IGNORE INTO gpkg_extensions VALUES ('gpkg_data_columns', NULL,
            'gpkg_schema', 'http://www.geopackage.org/spec/#extension_schema', 'read-write')""")
        con.execute("""CREATE TABLE IF NOT EXISTS gpkg_data_column_constraints (
            constraint_name TEXT NOT NULL, constraint_type TEXT NOT NULL, value TEXT,
            min NUMERIC, min_is_inclusive BOOLEAN, max NUMERIC, max_is_inclusive BOOLEAN,
            description TEXT, CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type,
            value))""")
        con.execute("""INSERT OR IGNORE INTO gpkg_extensions VALUES
            ('gpkg_data_column_constraints', NULL, 'gpkg_schema',
             'http://www.geopackage.org/spec/#extension_schema', 'read-write')""")
        # code lists as enum constraints: QGIS turns them into value maps
        con.executemany("INSERT OR IGNORE INTO gpkg_data_column_constraints (constraint_name, "
                        "constraint_type, value, description) VALUES (?, 'enum', ?, ?)",
                        [(name, value, description)
                         for name, values in _code_lists().items()
                         for value, description in values.items()])
        constrained = {col: col for col in _code_lists()}
        rows = [(layer, col, alias, alias, description, constrained.get(col))
                for layer in layers for col, (alias, description) in FEATURE_COLUMNS.items()]
        rows += [(layer, "area_km2", "Area (km²)", "Area (km²)",
                  "Area in km² computed in EPSG:6933 (EASE-Grid 2.0, equal-area)", None)
                 for layer in layers]
        rows += [(layer, "length_km", "Length (km)", "Length (km)",
                  "Geodesic length in km on the WGS84 ellipsoid", None) for layer in layers]
        con.executemany("INSERT OR REPLACE INTO gpkg_data_columns (table_name, column_name, name, "
                        "title, description, constraint_name) VALUES (?, ?, ?, ?, ?, ?)", rows)


def _code_lists() -> dict[str, dict[str, str]]:
    from .model import LIFECYCLES, REGULATION_NATURE, geometry_bases

    return {
        "regulation": {k: f"INSPIRE regulationNature {v}" for k, v in REGULATION_NATURE.items()},
        "lifecycle": {k: k.replace("_", " ") for k in LIFECYCLES},
        "geometry_basis": geometry_bases()["description"].to_dict(),
        "basis_badge": {b: b for b in geometry_bases()["badge"].unique()},
    }


def _write_metadata(path: Path, plan: Plan) -> None:
    """Plan-level provenance as a ``gpkg_metadata`` record referenced by the whole file."""
    # the plan area's WKT is in the plan table; this record is the human-readable summary
    record = json.dumps({k: v for k, v in plan.meta.items() if k != "extent_wkt"},
                        ensure_ascii=False, default=str)
    with contextlib.closing(sqlite3.connect(path)) as con, con:
        con.execute("""CREATE TABLE IF NOT EXISTS gpkg_metadata (id INTEGER CONSTRAINT m_pk
            PRIMARY KEY ASC NOT NULL, md_scope TEXT NOT NULL DEFAULT 'dataset',
            md_standard_uri TEXT NOT NULL, mime_type TEXT NOT NULL DEFAULT 'text/xml',
            metadata TEXT NOT NULL DEFAULT '')""")
        con.execute("""CREATE TABLE IF NOT EXISTS gpkg_metadata_reference (
            reference_scope TEXT NOT NULL, table_name TEXT, column_name TEXT, row_id_value INTEGER,
            timestamp DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
            md_file_id INTEGER NOT NULL, md_parent_id INTEGER,
            CONSTRAINT crmr_mfi_fk FOREIGN KEY (md_file_id) REFERENCES gpkg_metadata(id),
            CONSTRAINT crmr_mpi_fk FOREIGN KEY (md_parent_id) REFERENCES gpkg_metadata(id))""")
        con.execute("""CREATE TABLE IF NOT EXISTS gpkg_extensions (table_name TEXT,
            column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL,
            scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name,
            extension_name))""")
        for table in ("gpkg_metadata", "gpkg_metadata_reference"):
            con.execute("INSERT OR IGNORE INTO gpkg_extensions VALUES (?, NULL, 'gpkg_metadata', "
                        "'http://www.geopackage.org/spec/#extension_metadata', 'read-write')",
                        (table,))
        cur = con.execute("INSERT INTO gpkg_metadata (md_scope, md_standard_uri, mime_type, "
                          "metadata) VALUES ('dataset', 'https://zoning.invalid/plan-record', "
                          "'application/json', ?)", (record,))
        con.execute("INSERT INTO gpkg_metadata_reference (reference_scope, md_file_id) "
                    "VALUES ('geopackage', ?)", (cur.lastrowid,))


def write_table(data: pd.DataFrame, path: str | Path, layer: str | None = None) -> Path:
    """Write a (Geo)DataFrame atomically to ``.csv``, ``.gpkg``, ``.geojson``, ``.fgb`` or
    ``.parquet``. In a GeoPackage it becomes table ``layer`` (default the file stem) and the
    file's other tables are kept, so several results can share one file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".gpkg", ".geojson", ".fgb", ".parquet"):
        raise InvalidArgumentError(f"unsupported output format {suffix!r} for {path} "
                                   "(use .csv, .gpkg, .geojson, .fgb or .parquet)")
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            pd.DataFrame(data.drop(columns="geometry", errors="ignore")).to_csv(
                tmp, index=False, encoding="utf-8")
        elif suffix == ".parquet":
            data.to_parquet(tmp)
        else:
            if suffix == ".gpkg" and path.exists():
                shutil.copyfile(path, tmp)
            frame = data.astype({c: object for c in data.columns
                                 if c != "geometry" and (data[c].dtype == object
                                                         or str(data[c].dtype) == "str")})
            pyogrio.write_dataframe(frame, tmp, layer=(layer or path.stem)
                                    if suffix == ".gpkg" else None, append=False)
    return path


def write_layers(tables: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """Write several tables into one new GeoPackage, atomically: GeoDataFrames become
    (multi)polygon layers with a spatial index, DataFrames attribute tables. Used for results
    made of several tables, such as a plan diff."""
    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise InvalidArgumentError(f"{path}: write_layers writes a GeoPackage (.gpkg)")
    with atomic_path(path) as tmp:
        for name, data in tables.items():
            # Text columns as plain objects (missing = NULL); numbers keep their type.
            text = [c for c in data.columns if not (isinstance(data, gpd.GeoDataFrame)
                                                    and c == data.geometry.name)
                    and (data[c].dtype == object or str(data[c].dtype) == "str")]
            frame = data.astype({c: object for c in text})
            for c in text:
                frame[c] = frame[c].where(frame[c].notna(), None)
            if isinstance(data, gpd.GeoDataFrame):
                pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG",
                                        geometry_type="MultiPolygon", promote_to_multi=True,
                                        layer_options={"SPATIAL_INDEX": "YES"})
            else:
                pyogrio.write_dataframe(pd.DataFrame(frame), tmp, layer=name, driver="GPKG")
    return path


def read_gpkg(path: str | Path) -> Plan:
    """Read a plan GeoPackage written by :func:`write_gpkg` back into a :class:`Plan`.

    The ``plan`` table is validated into the plan's :class:`~zoning.model.PlanRecord` (numbers
    stored as text come back as numbers) and the ``layer_catalog`` rows against the model;
    every problem is reported together in one :class:`~zoning._errors.PlanSpecError`.
    The non-spatial tables (``indicators``, ``rules``, ``layer_catalog`` …) are stored as TEXT
    and come back as text: convert a column before arithmetic
    (``pd.to_numeric(plan.tables["indicators"].target_value)``).

    Examples
    --------
    >>> plan = zoning.load("ir-qom-1414")
    >>> back = read_gpkg(write_gpkg(plan, tmp / "ir-qom-1414.gpkg"))
    >>> back.meta == plan.meta, list(back.layers) == list(plan.layers)
    (True, True)
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"no such file: {path}")
    try:
        listing = {name: gtype for name, gtype in pyogrio.list_layers(path)}
    except pyogrio.errors.DataSourceError as exc:
        raise InputFileError(f"cannot read {path} as a GeoPackage: {exc}") from exc
    missing = [t for t in TABLES if t not in listing]
    if missing:
        raise InputFileError(f"{path} is not a zoning plan GeoPackage (missing tables {missing})")
    tables = {t: pyogrio.read_dataframe(path, layer=t, read_geometry=False) for t in TABLES}
    meta = _check_plan_tables(path, tables, listing)
    tables.pop("plan")
    layers = {name: pyogrio.read_dataframe(path, layer=name)
              for name in tables["layer_catalog"].layer}
    return Plan(meta, MappingProxyType(layers), MappingProxyType(tables))


def _check_plan_tables(path: Path, tables: dict[str, pd.DataFrame],
                       listing: dict) -> PlanRecord:
    """Validate a GeoPackage's ``plan`` and ``layer_catalog`` tables against the model; return
    the plan's metadata.

    A GeoPackage is input like any other: it may have been edited by hand or by anyone, and its
    values reach maps, SQL and file names. Every problem is reported together.
    """
    from pydantic import ValidationError

    from ._errors import PlanSpecError, Problem
    from .spec import LayerCatalogRow

    problems: list[Problem] = []
    record = None

    def check(model, row: dict, table: str, element: str):
        try:
            return model.model_validate(row)
        except ValidationError as exc:
            problems.extend(validation_problems(exc, str(path), element, prefix=f"{table}."))

    plan_rows = tables["plan"]
    if len(plan_rows) != 1:
        problems.append(Problem(str(path), "plan", f"the plan table must hold exactly one row, "
                                                   f"not {len(plan_rows)}"))
    else:
        row = plan_rows.iloc[0]
        record = check(PlanRecord, row.where(row.notna(), None).to_dict(), "plan", "plan")
    for i, row in enumerate(tables["layer_catalog"].to_dict("records")):
        check(LayerCatalogRow, row, "layer_catalog", f"row {i + 1}")
        if row.get("layer") not in listing:
            problems.append(Problem(str(path), f"row {i + 1}",
                                    f"layer_catalog names layer {row.get('layer')!r}, which the "
                                    "file does not hold"))
    if problems:
        plan_id = str(plan_rows["plan_id"].iloc[0]) if len(plan_rows) else str(path)
        raise PlanSpecError(plan_id, problems)
    return record

"""A digest of every table and layer of a plan GeoPackage: the content, not the bytes.

Rows are hashed in sorted order with their column names; what changes from one build to the
next without the plan changing is left out (the build date, GeoPackage and QGIS timestamps).
Two builds whose digests agree wrote the same tables and layers.

    python tests/gpkg_digest.py out/                    # print the digest of every GeoPackage
    python tests/gpkg_digest.py out/ --compare old.json # list the tables that differ
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sqlite3
import sys
import zipfile
from pathlib import Path

#: Columns whose value is the time of writing, not the plan.
TIME_COLUMNS = {"last_change", "timestamp", "update_time", "built_at"}
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?|\"built_at\": \"[\d-]+\"")


def versions() -> dict[str, str]:
    """The libraries whose arithmetic decides the bytes of a geometry."""
    import pyogrio
    import pyproj
    import shapely

    return {"gdal": pyogrio.__gdal_version_string__, "geos": shapely.geos_version_string,
            "proj": pyproj.proj_version_str, "shapely": shapely.__version__}


def _value(v):
    if isinstance(v, str) and v.startswith("504b0304"):    # a QGIS project (.qgz), hex
        v = bytes.fromhex(v)
    if isinstance(v, bytes) and v[:2] == b"PK":
        z = zipfile.ZipFile(io.BytesIO(v))
        v = b"".join(z.read(n) for n in sorted(z.namelist()))
    if isinstance(v, bytes):
        try:
            v = v.decode()
        except UnicodeDecodeError:
            return v
    return _ISO_TIME.sub("T", v) if isinstance(v, str) else v


def table_digests(gpkg: Path) -> dict[str, dict]:
    """``{table: {"columns": [...], "rows": n, "sha256": …}}`` for every table of ``gpkg``."""
    con = sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True)
    try:
        names = [r[0] for r in con.execute(
            "select name from sqlite_master where type = 'table' and name not like 'rtree_%' "
            "and name not like 'sqlite_%' order by name")]
        out = {}
        for name in names:
            columns = [r[1] for r in con.execute(f'pragma table_info("{name}")')]
            keep = [c for c in columns if c not in TIME_COLUMNS
                    and not (name == "qgis_projects" and c == "metadata")]
            rows = con.execute("select " + ", ".join(f'"{c}"' for c in keep)
                               + f' from "{name}"').fetchall()
            h = hashlib.sha256(json.dumps(columns).encode())
            for row in sorted(repr(tuple(_value(v) for v in r)) for r in rows):
                h.update(row.encode())
            out[name] = {"columns": columns, "rows": len(rows), "sha256": h.hexdigest()[:16]}
        return out
    finally:
        con.close()


def folder_digests(folder: Path) -> dict[str, dict]:
    return {p.name: table_digests(p) for p in sorted(Path(folder).glob("*.gpkg"))}


def differences(old: dict, new: dict) -> list[str]:
    """One line per GeoPackage table that is missing, new, or differs."""
    lines = []
    for gpkg in sorted(set(old) | set(new)):
        a, b = old.get(gpkg, {}), new.get(gpkg, {})
        for table in sorted(set(a) | set(b)):
            if table not in a:
                lines.append(f"{gpkg}: {table} is new")
            elif table not in b:
                lines.append(f"{gpkg}: {table} is gone")
            elif a[table] != b[table]:
                what = ("columns " + ", ".join(
                    [f"-{c}" for c in a[table]["columns"] if c not in b[table]["columns"]]
                    + [f"+{c}" for c in b[table]["columns"] if c not in a[table]["columns"]])
                        if a[table]["columns"] != b[table]["columns"]
                        else f"rows {a[table]['rows']} -> {b[table]['rows']}"
                        if a[table]["rows"] != b[table]["rows"] else "values")
                lines.append(f"{gpkg}: {table} differs ({what})")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--compare", type=Path, help="a digest JSON written before")
    args = parser.parse_args(argv)
    digest = folder_digests(args.folder)
    if args.compare is None:
        json.dump(digest, sys.stdout, indent=1, sort_keys=True, ensure_ascii=False)
        return 0
    found = differences(json.loads(args.compare.read_text()), digest)
    print("\n".join(found) or "identical")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

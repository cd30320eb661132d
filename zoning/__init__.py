"""zoning — territorial spatial plans as vector layers.

>>> import zoning
>>> zoning.plan_ids()
['cn-shanxi-2035', 'cn-yongji-2035', 'ir-ardabil-1424', 'ir-qom-1414', 'vn-kontum-2030']
>>> yongji = zoning.load("cn-yongji-2035")
>>> yongji["central_urban_area"][["name", "basis_badge"]].iloc[0].tolist()
['中心城区', 'schematic']

Names are imported on first use, so ``import zoning`` (and ``zoning --help``) is instant and a
shell question pays only for the modules it needs.
"""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

#: Public name → module that defines it.
_EXPORTS = {
    "CRSError": "_errors", "DataFileError": "_errors", "DependencyError": "_errors",
    "ExportError": "_errors", "GeometryInputError": "_errors", "InputFileError": "_errors",
    "InvalidArgumentError": "_errors", "PlanSpecError": "_errors", "Problem": "_errors",
    "ReferenceLookupError": "_errors", "SourcesNotVerifiedWarning": "_errors",
    "UnknownColumnError": "_errors",
    "UnknownLayerError": "_errors", "UnknownPlanError": "_errors", "ZoningError": "_errors",
    "build_plan": "build", "load": "build", "replace_layer": "build", "swap_in": "build",
    "read_gpkg": "io", "write_gpkg": "io",
    "EQUAL_AREA_CRS": "model", "Plan": "model", "plan_ids": "model",
    "read_plan_source": "spec",
    "check": "compliance", "comply": "compliance",
    "check_consistency": "consistency",
    "PlanDiff": "diff", "diff": "diff", "write_diff": "diffmap",
    "assign": "query", "query": "query", "query_point": "query",
    "rasterize_zones": "raster", "share_above": "raster", "zonal_stats": "raster",
    "admin_units": "stats", "overlap_matrix": "stats", "overlaps": "stats",
    "tabulate": "stats", "verify_indicators": "stats",
    "qc": "qc", "adopt": "adopt", "plan_map": "webmap",
    "settings": "settings",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'zoning' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


class _Package(types.ModuleType):
    """Keeps ``zoning.query`` the function (and ``zoning.settings`` the settings object).

    Importing a submodule binds its name on the package; where a public name is also the
    name of its module, the public object is bound instead.
    """

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

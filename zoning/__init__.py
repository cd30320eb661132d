"""zoning — territorial spatial plans as vector layers.

>>> import zoning
>>> zoning.plan_ids()                                # doctest: +SKIP
['cn-shanxi-2035', 'cn-yongji-2035', ...]
>>> shanxi = zoning.load("cn-shanxi-2035")           # doctest: +SKIP
>>> shanxi["control_lines"]                          # doctest: +SKIP
"""

from ._errors import (CRSError, ExportError, GeometryInputError, PlanSpecError, Problem,
                      ReferenceLookupError, UnknownPlanError, ZoningError)
from .build import build_plan, load, swap_in
from .io import read_gpkg, write_gpkg
from .model import EQUAL_AREA_CRS, Plan, plan_ids
from .spec import read_plan_source
from .compliance import check, comply
from .query import assign, query, query_point
from .raster import rasterize_zones, share_above, zonal_stats
from .stats import admin_units, overlap_matrix, overlaps, tabulate, verify_indicators

__all__ = [
    "CRSError", "EQUAL_AREA_CRS", "ExportError", "GeometryInputError", "Plan", "PlanSpecError",
    "Problem", "ReferenceLookupError", "UnknownPlanError", "ZoningError", "build_plan", "load",
    "plan_ids", "read_gpkg", "read_plan_source", "swap_in", "write_gpkg",
    "admin_units", "assign", "check", "comply", "overlap_matrix", "overlaps", "query", "query_point",
    "rasterize_zones", "share_above", "tabulate", "verify_indicators", "zonal_stats",
]
__version__ = "0.1.0"

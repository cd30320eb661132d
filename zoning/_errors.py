"""Exception classes of the toolkit, in one place.

Every error names what is at fault (file, element, value) so that a planner can fix the source
without reading a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class ZoningError(Exception):
    """Base class of every error this package raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One problem found while validating a plan source."""

    file: str
    element: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: [{self.element}] {self.message}"


class PlanSpecError(ZoningError):
    """A plan's source files under ``layers/`` are malformed; carries every problem found."""

    def __init__(self, plan_id: str, problems: list[Problem]):
        self.plan_id = plan_id
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"plan {plan_id!r} has {len(self.problems)} problem(s):\n{lines}")


class UnknownPlanError(ZoningError):
    """No plan folder with that id exists."""


class ReferenceLookupError(ZoningError):
    """A reference (place, admin unit, river, feature) cannot be resolved."""


class CRSError(ZoningError):
    """Input geometry has no CRS, or one that cannot be used."""


class GeometryInputError(ZoningError):
    """Input geometry is invalid, empty or of an unusable type."""


class ExportError(ZoningError):
    """Writing an output failed; the previous file, if any, is left untouched."""


class SourcesNotVerifiedWarning(UserWarning):
    """A plan's quotes were not re-verified: its source document is not at hand."""

"""Exception classes of the toolkit, in one place: one class per kind of fault.

Every error names what is at fault (file, element, value) so that a planner can fix the source
without reading a traceback. All derive from :class:`ZoningError`, so ``except ZoningError``
catches every fault the package reports on purpose (the CLI prints it without a traceback).

================================  ==============================================================
Class                             Kind of fault
================================  ==============================================================
:class:`PlanSpecError`            A plan's source files under ``layers/<plan>/`` are malformed, or
                                  so is the ``plan`` / ``layer_catalog`` table of a plan GeoPackage
                                  or a plan record given to ``Plan``; carries every
                                  :class:`Problem` found.
:class:`DataFileError`            A shared data file of the toolkit (``layers/*.csv`` vocabularies,
                                  ``styles/*.csv``, the export profiles) is malformed or missing.
:class:`UnknownPlanError`         No plan with that id (under ``layers/`` or at a git revision).
:class:`UnknownLayerError`        A plan has no layer, or no feature, of that name.
:class:`UnknownColumnError`       A table or layer has no column of that name.
:class:`InvalidArgumentError`     An argument is outside its allowed values (an unknown engine,
                                  format, profile, activity code …) or arguments that go together
                                  are missing. Also a :class:`ValueError`.
:class:`InputFileError`           An input file or folder is missing, unreadable or not of the kind
                                  expected (vector file, raster, plan GeoPackage, delivery package).
:class:`CRSError`                 Input data has no CRS, or one that cannot be used.
:class:`GeometryInputError`       Input geometry is invalid, empty or of an unusable type.
:class:`ReferenceLookupError`     A reference (admin unit, place, river, elevation clip) cannot be
                                  resolved against the bundled reference data.
:class:`ExportError`              An output cannot be written as asked, or writing it failed (the
                                  previous file, if any, is left untouched).
:class:`DependencyError`          A tool or optional package the call needs is not installed (git,
                                  the ``scale`` extra).
================================  ==============================================================

Inside pydantic validators a ``ValueError`` is raised as pydantic requires; it reaches the
user as one :class:`Problem` of a :class:`PlanSpecError`.

Examples
--------
>>> from zoning._errors import CRSError, InvalidArgumentError, ZoningError
>>> issubclass(CRSError, ZoningError), issubclass(InvalidArgumentError, ValueError)
(True, True)
>>> zoning.load("xx-nowhere")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
zoning._errors.UnknownPlanError: no plan 'xx-nowhere' ...
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


class DataFileError(ZoningError):
    """A shared data file of the toolkit (``layers/*.csv``, ``styles/*.csv``, an export
    profile) is malformed or missing."""


class UnknownPlanError(ZoningError):
    """No plan with that id exists (no ``layers/<id>/plan.yaml``, or none at a revision)."""


class UnknownLayerError(ZoningError, KeyError):
    """A plan has no layer, or no feature, of that name (also a :class:`KeyError`, as
    ``plan["layer"]`` is a lookup)."""

    def __str__(self) -> str:       # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownColumnError(ZoningError):
    """A table or layer has no column of that name."""


class InvalidArgumentError(ZoningError, ValueError):
    """An argument is outside its allowed values, or arguments that go together are missing."""


class InputFileError(ZoningError):
    """An input file or folder is missing, unreadable or not of the kind expected."""


class ReferenceLookupError(ZoningError):
    """A reference (place, admin unit, river, feature) cannot be resolved."""


class CRSError(ZoningError):
    """Input data has no CRS, or one that cannot be used."""


class GeometryInputError(ZoningError):
    """Input geometry is invalid, empty or of an unusable type."""


class ExportError(ZoningError):
    """An output cannot be written as asked, or writing it failed; the previous file, if any,
    is left untouched."""


class DependencyError(ZoningError):
    """A tool or optional package the call needs is not installed."""


class SourcesNotVerifiedWarning(UserWarning):
    """A plan's quotes were not re-verified: its source document is not at hand."""

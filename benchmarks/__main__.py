"""Run the benchmarks and print the ratio table: ``python -m benchmarks [--quick]``.

Options: ``--quick`` (100,000 points, fewer repeats; under a minute), ``--only a,b,c,d,e``,
``--repeats N``, ``--write-docs`` (replace the table in docs/performance.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from . import cases
from ._measure import machine

DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _seconds(s: float) -> str:
    return f"{s * 1e6:.0f} µs" if s < 1e-3 else f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def render(results: list[cases.Result], header: str) -> str:
    lines = [header, "", "| case | method | time | peak heap MB | peak RSS MB | note |",
             "|---|---|---:|---:|---:|---|"]
    mb = lambda v: "" if v is None else f"{v:.0f}"  # noqa: E731
    for r in results:
        for case, method, seconds, heap, rss, note in r.rows:
            lines.append(f"| {case} | {method} | {_seconds(seconds)} | {mb(heap)} | {mb(rss)} "
                         f"| {note} |")
    lines += ["", "| target | measured | wanted | met |", "|---|---:|---|---|"]
    for r in results:
        for name, ratio, wanted, met in r.targets:
            lines.append(f"| {name} | {ratio:.3g} | {wanted} | {'yes' if met else '**no**'} |")
    notes = [n for r in results for n in r.notes]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100,000 points, fewer repeats")
    parser.add_argument("--only", default="a,b,c,d,e,f", help="cases to run, e.g. b or a,c")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--points", type=int, default=None, help="points for cases (b), (e)")
    parser.add_argument("--write-docs", action="store_true",
                        help=f"replace the table between the markers in {DOC.name}")
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 3)
    n_points = args.points or (100_000 if args.quick else 1_000_000)
    only = {c.strip() for c in args.only.split(",")}
    t0 = time.perf_counter()
    results = []
    if "a" in only:
        results.append(cases.single_point(60 if args.quick else 200, repeats))
    if "b" in only:
        results.append(cases.bulk(n_points, repeats))
    if "c" in only:
        results.append(cases.tabulation(repeats))
    if "d" in only:
        results.append(cases.shell(repeats))
    if "e" in only:
        results.append(cases.plan_diff(repeats))
    if "f" in only:
        results.append(cases.compliance(n_points, repeats))
    took = time.perf_counter() - t0
    header = (f"Run {dt.date.today().isoformat()} ({'quick' if args.quick else 'full'}, "
              f"{took:.0f} s) on {machine()}.")
    table = render(results, header)
    print(table)
    if args.write_docs:
        text = DOC.read_text(encoding="utf-8")
        if START not in text or END not in text:
            print(f"{DOC} has no {START} … {END} markers", file=sys.stderr)
            return 2
        before, rest = text.split(START, 1)
        _, after = rest.split(END, 1)
        DOC.write_text(f"{before}{START}\n{table}\n{END}{after}", encoding="utf-8")
        print(f"\nwrote the table into {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

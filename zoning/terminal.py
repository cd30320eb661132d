"""Answers as text for people: what the CLI prints by default, readable at 80 columns.

Tables are for machines (``--format csv|json|geojson``); a planner at a terminal reads one
line per zone, with its rules and citations indented beneath, wrapped — never cut — to the
terminal's width.

>>> import pandas as pd
>>> hits = pd.DataFrame({"site": [0], "plan_id": ["cn-yongji-2035"], "name": ["中心城区"],
...     "name_en": ["Central urban area"], "zone_class_label": ["Urban centre"],
...     "regulation": ["binding"], "basis_badge": ["approximate"], "accuracy_m": [200.0],
...     "prohibited": [""], "restricted": ["industry"], "permitted": [""], "encouraged": [""],
...     "required": [""], "rule_ids": ["r1"], "rule_citations": ["r1 (第三章, L55)"]})
>>> print(format_hits(hits, width=60))
site 0: 1 zone of 1 plan
  cn-yongji-2035
    中心城区 · Central urban area
      Urban centre · binding · approximate (±200 m)
      restricted: industry
      rule r1 (第三章, L55)
"""

from __future__ import annotations

import math

import pandas as pd
from rich.cells import cell_len

from .model import RULE_EFFECTS


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _wrap(text: str, width: int, indent: int, hang: int = 2) -> list[str]:
    """``text`` wrapped at ``width`` terminal columns, first line at ``indent``, the rest
    ``hang`` deeper. Widths are display cells (a Chinese character takes two), words break
    at spaces, and a word longer than a line (a Chinese name has no spaces) between
    characters."""
    width = max(width, indent + hang + 4)
    lines: list[str] = []
    line, room = " " * indent, width - indent
    for word in text.split():
        need = cell_len(word) + (0 if line.strip() == "" else 1)
        if need <= room:
            line += ("" if line.strip() == "" else " ") + word
            room -= need
            continue
        if line.strip() and cell_len(word) <= width - indent - hang:
            lines.append(line)
            line, room = " " * (indent + hang), width - indent - hang
        elif line.strip():                    # too long for any line: go on from here
            line += " "
            room -= 1
        while cell_len(word) > room:
            cut, used = 0, 0
            while cut < len(word) and used + cell_len(word[cut]) <= room:
                used += cell_len(word[cut])
                cut += 1
            lines.append(line + word[:cut])
            word = word[cut:]
            line, room = " " * (indent + hang), width - indent - hang
        line += word
        room -= cell_len(word)
    if line.strip() or not lines:
        lines.append(line)
    return lines


def badge_text(badge: str, accuracy_m=None) -> str:
    """``approximate (±200 m)``: the precision badge with its accuracy where one is stated."""
    badge = _text(badge)
    try:
        acc = float(accuracy_m)
    except (TypeError, ValueError):
        acc = math.nan
    if badge and math.isfinite(acc) and acc > 0:
        return f"{badge} (±{acc / 1000:g} km)" if acc >= 1000 else f"{badge} (±{acc:g} m)"
    return badge


def _names(row) -> str:
    name, name_en = _text(row.get("name")), _text(row.get("name_en"))
    return f"{name} · {name_en}" if name and name_en and name != name_en else name or name_en


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def format_hits(hits: pd.DataFrame, width: int = 80, site_column: str = "site") -> str:
    """What applies at each site, as indented text (the default of ``zoning query``).

    ``hits`` is a :func:`zoning.query` result with the site label as a column (``reset_index``).
    """
    lines: list[str] = []
    for site, rows in hits.groupby(site_column, sort=False):
        plans = rows.plan_id.unique()
        head = (f"{site_column} {site}: {_plural(len(rows), 'zone')} of "
                f"{_plural(len(plans), 'plan')}")
        if "in_plan_area" in rows and not rows.in_plan_area.astype(bool).any():
            head += " (outside every plan's own area: context only)"
        lines.append(head)
        for plan_id, of_plan in rows.groupby("plan_id", sort=False):
            lines.append(f"  {plan_id}")
            for _, row in of_plan.iterrows():
                lines += _wrap(_names(row), width, 4, 4)
                facts = [_text(row.get("zone_class_label")) or _text(row.get("zone_class")),
                         _text(row.get("regulation")),
                         badge_text(row.get("basis_badge"), row.get("accuracy_m"))]
                share = row.get("share")
                if isinstance(share, float) and math.isfinite(share) and share < 0.9995:
                    facts.append(f"{share:.0%} of the site")
                if "in_plan_area" in row and not bool(row["in_plan_area"]):
                    facts.append("outside the plan's area: context, not binding here")
                lines += _wrap(" · ".join(f for f in facts if f), width, 6)
                for effect in RULE_EFFECTS:
                    if _text(row.get(effect)):
                        lines += _wrap(f"{effect}: {row[effect].replace(';', ', ')}", width, 6)
                cites = [c.strip() for c in _text(row.get("rule_citations")).split(" | ")
                         if c.strip()]
                for cite in cites:
                    lines += _wrap(f"rule {cite}", width, 6)
    return "\n".join(lines)


def format_verdicts(verdicts: pd.DataFrame, width: int = 80, id_column: str = "project") -> str:
    """Every rule's verdict per project (the default of ``zoning comply``)."""
    lines: list[str] = []
    for project, rows in verdicts.groupby(id_column, sort=False):
        first = rows.iloc[0]
        lines.append(f"{id_column} {project} ({_text(first.get('activity'))})")
        for _, row in rows.iterrows():
            verdict = _text(row.get("verdict"))
            rule = _text(row.get("rule_id"))
            head = f"{verdict.upper()}" + (f" — {rule}" if rule else "")
            if _text(row.get("condition")):
                head += f" (only {row['condition']})"
            lines += _wrap(head, width, 2, 2)
            lines += _wrap(_text(row.get("reason")), width, 4)
            if _text(row.get("citation")):
                lines += _wrap(f"cited: {row['citation']}", width, 4)
            if _text(row.get("caveat")):
                lines += _wrap(f"caveat: {row['caveat']}", width, 4)
    return "\n".join(lines)


def format_summary(summary: pd.DataFrame, width: int = 80, id_column: str = "project",
                   reasons: int = 1) -> str:
    """One short block per project: verdict, counts, the first reason(s) and the caveats."""
    lines: list[str] = []
    counts = [c for c in summary.columns if c.startswith("n_")]
    for _, row in summary.iterrows():
        tally = ", ".join(f"{int(row[c])} {c[2:].replace('_', ' ')}" for c in counts
                          if _text(row.get(c)) and int(row[c]))
        lines += _wrap(f"{row[id_column]} · {_text(row.get('activity'))} · "
                       f"{_text(row.get('verdict')).upper()}" + (f" ({tally})" if tally else ""),
                       width, 0, 4)
        parts = [r.strip() for r in _text(row.get("reasons")).split(" | ") if r.strip()]
        for reason in parts[:reasons]:
            lines += _wrap(reason, width, 4)
        if len(parts) > reasons:
            lines.append(f"    … and {len(parts) - reasons} more (--format csv lists them all)")
        for caveat in dict.fromkeys(c.strip() for c in _text(row.get("caveats")).split(" | ")
                                    if c.strip()):
            lines += _wrap(f"caveat: {caveat}", width, 4)
    return "\n".join(lines)


def format_table(table: pd.DataFrame, columns: list[str], width: int = 80,
                 limit: int | None = None) -> str:
    """A plain table of ``columns`` whose widest column wraps, so the lines fit ``width``."""
    view = table[columns].head(limit) if limit else table[columns]
    cells = [[_cell(v) for v in row] for row in view.itertuples(index=False)]
    header = list(columns)
    widths = [max([cell_len(h)] + [cell_len(r[i]) for r in cells]) for i, h in enumerate(header)]
    room = width - 2 * (len(widths) - 1)
    while sum(widths) > room and max(widths) > 8:
        widths[widths.index(max(widths))] -= 1
    out = []
    for row in [header] + cells:
        wrapped = [[part.strip() for part in _wrap(v, w, 0, 0)] if v else [""]
                   for v, w in zip(row, widths)]
        for k in range(max(map(len, wrapped))):
            out.append("  ".join(_pad(col[k] if k < len(col) else "", w)
                                 for col, w in zip(wrapped, widths)).rstrip())
    if limit and len(table) > limit:
        out.append(f"… {len(table) - limit} more rows (all of them with --format csv or --out)")
    return "\n".join(out)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - cell_len(text))


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return _text(value)

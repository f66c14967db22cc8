"""The ranking table of a PoC of several methods: every trained method by its mean score, with its
interval, its paired difference against the baseline (Holm-adjusted where several are compared),
what it costs, and the Pareto fronts it lies on.

The quality and resource tables answer one question each; with four methods or more a manager
also asks "which, all things considered?", and this table puts the answer's figures on one line.
"""

from __future__ import annotations

from typing import Any

from poc_cli.compare import MethodRow
from poc_cli.numbers import NBSP, duration, mib, money, p_text
from poc_cli.report.common import Inputs, title_metric
from poc_cli.report.i18n import text
from poc_cli.report.tables import diff_cell, loaded_mark, score_cell

RANK_FROM = 4  # trained methods from which the report ranks them in a table of their own


def _name(i: Inputs, row: MethodRow) -> str:
    """The method's name, marked where it ran off the budget (with the share it reached)."""
    if not row.off_budget or not row.adapter_parameters:
        return i.name_of(row)
    return i.name_of(row) + NBSP + text(i.lang, "off_budget_mark")


def _fronts(i: Inputs, row: MethodRow) -> str:
    return (" / " if i.lang == "en" else "・").join(text(i.lang, f"front_{axis}") for axis in row.pareto) or "-"


def ranking(i: Inputs) -> dict[str, Any] | None:
    """The table, or None below RANK_FROM trained methods."""
    rows = sorted((r for r in i.trained if r.rank is not None), key=lambda r: (r.rank, r.method))
    if len(rows) < RANK_FROM:
        return None
    lang = i.lang
    adjusted = max((r.difference.adjusted_for for r in rows if r.difference is not None), default=1)
    headers = [text(lang, "c_rank"), text(lang, "c_method"),
               f"{title_metric(lang, i.metric)}{' %' if i.percent else ''} [95%]",
               text(lang, "c_diff" if i.percent else "c_diff_value", baseline=i.name_of(i.baseline)),
               text(lang, "c_p_holm", m=adjusted) if adjusted > 1 else text(lang, "c_p"),
               text(lang, "c_params_short"), text(lang, "c_memory"), text(lang, "c_time"), text(lang, "c_cost"),
               text(lang, "c_front")]
    body = [[str(r.rank), _name(i, r), score_cell(i, r), diff_cell(i, r),
             "-" if r.difference is None or r.difference.p_value is None else p_text(r.difference.p_value),
             f"{r.trainable_parameters:,}" if r.trainable_parameters is not None else "-",
             mib(r.peak_memory_mib) if r.peak_memory_mib else "-",
             loaded_mark(r, duration(r.compared_s.mean if r.compared_s else None, lang)),
             loaded_mark(r, money(r.cost_per_run, i.currency, lang)),
             _fronts(i, r)] for r in rows]
    notes = [text(lang, "ranking_note", baseline=i.name_of(i.baseline))]
    if any(r.off_budget for r in rows):
        notes.append(text(lang, "off_budget_note"))
    return {"headers": headers, "rows": body, "numeric_from": 2, "notes": notes}

"""The run summary as rows, markdown and a terminal table."""

from __future__ import annotations

from typing import Any

from dunning.playbook import KINDS

STATES = ("planned", "claimed", "issued", "done", "failed", "skipped", "cancelled")


def summary_table(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per action kind, one column per ledger state."""
    actions = summary["actions"]
    rows = []
    for kind in KINDS:
        counts = actions.get(kind, {})
        row: dict[str, Any] = {"kind": kind}
        row.update({state: counts.get(state, 0) for state in STATES})
        row["total"] = sum(counts.values())
        rows.append(row)
    return rows


def summary_markdown(summary: dict[str, Any]) -> str:
    period = (
        summary["from"]
        if summary["from"] == summary["to"]
        else f"{summary['from']} to {summary['to']}"
    )
    lines = [
        f"# Daily collection run: {period}",
        "",
        "| open cases by DPD | count |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {count} |" for name, count in summary["open_by_dpd"].items()]
    lines += [
        f"| **open** | **{summary['open']}** |",
        "",
        f"- referred, contact stopped: {summary['in_legal']}",
        f"- awaiting approval: {summary.get('awaiting_approval', 0)}",
        f"- resolved: {summary['resolved']}",
        f"- referred to legal: {summary['referred']}",
        f"- blacklisted: {summary['blacklisted']}",
        "",
        "| action | " + " | ".join(STATES) + " | total |",
        "|---|" + "---:|" * (len(STATES) + 1),
    ]
    for row in summary_table(summary):
        cells = " | ".join(str(row[state]) for state in STATES)
        lines.append(f"| {row['kind']} | {cells} | {row['total']} |")
    return "\n".join(lines) + "\n"


def print_summary(console: Any, summary: dict[str, Any]) -> None:
    from rich.table import Table

    cases = Table(title=f"Cases on {summary['to']}")
    cases.add_column("open by DPD")
    cases.add_column("cases", justify="right")
    for name, count in summary["open_by_dpd"].items():
        cases.add_row(name, str(count))
    cases.add_row("open", str(summary["open"]), style="bold")
    cases.add_row("referred, contact stopped", str(summary["in_legal"]))
    cases.add_row("  awaiting approval", str(summary.get("awaiting_approval", 0)))
    period = f"{summary['from']}..{summary['to']}"
    cases.add_row(f"resolved {period}", str(summary["resolved"]))
    cases.add_row(f"referred to legal {period}", str(summary["referred"]))
    cases.add_row(f"blacklisted {period}", str(summary["blacklisted"]))
    console.print(cases)

    actions = Table(title=f"Actions {period} by kind and state")
    actions.add_column("kind")
    for state in STATES:
        actions.add_column(state, justify="right")
    actions.add_column("total", justify="right")
    for row in summary_table(summary):
        actions.add_row(row["kind"], *(str(row[s]) for s in STATES), str(row["total"]))
    console.print(actions)

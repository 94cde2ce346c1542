"""Operators' commands: escalate, blacklist, legal steps and decisions, notices.

Registered on ``dunning.cli.app``. ``escalate`` hands the work to the Prefect
server's ``escalate-case`` deployment when ``PREFECT_API_URL`` names a server
that answers its health check, and runs the same flow in-process otherwise.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import asdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer

from dunning.cli import _date, _fail, _settings, app, console, err
from dunning.errors import DunningError
from dunning.settings import Settings

blacklist_app = typer.Typer(no_args_is_help=True, help="The blacklist of borrowers.")
legal_app = typer.Typer(no_args_is_help=True, help="Legal referrals and steps.")
app.add_typer(blacklist_app, name="blacklist")
app.add_typer(legal_app, name="legal")

ESCALATE_DEPLOYMENT = "escalate-case/escalate-case"
HEALTH_TIMEOUT_SECONDS = 2.0


def prefect_server(environ: dict[str, str] | None = None) -> str | None:
    """The Prefect API URL if one is configured and answers its health check."""
    url = (environ if environ is not None else os.environ).get("PREFECT_API_URL", "")
    url = url.strip().rstrip("/")
    if not url:
        return None
    try:
        with urllib.request.urlopen(
            f"{url}/health", timeout=HEALTH_TIMEOUT_SECONDS
        ) as response:
            return url if response.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _today(settings: Settings, raw: str | None, option: str) -> date:
    """The day an operator's act happened: given, or today; never ahead of today."""
    from flows.daily_run import business_date

    today = business_date(settings)
    day = _date(raw, option) or today
    if day > today:
        raise typer.BadParameter(
            f"{day} is after today ({today}); record what has happened",
            param_hint=option,
        )
    return day


def _print(result: Any, as_json: bool) -> None:
    text = json.dumps(result, ensure_ascii=False, default=str)
    if as_json:
        print(text)
    else:
        console.print_json(text)


# Escalation ------------------------------------------------------------------------


@app.command()
def escalate(
    loan: str = typer.Argument(..., help="Loan number, or case:<number>."),
    to: str = typer.Option(..., "--to", help="legal | visit | review"),
    reason: str = typer.Option(..., "--reason", help="Why, for the audit log."),
    operator: str = typer.Option(..., "--operator", help="Your name."),
    as_of: str = typer.Option(None, "--as-of", help="Default: today."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Escalate a case to supervisor review, a field visit today, or legal."""
    settings = _settings()
    from dunning.escalation import EscalationRequest, check_request, target_of

    try:
        target = target_of(to)
        check_request(EscalationRequest(loan, target, reason, operator, date.today()))
    except DunningError as exc:
        raise _fail(exc) from exc
    parameters: dict[str, Any] = {
        "loan": loan,
        "target": target,
        "reason": reason,
        "operator": operator,
        "as_of": _date(as_of, "--as-of"),
    }
    server = prefect_server()
    if server is not None:
        from prefect.deployments import run_deployment

        run = run_deployment(
            ESCALATE_DEPLOYMENT,
            parameters=parameters,
            timeout=0,
            tags=["cli"],
        )
        err.print(
            f"escalation handed to {server}: flow run {run.name} ({run.id}); "
            "see it in the Prefect UI"
        )
        _print({"flow_run": str(run.id), "name": run.name}, as_json)
        return
    from dunning.db import upgrade
    from flows.escalate_case import escalate_case

    upgrade(settings.db_url)
    err.print("no Prefect server answers at PREFECT_API_URL: running here")
    try:
        result = escalate_case(**parameters)
    except DunningError as exc:
        raise _fail(exc) from exc
    _print(result, as_json)


@app.command("serve-notice")
def serve_notice(
    loan: str = typer.Argument(...),
    served: bool = typer.Option(
        ..., "--served/--not-served", help="Was the notice delivered?"
    ),
    by: str = typer.Option(..., "--by", help="Who served (or tried to)."),
    to: str = typer.Option("", "--to", help="Who received it."),
    how: str = typer.Option("", "--how", help="in-person | registered-mail"),
    proof: str = typer.Option(
        "", "--proof", help="Signed receipt number, or mail tracking number."
    ),
    notice: int = typer.Option(None, "--notice", help="Default: latest unserved."),
    on: str = typer.Option(None, "--on", help="Default: today."),
    notes: str = typer.Option("", "--notes"),
) -> None:
    """Record serving a notice; a notice not served is planned again."""
    settings = _settings()
    from dunning.db import unit_of_work
    from dunning.serving import ServiceRecord, notice_to_serve, record_service

    record = ServiceRecord(
        on=_today(settings, on, "--on"),
        served=served,
        served_by=by,
        served_to=to,
        how=how,
        proof=proof,
        notes=notes,
    )
    try:
        with unit_of_work(settings.db_url) as session:
            result = record_service(
                session, notice_to_serve(session, loan, notice), record, by
            )
    except DunningError as exc:
        raise _fail(exc) from exc
    _print(result, True)


@app.command()
def timeline(loan: str = typer.Argument(...)) -> None:
    """One loan's whole case history, as markdown."""
    settings = _settings()
    from dunning.db import unit_of_work
    from dunning.timeline import case_timeline

    try:
        with unit_of_work(settings.db_url) as session:
            print(case_timeline(session, loan))
    except DunningError as exc:
        raise _fail(exc) from exc


# Blacklist -------------------------------------------------------------------------


@blacklist_app.command("list")
def blacklist_list(
    include_removed: bool = typer.Option(False, "--all", help="Removed ones too."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Current entries (borrower numbers masked)."""
    settings = _settings()
    from dunning.blacklist import entries
    from dunning.db import unit_of_work

    with unit_of_work(settings.db_url) as session:
        rows = entries(session, include_removed)
    if as_json:
        for row in rows:
            print(json.dumps(asdict(row), ensure_ascii=False))
        return
    for row in rows:
        removed = f"  removed {row.removed_on}" if row.removed_on else ""
        console.print(
            f"{row.id:>6} {row.borrower:>20} {row.loan_id:>12} {row.listed_on} "
            f"{row.reason}{removed}"
        )


@blacklist_app.command("show")
def blacklist_show(
    ref: str = typer.Argument(..., help="Entry, borrower or loan number."),
) -> None:
    """The entries of one borrower, loan or entry number."""
    settings = _settings()
    from dunning.blacklist import find_entries
    from dunning.db import unit_of_work

    try:
        with unit_of_work(settings.db_url) as session:
            rows = find_entries(session, ref)
    except DunningError as exc:
        raise _fail(exc) from exc
    _print([asdict(row) for row in rows], False)


@blacklist_app.command("remove")
def blacklist_remove(
    entry: int = typer.Argument(..., help="Entry number (see `blacklist list`)."),
    reason: str = typer.Option(..., "--reason", help="Why, for the audit log."),
    operator: str = typer.Option(..., "--operator", help="Your name."),
    on: str = typer.Option(None, "--on", help="Default: today."),
) -> None:
    """Lift an entry; audited with the reason and the operator."""
    settings = _settings()
    from dunning.blacklist import remove
    from dunning.db import unit_of_work

    try:
        with unit_of_work(settings.db_url) as session:
            removed = remove(
                session, entry, reason, operator, _today(settings, on, "--on")
            )
            console.print(f"blacklist entry {removed.id} removed")
    except DunningError as exc:
        raise _fail(exc) from exc


@blacklist_app.command("export")
def blacklist_export(
    path: Path = typer.Argument(
        None, help="CSV to write; default home/exports/blacklist-DATE.csv"
    ),
) -> None:
    """CSV of current entries for the loan-origination system (full numbers)."""
    settings = _settings()
    from dunning.blacklist import export_csv
    from dunning.db import unit_of_work

    target = path or settings.home / "exports" / f"blacklist-{date.today()}.csv"
    with unit_of_work(settings.db_url) as session:
        count = export_csv(session, target)
    console.print(f"{count} entries written to {target}")


# Legal -----------------------------------------------------------------------------


@legal_app.command("pending")
def legal_pending(as_json: bool = typer.Option(False, "--json")) -> None:
    """Referrals awaiting a supervisor's decision."""
    settings = _settings()
    from dunning.db import unit_of_work
    from dunning.legal import pending_referrals

    with unit_of_work(settings.db_url) as session:
        rows = [asdict(p) for p in pending_referrals(session)]
    _print(rows, as_json)


@legal_app.command("decide")
def legal_decide(
    referral: int = typer.Argument(...),
    decision: str = typer.Option(
        ..., "--decision", help="approve | reject | send-back"
    ),
    by: str = typer.Option(..., "--by", help="The supervisor's name."),
    reason: str = typer.Option("", "--reason", help="Needed to reject."),
    days: int = typer.Option(None, "--days", help="Needed to send back."),
    on: str = typer.Option(None, "--on", help="Default: today."),
) -> None:
    """The approval form's decision on one referral, from the command line."""
    settings = _settings()
    from dunning.db import unit_of_work
    from dunning.legal import apply_decision

    try:
        with unit_of_work(settings.db_url) as session:
            state = apply_decision(
                session,
                referral,
                decision,
                reason=reason,
                send_back_days=days,
                decided_by=by,
                on=_today(settings, on, "--on"),
                flow_run_id="",
            )
    except DunningError as exc:
        raise _fail(exc) from exc
    console.print(f"referral {referral}: {state}")


def _parts(raw: list[str]) -> tuple[tuple[date, Decimal], ...]:
    from dunning.operations import parse_amount

    parts = []
    for item in raw:
        when, _, amount = item.partition(":")
        day = _date(when, "--part")
        if day is None or not amount:
            raise typer.BadParameter(
                f"{item!r}: expected DATE:AMOUNT, e.g. 2026-12-31:500.00",
                param_hint="--part",
            )
        parts.append((day, parse_amount(amount, "--part amount")))
    return tuple(parts)


@legal_app.command("record")
def legal_record(
    loan: str = typer.Argument(...),
    step: str = typer.Option(
        ...,
        "--step",
        help="lawsuit-filed | assets-frozen | judgment | enforcement | "
        "settlement-by-guarantor | asset-taken-in-settlement | installment-agreement",
    ),
    by: str = typer.Option(..., "--by", help="Who records it."),
    on: str = typer.Option(None, "--on", help="Default: today."),
    amount: str = typer.Option(None, "--amount", help="Settlement amount."),
    reference: str = typer.Option("", "--reference", help="Court or file number."),
    notes: str = typer.Option("", "--notes"),
    part: list[str] = typer.Option(
        [], "--part", help="Agreement part DATE:AMOUNT; repeat for each."
    ),
) -> None:
    """Record a legal recovery step; settlements close, agreements reopen."""
    settings = _settings()
    from dunning.daily import RunContext
    from dunning.db import unit_of_work
    from dunning.legal import StepRecord, load_legal_config, record_legal_step
    from dunning.operations import parse_amount

    try:
        record = StepRecord(
            step=step,
            on=_today(settings, on, "--on"),
            recorded_by=by,
            amount=None if amount is None else parse_amount(amount, "--amount"),
            reference=reference,
            notes=notes,
            parts=_parts(part),
        )
        config = load_legal_config(settings.config_dir / "legal.yaml")
        with unit_of_work(settings.db_url) as session:
            result = record_legal_step(
                session, loan, record, config, RunContext(settings).playbook
            )
    except DunningError as exc:
        raise _fail(exc) from exc
    _print(result, True)

"""The ``dunning`` command line: the same operations as the Prefect console."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from dunning.errors import DunningError
from dunning.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="The database's schema.")
app.add_typer(db_app, name="db")
# Piped output (make, CI logs) gets room for the summary's widest table.
console = Console(width=None if sys.stdout.isatty() else 110)
err = Console(stderr=True)


def _settings() -> Settings:
    settings = Settings()
    _prefect_environment(settings)
    return settings


def _prefect_environment(settings: Settings) -> None:
    # Set before Prefect is imported: it reads its settings once, at import.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_HOME", str(settings.home / "prefect"))
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "dunning")


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _date(raw: str | None, option: str) -> date | None:
    if raw is None:
        return None
    try:
        # Only the form the import takes: no week dates, no 20261130.
        if not _ISO_DATE.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise typer.BadParameter(
            f"{raw!r} is not a date; expected ISO 8601 YYYY-MM-DD", param_hint=option
        ) from None


def _fail(exc: DunningError | OSError) -> typer.Exit:
    # Unwrapped, so that a message can be read (and searched) whole.
    err.print(f"[red]error:[/red] {exc}", soft_wrap=True)
    return typer.Exit(code=2)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the latest schema."""
    from dunning.db import upgrade

    settings = _settings()
    upgrade(settings.db_url)
    console.print(f"database at head: {_safe_url(settings.db_url)}")


def _safe_url(url: str) -> str:
    # A URL may carry a password: show everything but it.
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command("import")
def import_(
    path: Path = typer.Argument(..., help="A canonical CSV folder, or a source file."),
    format: str = typer.Option("canonical", "--format", help="canonical | home-credit"),
) -> None:
    """Import loans, installments, payments and contacts; bad rows go to rejects.csv."""
    settings = _settings()
    report = _import(settings, path, format)
    for line in report.summary_lines():
        console.print(line)
    if report.rejects:
        # The first few in full here (values are masked where personal); the
        # rest in the rejects file.
        for reject in report.rejects[:SHOWN_REJECTS]:
            err.print(
                f"{reject.file}:{reject.line}: {reject.column} = {reject.value!r}: "
                f"{reject.reason}",
                soft_wrap=True,
                markup=False,
            )
        err.print(
            f"[yellow]{len(report.rejects)} rows rejected[/yellow]; "
            f"all of them are in {report.rejects_path}",
            soft_wrap=True,
        )
        raise typer.Exit(code=1)


SHOWN_REJECTS = 20


def _import(settings: Settings, path: Path, format: str) -> Any:
    from dunning.db import unit_of_work, upgrade
    from dunning.importing import import_canonical, import_home_credit
    from dunning.importing.home_credit import HomeCreditConfig
    from dunning.ledger import audit

    if format not in ("canonical", "home-credit"):
        raise typer.BadParameter(
            f"{format!r}: expected canonical or home-credit", param_hint="--format"
        )
    upgrade(settings.db_url)
    out_dir = settings.imports_dir / time.strftime("%Y%m%dT%H%M%S")
    with (
        Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as progress,
        unit_of_work(settings.db_url) as session,
    ):
        bar = progress.add_task(f"importing {path.name}", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        try:
            if format == "canonical":
                report = import_canonical(session, path, out_dir, progress=advance)
            else:
                config = HomeCreditConfig.load(settings.adapters_path)
                report = import_home_credit(
                    session, path, out_dir, config, progress=advance
                )
        except (DunningError, OSError) as exc:
            raise _fail(exc) from exc
        # An import can rewrite schedules and loans: the audit log says when,
        # from what, and how much it changed.
        audit(
            session,
            "import",
            f"import-{format}",
            "file",
            path.name,
            counts={name: vars(c) for name, c in report.counts.items()},
            rejected=len(report.rejects),
        )
        return report


def _run_days(settings: Settings, days: list[date], quiet: bool) -> None:
    from flows.daily_run import daily_collection_run

    # A TERM (a stopped service, a killed job) unwinds like Ctrl-C, so that
    # Prefect's temporary server is stopped with us rather than left running.
    signal.signal(signal.SIGTERM, _terminate)
    for day in days:
        _preflight(settings, day)
        started = time.perf_counter()
        summary = daily_collection_run(as_of=day)
        if not quiet:
            actions = sum(
                sum(states.values()) for states in summary["actions"].values()
            )
            err.print(
                f"{day}: {summary['open']} open, {actions} actions, "
                f"{summary['referred']} referred, {summary['resolved']} resolved "
                f"({time.perf_counter() - started:.1f}s)"
            )


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _preflight(settings: Settings, day: date) -> None:
    """Refuse what the flow would refuse, before Prefect turns it into a trace."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from dunning.daily import RunContext, check_run_order
    from dunning.db import require_current_schema, unit_of_work
    from dunning.errors import ConfigError

    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"DUNNING_TIMEZONE={settings.timezone!r} is not a time zone; "
            "expected an IANA name like Asia/Shanghai"
        ) from None
    context = RunContext(settings)
    context.playbook  # noqa: B018 - loading it is the check
    context.channel()
    require_current_schema(settings.db_url)
    with unit_of_work(settings.db_url) as session:
        check_run_order(session, day)


def _days_left(settings: Settings, days: list[date]) -> list[date]:
    """Days of a replay not yet run to the end: a replay picks up where it stopped."""
    from sqlalchemy import select

    from dunning.db import unit_of_work
    from dunning.models import DailyRun

    with unit_of_work(settings.db_url) as session:
        finished = set(
            session.scalars(
                select(DailyRun.as_of).where(DailyRun.finished_at.is_not(None))
            )
        )
    latest = max(finished, default=None)
    return [d for d in days if latest is None or d > latest or d not in finished]


def _summary(settings: Settings, first: date, last: date) -> dict[str, Any]:
    from dunning.daily import summarise
    from dunning.db import unit_of_work

    with unit_of_work(settings.db_url) as session:
        return summarise(session, first, last)


def _show(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
        return
    from dunning.reports import print_summary

    print_summary(console, summary)


@app.command()
def run(
    as_of: str = typer.Option(None, "--as-of", help="Business date; default today."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """The daily collection run for one date."""
    settings = _settings()
    from dunning.db import upgrade
    from flows.daily_run import business_date

    day = _date(as_of, "--as-of") or business_date(settings)
    upgrade(settings.db_url)
    try:
        _run_days(settings, [day], quiet=as_json)
    except DunningError as exc:
        raise _fail(exc) from exc
    _show(_summary(settings, day, day), as_json)


@app.command()
def replay(
    first: str = typer.Option(..., "--from", help="First business date."),
    last: str = typer.Option(..., "--to", help="Last business date."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """The daily run for each date in turn; payments appear on their dates."""
    # One line a day says how the replay goes; Prefect's own lines would bury it.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    settings = _settings()
    from dunning.db import upgrade

    start, end = _date(first, "--from"), _date(last, "--to")
    assert start is not None and end is not None
    if end < start:
        raise typer.BadParameter(f"--to {end} is before --from {start}")
    upgrade(settings.db_url)
    days = _days_left(
        settings, [start + timedelta(days=n) for n in range((end - start).days + 1)]
    )
    try:
        _run_days(settings, days, quiet=as_json)
    except DunningError as exc:
        raise _fail(exc) from exc
    _show(_summary(settings, start, end), as_json)


@app.command()
def plan(
    as_of: str = typer.Option(..., "--as-of", help="Business date."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """The day's plan for every open case, against the ledger. Changes nothing."""
    settings = _settings()
    from sqlalchemy.orm import Session

    from dunning.daily import RunContext
    from dunning.db import engine_for, upgrade
    from dunning.operations import plan_preview

    day = _date(as_of, "--as-of")
    assert day is not None
    upgrade(settings.db_url)
    ctx = RunContext(settings)
    with Session(engine_for(settings.db_url)) as session:
        try:
            rows = plan_preview(session, day, ctx.playbook)
        finally:
            session.rollback()
    if as_json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return
    for row in rows:
        console.print(
            f"{row['loan']:>12} dpd {row['dpd']:>4} {row['kind']:<18} "
            f"{row['target']:<22} {row['state']}"
        )


@app.command()
def case(
    loan: str = typer.Argument(..., help="Loan number."),
    as_of: str = typer.Option(None, "--as-of", help="Default: the latest daily run."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One loan's case: state, arrears, DPD, actions, promises, referral, blacklist."""
    settings = _settings()
    from dunning.daily import RunContext
    from dunning.db import unit_of_work, upgrade
    from dunning.operations import case_report

    upgrade(settings.db_url)
    ctx = RunContext(settings)
    try:
        with unit_of_work(settings.db_url) as session:
            report = case_report(session, loan, _date(as_of, "--as-of"), ctx.playbook)
    except DunningError as exc:
        raise _fail(exc) from exc
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        console.print_json(json.dumps(report, ensure_ascii=False))


@app.command()
def record(
    loan: str = typer.Argument(...),
    kind: str = typer.Option(..., "--kind", help="visit | call"),
    outcome: str = typer.Option(
        ...,
        "--outcome",
        help="visit: met | not-met | business-closed | refused; "
        "call: answered | no-answer | busy | wrong-number | refused",
    ),
    on: str = typer.Option(
        None,
        "--on",
        help="The visit's or call's date. Default: the latest one of that kind "
        "still awaiting its outcome, else the latest daily run.",
    ),
    promise_date: str = typer.Option(None, "--promise-date"),
    promise_amount: str = typer.Option(None, "--promise-amount"),
    reason: str = typer.Option(
        None, "--reason", help="cash-flow | market | family | fraud | unknown"
    ),
    officer: str = typer.Option("", "--officer"),
    notes: str = typer.Option("", "--notes"),
) -> None:
    """Record a visit's or call's outcome, with a promise to pay or a reason."""
    settings = _settings()
    from dunning.daily import RunContext, latest_run
    from dunning.db import unit_of_work, upgrade
    from dunning.operations import (
        Outcome,
        awaiting_outcome,
        parse_amount,
        record_outcome,
    )
    from flows.daily_run import business_date

    playbook = RunContext(settings).playbook
    upgrade(settings.db_url)
    today = business_date(settings)
    try:
        with unit_of_work(settings.db_url) as session:
            day = (
                _date(on, "--on")
                or awaiting_outcome(session, loan, kind)
                or latest_run(session)
                or today
            )
            if day > today:
                raise typer.BadParameter(
                    f"{day} is after today ({today}); record an outcome once it "
                    "has happened",
                    param_hint="--on",
                )
            result = record_outcome(
                session,
                loan,
                Outcome(
                    kind=kind,
                    outcome=outcome,
                    on=day,
                    officer=officer,
                    notes=notes,
                    promise_date=_date(promise_date, "--promise-date"),
                    promise_amount=None
                    if promise_amount is None
                    else parse_amount(promise_amount, "--promise-amount"),
                    reason=reason,
                ),
                actor=officer or "cli",
                max_promise_days=playbook.promise_max_days,
            )
    except DunningError as exc:
        raise _fail(exc) from exc
    console.print(json.dumps(result))


@app.command()
def pay(
    loan: str = typer.Argument(...),
    amount: str = typer.Argument(..., help="Amount paid, e.g. 1234.56"),
    on: str = typer.Option(..., "--on", help="Date paid."),
) -> None:
    """Record a payment; the next daily run applies it."""
    settings = _settings()
    from dunning.db import unit_of_work, upgrade
    from dunning.operations import parse_amount, record_payment
    from flows.daily_run import business_date

    upgrade(settings.db_url)

    day = _date(on, "--on")
    assert day is not None
    if day > business_date(settings):
        raise typer.BadParameter(
            f"{day} is after today ({business_date(settings)}); a payment is "
            "recorded once it has arrived",
            param_hint="--on",
        )
    try:
        with unit_of_work(settings.db_url) as session:
            payment = record_payment(session, loan, parse_amount(amount), day, "cli")
    except DunningError as exc:
        raise _fail(exc) from exc
    console.print(f"payment {payment.id} recorded")


DEMO_FROM, DEMO_TO = date(2026, 11, 1), date(2026, 11, 30)


@app.command()
def demo() -> None:
    """The main job on the embedded default: import the sample, replay November."""
    started = float(os.environ.get("DUNNING_DEMO_STARTED") or time.time())
    base = Settings()
    home = base.home / "demo"
    # The demo starts from nothing each time; it never touches var/ outside it.
    shutil.rmtree(home, ignore_errors=True)
    os.environ["DUNNING_HOME"] = str(home)
    os.environ.pop("DUNNING_DATABASE_URL", None)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    settings = _settings()

    source = settings.data_dir / "home_credit_sample" / "installments_payments.csv"
    if source.exists():
        console.print(f"importing the Home Credit sample from {source}")
        report = _import(settings, source, "home-credit")
    else:
        from dunning.generate import write_portfolio

        console.print(
            f"[yellow]{source} is absent[/yellow]: the demo's real data is the Home "
            "Credit Default Risk sample (see shared/data/real/SOURCE.md; set "
            "DUNNING_DATA_DIR to its folder). Running on a generated portfolio "
            "instead."
        )
        bundle = write_portfolio(home / "generated", DEMO_FROM)
        report = _import(settings, bundle, "canonical")
    for line in report.summary_lines():
        console.print(line)

    console.print(f"replaying the daily run {DEMO_FROM}..{DEMO_TO}")
    _run_days(settings, [DEMO_FROM + timedelta(days=n) for n in range(30)], False)
    _show(_summary(settings, DEMO_FROM, DEMO_TO), False)
    console.print(f"database:  {_safe_url(settings.db_url)}")
    console.print(f"outbox:    {settings.outbox_dir}")
    console.print(
        f"artifacts: in Prefect's local store under {os.environ['PREFECT_HOME']}; "
        "the 'daily-summary' artifact of each run holds the table above"
    )
    console.print(f"demo took {time.time() - started:.0f} s (install included)")


# Twilio status callbacks ---------------------------------------------------


@app.command()
def webhooks(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="Port to listen on."),
) -> None:
    """Receive Twilio's call and text statuses and keypad answers onto the ledger.

    Publish it (behind a proxy) at DUNNING_PUBLIC_BASE_URL: signatures are
    checked against that URL. Needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.
    """
    import uvicorn

    from dunning.webhooks import create_app

    settings = _settings()
    try:
        application = create_app(settings)
    except DunningError as exc:
        raise _fail(exc) from exc
    uvicorn.run(application, host=host, port=port, log_level="info")


# ---------------------------------------------------------------------------


# The operators' commands register themselves on ``app``.
import dunning.cli_operators  # noqa: E402, F401


def main() -> None:  # pragma: no cover - console entry
    try:
        app()
    except DunningError as exc:
        err.print(f"error: {exc}")
        sys.exit(2)

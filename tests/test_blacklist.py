"""The blacklist from the command line: list, show, remove (audited), export."""

from __future__ import annotations

import csv
import stat
from datetime import timedelta

from scenario import DUE, add_loan, pay, run_day, run_days
from sqlalchemy import select
from typer.testing import CliRunner

from dunning.cli import app
from dunning.db import unit_of_work
from dunning.models import AuditEntry, BlacklistEntry

runner = CliRunner()


def day(dpd: int):
    return DUE + timedelta(days=dpd)


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def blacklisted(settings) -> None:
    add_loan(settings.db_url)
    run_days(settings, day(1), day(32))
    pay(settings.db_url, "LN1", "1000.00", day(33), "P1")
    run_day(settings, day(33))


def test_list_masks_the_borrower_and_show_finds_by_loan(settings):
    blacklisted(settings)

    listed = invoke("blacklist", "list")
    shown = invoke("blacklist", "show", "LN1")

    assert listed.exit_code == 0, listed.output
    assert "*-LN1" in listed.stdout and "B-LN1" not in listed.stdout
    assert f"resolved after legal referral on {day(30)}" in listed.stdout
    assert shown.exit_code == 0 and '"loan_id": "LN1"' in shown.stdout


def test_removal_needs_a_reason_and_is_audited_with_the_operator(settings):
    blacklisted(settings)
    with unit_of_work(settings.db_url) as session:
        entry = session.scalars(select(BlacklistEntry)).one()

    refused = invoke(
        "blacklist", "remove", str(entry.id), "--reason", " ", "--operator", "王主管"
    )
    removed = invoke(
        "blacklist",
        "remove",
        str(entry.id),
        "--reason",
        "法院判决已结清，经风控委员会同意",
        "--operator",
        "王主管",
        "--on",
        day(40).isoformat(),
    )

    assert refused.exit_code == 2 and "--reason" in refused.output
    assert removed.exit_code == 0, removed.output
    with unit_of_work(settings.db_url) as session:
        entry = session.get_one(BlacklistEntry, entry.id)
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.event == "blacklist-removed")
        ).one()
    assert entry.removed_on == day(40)
    assert audit.actor == "王主管"
    assert audit.detail["reason"] == "法院判决已结清，经风控委员会同意"
    assert "LN1" not in invoke("blacklist", "list").stdout
    assert "removed" in invoke("blacklist", "list", "--all").stdout


def test_export_writes_full_numbers_for_the_origination_system_owner_only(
    settings, tmp_path
):
    blacklisted(settings)
    target = tmp_path / "out" / "blacklist.csv"

    result = invoke("blacklist", "export", str(target))

    assert result.exit_code == 0, result.output
    with target.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["borrower_id"], r["loan_id"], r["listed_on"]) for r in rows] == [
        ("B-LN1", "LN1", day(33).isoformat())
    ]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_export_over_an_existing_file_or_link_is_still_owner_only(settings, tmp_path):
    blacklisted(settings)
    existing = tmp_path / "existing.csv"
    existing.write_text("old\n", encoding="utf-8")
    existing.chmod(0o644)
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("not ours\n", encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(elsewhere)

    assert invoke("blacklist", "export", str(existing)).exit_code == 0
    assert invoke("blacklist", "export", str(link)).exit_code == 0

    assert stat.S_IMODE(existing.stat().st_mode) == 0o600
    assert "B-LN1" in existing.read_text(encoding="utf-8")
    assert not link.is_symlink() and stat.S_IMODE(link.stat().st_mode) == 0o600
    assert elsewhere.read_text(encoding="utf-8") == "not ours\n"

"""`dunning escalate`: to the Prefect server when one answers, in-process if not."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from scenario import DUE, add_loan, run_days
from sqlalchemy import select
from typer.testing import CliRunner

from dunning.cli import app
from dunning.cli_operators import prefect_server
from dunning.db import unit_of_work
from dunning.models import Escalation, LegalReferral

runner = CliRunner()


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


def test_a_server_counts_only_when_its_health_check_answers(local_server):
    assert prefect_server({"PREFECT_API_URL": local_server}) == local_server
    assert prefect_server({}) is None
    assert prefect_server({"PREFECT_API_URL": local_server + "/nowhere"}) is None
    closed = HTTPServer(("127.0.0.1", 0), Health)
    port = closed.server_address[1]
    closed.server_close()
    assert prefect_server({"PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}) is None


def test_escalate_runs_in_process_without_a_server(prefect_harness, settings):
    add_loan(settings.db_url)
    run_days(settings, DUE + timedelta(days=1), DUE + timedelta(days=4))

    result = runner.invoke(
        app,
        [
            "escalate",
            "LN1",
            "--to",
            "legal",
            "--reason",
            "客户承认挪用贷款",
            "--operator",
            "王主管",
            "--as-of",
            (DUE + timedelta(days=4)).isoformat(),
            "--json",
        ],
        catch_exceptions=False,
    )

    assert result.exit_code == 0, result.output
    assert "running here" in result.stderr
    with unit_of_work(settings.db_url) as session:
        escalation = session.scalars(select(Escalation)).one()
        referral = session.scalars(select(LegalReferral)).one()
    assert (escalation.operator, escalation.target) == ("王主管", "legal-referral")
    assert escalation.flow_run_id != ""
    assert referral.state == "pending"


def test_escalating_an_unknown_loan_says_which(prefect_harness, settings):
    result = runner.invoke(
        app,
        ["escalate", "LN404", "--to", "legal", "--reason", "x", "--operator", "王"],
        catch_exceptions=False,
    )

    assert result.exit_code == 2
    assert "LN404" in result.stderr


def test_a_missing_reason_is_refused_before_anything_runs(settings):
    result = runner.invoke(
        app,
        ["escalate", "LN1", "--to", "legal", "--reason", " ", "--operator", "王"],
        catch_exceptions=False,
    )

    assert result.exit_code == 2
    assert "needs a reason" in result.stderr

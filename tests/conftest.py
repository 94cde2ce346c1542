"""Shared fixtures: real databases (SQLite always, PostgreSQL when CI starts one)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

# Before anything imports Prefect: no telemetry, and its local state in a
# throwaway folder rather than the developer's own.
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
_PREFECT_HOME = Path(__file__).resolve().parent.parent / "var" / "test-prefect"
_PREFECT_HOME.mkdir(parents=True, exist_ok=True)
os.environ.setdefault("PREFECT_HOME", str(_PREFECT_HOME))
# Real credentials on this machine must never reach a test: every test that
# needs Twilio points the SDK at the loopback fake with its own.
for name in (
    "TWILIO_EDGE",
    "TWILIO_REGION",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "PREFECT_API_URL",
):
    os.environ.pop(name, None)

from dunning.db import upgrade  # noqa: E402
from dunning.settings import PROJECT_ROOT, Settings  # noqa: E402

REAL_DATA = PROJECT_ROOT.parent / "shared" / "data" / "real"
HOME_CREDIT = REAL_DATA / "home_credit_sample" / "installments_payments.csv"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'dunning.db'}"
    upgrade(url)
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the PostgreSQL server CI started, dropped afterwards."""
    base = os.environ.get("DUNNING_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("DUNNING_TEST_POSTGRES_URL is not set (.ci/run sets it)")
    from sqlalchemy import create_engine, text

    name = f"dunning_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    from dunning.db import engine_for

    engine_for(url).dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each store test runs on SQLite and on PostgreSQL."""
    return request.getfixturevalue(
        f"{request.param.replace('postgresql', 'postgres')}_url"
    )


@pytest.fixture
def settings(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Settings for a throwaway home; also in the environment, for flows."""
    monkeypatch.setenv("DUNNING_HOME", str(tmp_path))
    monkeypatch.setenv("DUNNING_DATABASE_URL", sqlite_url)
    # Scenarios run from late 2026 into 2027; "today" is fixed after them, so
    # that a test does not change its verdict as the calendar moves on.
    monkeypatch.setenv("DUNNING_TODAY", "2027-06-30")
    return Settings()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def db_snapshot() -> Callable[[str], dict[str, list[tuple]]]:
    """Every row of every table of a database, to compare before and after."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from dunning.db import engine_for
    from dunning.models import Base

    def take(url: str) -> dict[str, list[tuple]]:
        with Session(engine_for(url)) as session:
            return {
                table.name: sorted(
                    (tuple(row) for row in session.execute(select(table))), key=repr
                )
                for table in Base.metadata.sorted_tables
            }

    return take


@pytest.fixture
def db_writes() -> Callable[[str], AbstractContextManager[list[str]]]:
    """Records the INSERT, UPDATE and DELETE statements sent to a database."""
    from contextlib import contextmanager

    from sqlalchemy import event

    from dunning.db import engine_for

    @contextmanager
    def recording(url: str) -> Iterator[list[str]]:
        statements: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany) -> None:
            verb = statement.lstrip().split(" ", 1)[0].upper()
            if verb in {"INSERT", "UPDATE", "DELETE"}:
                statements.append(statement)

        engine = engine_for(url)
        event.listen(engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", record)

    return recording

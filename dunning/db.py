"""Engines, units of work and migrations."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# SQLite has no decimal type: values round-trip through the column's scale of
# two places, which is exact for cents, so SQLAlchemy's generic warning is noise.
warnings.filterwarnings(
    "ignore",
    message=r"Dialect sqlite\+pysqlite does \*not\* support Decimal",
    category=sa_exc.SAWarning,
)


@cache
def engine_for(url: str) -> Engine:
    """One engine per database URL per process, built on first use.

    Statement parameters are kept out of error messages: they hold names,
    numbers and amounts, and errors end up in logs.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextmanager
def unit_of_work(url: str) -> Iterator[Session]:
    """A session whose work commits together at the end, or not at all."""
    session = sessionmaker(engine_for(url), expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    engine_for(url)  # creates the SQLite file's folder
    command.upgrade(alembic_config(url), revision)


def require_current_schema(url: str) -> None:
    """Refuse to work on a database whose schema is behind (or ahead of) the code."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from dunning.errors import DunningError

    expected = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    with engine_for(url).connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    if current != expected:
        shown = ", ".join(sorted(current)) or "none"
        raise DunningError(
            f"the database's schema is at revision {shown} but this code needs "
            f"{', '.join(sorted(expected))}: run `dunning db upgrade` first"
        )

"""Set-based writes: read what is stored, compare, then write only the difference.

Reading first is what makes a repeated import a no-op: rows equal to the stored
ones are never written, so nothing is touched. The writes still carry ON
CONFLICT clauses so that a row another session inserted in the meantime does
not fail the whole import.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dunning.errors import DunningError
from dunning.importing.common import chunked

Key = tuple[Any, ...]

# Bound parameters per IN list: far below SQLite's and PostgreSQL's limits.
READ_CHUNK = 500
WRITE_CHUNK = 2000


@dataclass
class Diff:
    """Keys of the wanted rows, split by how they compare with the stored ones."""

    new: list[Key]
    changed: list[Key]
    same: list[Key]

    def outcome(self) -> dict[Key, str]:
        outcomes = dict.fromkeys(self.new, "inserted")
        outcomes.update(dict.fromkeys(self.changed, "updated"))
        outcomes.update(dict.fromkeys(self.same, "unchanged"))
        return outcomes


def fetch(
    session: Session,
    table: Table,
    by: str,
    values: Iterable[Any],
    columns: Sequence[str],
) -> list[dict[str, Any]]:
    """The stored rows of ``table`` whose column ``by`` is one of ``values``."""
    wanted = sorted(set(values))
    selected = [table.c[c] for c in columns]
    if session.get_bind().dialect.name == "postgresql":
        # psycopg prepares a statement it runs repeatedly, and PostgreSQL may
        # then settle on a generic plan made while the table was still empty
        # (the first import): a full scan comparing every row with every item
        # of the IN list, tenths of a second per chunk. Custom plans see the
        # values and use the index or a hash. SET LOCAL ends with the caller's
        # transaction.
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    rows: list[dict[str, Any]] = []
    for chunk in chunked(wanted, READ_CHUNK):
        result = session.execute(select(*selected).where(table.c[by].in_(chunk)))
        rows.extend(dict(r._mapping) for r in result)
    return rows


def fetch_keyed(
    session: Session,
    table: Table,
    key: Sequence[str],
    keys: Collection[Key],
    columns: Sequence[str],
) -> dict[Key, dict[str, Any]]:
    """Stored rows for ``keys``, by key; a composite key is read by its first part."""
    columns = list(dict.fromkeys([*key, *columns]))
    stored = fetch(session, table, key[0], (k[0] for k in keys), columns)
    wanted = set(keys)
    by_key = {tuple(r[c] for c in key): r for r in stored}
    return {k: r for k, r in by_key.items() if k in wanted}


def diff(
    wanted: Mapping[Key, Mapping[str, Any]],
    stored: Mapping[Key, Mapping[str, Any]],
    compare: Sequence[str],
) -> Diff:
    result = Diff([], [], [])
    for key, row in wanted.items():
        old = stored.get(key)
        if old is None:
            result.new.append(key)
        elif any(old[c] != row[c] for c in compare):
            result.changed.append(key)
        else:
            result.same.append(key)
    return result


def _insert_for(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return sqlite.insert
    if dialect == "postgresql":
        return postgresql.insert
    raise DunningError(
        f"imports support SQLite and PostgreSQL databases, not {dialect}"
    )


def insert_new(
    session: Session, table: Table, key: Sequence[str], rows: Sequence[dict]
) -> None:
    """Insert rows known to be new; one that appeared meanwhile is left alone."""
    if not rows:
        return
    stmt = _insert_for(session)(table).on_conflict_do_nothing(index_elements=key)
    for chunk in chunked(rows, WRITE_CHUNK):
        session.execute(stmt, list(chunk))


def upsert(
    session: Session,
    table: Table,
    key: Sequence[str],
    rows: Sequence[dict],
    update: Sequence[str],
) -> None:
    """Insert rows, or overwrite the ``update`` columns of those already stored."""
    if not rows:
        return
    insert = _insert_for(session)(table)
    stmt = insert.on_conflict_do_update(
        index_elements=key, set_={c: insert.excluded[c] for c in update}
    )
    for chunk in chunked(rows, WRITE_CHUNK):
        session.execute(stmt, list(chunk))


def delete_ids(session: Session, table: Table, ids: Sequence[int]) -> None:
    for chunk in chunked(sorted(ids), READ_CHUNK):
        session.execute(delete(table).where(table.c.id.in_(chunk)))

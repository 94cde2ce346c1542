"""Prefect flows: one file per flow; they compose tasks and pass ids and dates."""

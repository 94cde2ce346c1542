"""Prefect tasks: each loads, decides (through dunning), acts and records.

Tasks are batch-sized: one task run handles every case of a step, so the
number of task runs in a daily run does not grow with the portfolio.
"""

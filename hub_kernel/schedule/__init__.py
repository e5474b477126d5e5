"""Scheduled notebooks: papermill runs on APScheduler, with a run history and monitoring.

- ``spec``: what a job is (name, notebook, parameters, retries), shared by the modules below.
- ``jobs``: job specs with their schedule (interval or cron) in an APScheduler SQLite job store
  at ``$HUB_HOME/scheduler.db``; ``run_scheduled_job`` is what the scheduler calls.
- ``runner``: ``run_job`` runs one under its lock, with retries; one papermill execution into
  ``$HUB_HOME/runs/<job>/<time>.ipynb`` with an HTML copy, recorded in the run history and
  logged to MLflow.
- ``history``: the run history (SQLite, ``$HUB_HOME/runs/history.db``).
- ``notebook``: what an executed copy holds (failing cell, reported outcome) and its HTML.
- ``lock``: file locks (``filelock``) so one job never runs twice at once, across processes.

Imports go one way: ``jobs -> runner -> history -> notebook``; ``spec`` and ``lock`` are below
all three, and ``daemon`` and ``monitor`` above.
- ``daemon``: ``hub scheduler start``, the foreground scheduler with a heartbeat.
- ``monitor``: what ``hub status`` and ``hub doctor`` report.
- ``retrain``: the pipeline ``notebooks/retrain.ipynb`` calls.

Importing this package is light: APScheduler, papermill, nbconvert and mlflow load when used.
"""

from __future__ import annotations

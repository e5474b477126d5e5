"""Scheduled notebooks: papermill runs on APScheduler, with a run history and monitoring.

- ``jobs``: job specs (notebook, parameters, interval or cron) in an APScheduler SQLite job
  store at ``$HUB_HOME/scheduler.db``; ``run_job`` runs one under its lock, with retries.
- ``runner``: one papermill execution into ``$HUB_HOME/runs/<job>/<time>.ipynb`` with an HTML
  copy, recorded in the run history and logged to MLflow.
- ``history``: the run history (SQLite, ``$HUB_HOME/runs/history.db``).
- ``lock``: file locks (``flock``) so one job never runs twice at once, across processes.
- ``daemon``: ``hub scheduler start``, the foreground scheduler with a heartbeat.
- ``monitor``: what ``hub status`` and ``hub doctor`` report.
- ``retrain``: the pipeline ``notebooks/retrain.ipynb`` calls.

Importing this package is light: APScheduler, papermill, nbconvert and mlflow load when used.
"""

from __future__ import annotations

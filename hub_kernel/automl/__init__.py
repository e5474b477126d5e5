"""AutoML: search model pipelines for a target within a wall-clock budget.

- ``space``: estimator families, their hyperparameters, one ``Config``;
- ``pipelines``: a configuration's scikit-learn pipeline (on ``models.features``), stepwise fits;
- ``scoring``: scorers, fast metrics, the baseline score;
- ``ensembles``: fold ensembles and greedy ensemble selection;
- ``warmstart``: meta-features and the ``MetaStore`` of earlier searches;
- ``observation`` and ``policy``: what a trained family policy sees, and loading one;
- ``proposals``: what to evaluate next (portfolio, family bandit, Bayesian step);
- ``results`` and ``tracking``: evaluations, the ``SearchResult``, MLflow runs;
- ``evaluation``: one configuration's cross-validation, cut short when it cannot finish in time;
- ``cluster`` and ``distributed``: the Dask cluster a search may evaluate on, and the loop
  that keeps its workers busy (asynchronous successive choices);
- ``search``: ``PipelineSearch`` (a scikit-learn estimator); ``run``: the loop of one ``fit``;
  ``final``: how it ends (baseline, ensemble, refit); ``searcher``: search and remember.
"""

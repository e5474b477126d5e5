"""Model lifecycle: A/B test and gate, drift, retraining and its policy.

It builds on ``models.training`` and the registry and never imports ``models.trainer``:
``ModelTrainer.retrain_models`` hands itself to ``retrain.retrain_all`` as a ``retrain.Trainer``.
"""

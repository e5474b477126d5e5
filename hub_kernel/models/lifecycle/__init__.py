"""Model lifecycle: A/B test and gate, drift, fairness, retraining and its policy."""

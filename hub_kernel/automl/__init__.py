"""AutoML: the search space, pipelines over models.features, ensembles, warm starts, the search."""

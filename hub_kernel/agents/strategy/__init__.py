"""The Analysis Strategy Agent: which analyses to show and which pipelines to search."""

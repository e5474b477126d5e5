"""Core: settings, the exception tree, the event bus and shared helpers every layer may use."""

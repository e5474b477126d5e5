"""Agents: Dashboard Design, Analysis Strategy, Report Generation; the Meta-Learning Controller."""

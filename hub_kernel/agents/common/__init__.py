"""What every agent shares: the agent contract, the Beta bandit, the event store and the reward."""

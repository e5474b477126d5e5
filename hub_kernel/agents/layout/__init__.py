"""The Dashboard Design Agent: its bandit, gymnasium env, simulated users and PPO pre-training."""

"""What every agent shares: the feedback event store and the product's weighted reward."""

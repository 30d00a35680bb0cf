"""Training: the shared loop, optimisers and (later) checkpointing and scale-out."""

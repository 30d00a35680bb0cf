"""AutoShard (Zha et al., KDD 2022, arXiv 2208.06399): RL embedding-table sharding with a neural cost model."""

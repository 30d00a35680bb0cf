"""Reproduction of Zha et al., "DreamShard: Generalizable Embedding Table Placement for Recommender Systems" (NeurIPS 2022, arXiv 2210.02023)."""

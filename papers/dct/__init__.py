"""Reproduction of Gupta et al., "Training Recommender Systems at Scale: Communication-Efficient Model and Data Parallelism" (DCT, KDD'21)."""

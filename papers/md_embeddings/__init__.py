"""Reproduction of Ginart et al., "Mixed Dimension Embeddings with Application to Memory-Efficient Recommendation Systems"."""

"""Reproduction of Shi et al., "Compositional Embeddings Using Complementary Partitions" (QR trick, KDD'20)."""

"""Reproduction of Li et al., "Frequency-aware SGD for Efficient Embedding Learning with Provable Benefits" (ICLR'22)."""

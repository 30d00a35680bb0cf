"""Reproduction of Rouhani et al., "Microscaling Data Formats for Deep Learning" (arXiv 2310.10537)."""

"""Reproduction of Guan et al., "Post-Training 4-bit Quantization on Embedding Tables" (NeurIPS'19 workshop)."""

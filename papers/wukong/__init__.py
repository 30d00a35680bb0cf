"""Wukong (Zhang et al. 2024, arXiv 2403.02545): the interaction stack of factorization-machine and linear-compression blocks."""

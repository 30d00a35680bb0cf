"""Reproduction of Rouhani et al., "With Shared Microexponents, A Little Shifting Goes a Long Way" (ISCA'23, arXiv 2302.08007)."""

"""DHEN (Zhang et al. 2022, arXiv 2203.11014): a deep, hierarchical ensemble of heterogeneous interaction modules."""

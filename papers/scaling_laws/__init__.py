"""Understanding Scaling Laws for Recommendation Models (Ardalani et al. 2022, arXiv 2208.08489): power-law fits of DLRM's NE."""

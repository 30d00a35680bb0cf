"""Data-parallel guidelines (Zou et al., ADMA 2017; arXiv 1709.06622 unconfirmed): minibatch knee, GPUs and parameter servers."""

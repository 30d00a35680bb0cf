"""Optimizers the papers need beyond ``torch.optim``: frequency-aware SGD for embedding rows."""

"""Distributed-training parts shared by the distributed papers (CPR, ShadowSync, DES, DCT, codistillation, DMT,
data-parallel guidelines): collective cost models (:mod:`.topology`), gloo calibration and byte counting
(:mod:`.comm`), failures and partial checkpoints (:mod:`.failures`), virtual data-parallel workers
(:mod:`.virtual`). Real multi-process work goes through :mod:`harness.train.distributed` (torchrun, gloo).
"""

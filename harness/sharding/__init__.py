"""Embedding-table sharding benchmark shared by AutoShard (arXiv 2208.06399), DreamShard
(arXiv 2210.02023) and NeuroShard (arXiv 2305.01868).

One module per responsibility:

* :mod:`~harness.sharding.protocols`: the three repositories' settings (sizing, pooling-factor
  truncation, timing statistic, devices, memory caps).
* :mod:`~harness.sharding.tables`: a table's features and the official feature extraction
  (``gen_dlrm_data.py`` of the three repositories) from ``(indices, offsets, lengths)``.
* :mod:`~harness.sharding.generator`: a synthetic dlrm-like table generator fitted to the published
  locality statistics of ``facebookresearch/dlrm_datasets``, with its self-test.
* :mod:`~harness.sharding.traces`: the streaming loader of the real ``.pt`` / ``.pt.gz`` traces.
* :mod:`~harness.sharding.tasks`: the three repositories' task generators.
* :mod:`~harness.sharding.plan`: sharding tasks and plans (table-wise and column-wise).
* :mod:`~harness.sharding.cost`: the cost-oracle interface (per-device forward, forward comm,
  backward comm, backward; the slowest device's sum; over the memory cap the plan is invalid) and
  the all-to-all communication model.
* :mod:`~harness.sharding.oracle_tbe`, :mod:`~harness.sharding.oracle_torchrec`,
  :mod:`~harness.sharding.oracle_surrogate`: fbgemm's fused TBE timed on CPU, TorchRec's analytic
  shard estimator, a deterministic non-additive surrogate.
* :mod:`~harness.sharding.cost_data`: measured (plan, shard) samples for learned cost models and an
  oracle call counter.
* :mod:`~harness.sharding.additivity`: how far a fused shard's cost is from the sum of its tables'.
* :mod:`~harness.sharding.baselines`: random, naive and the greedy family, equal to the official
  functions; :mod:`~harness.sharding.torchrec_planner`: TorchRec's ``EmbeddingShardingPlanner``.
* :mod:`~harness.sharding.evaluate`: every method on every task under one oracle, OOMs counted.
* :mod:`~harness.sharding.metrics`: paired per-task improvement with a bootstrap CI, and the accuracy
  of a shard-cost predictor.
"""

"""Random CTR batches of a given shape, for tests and throughput benchmarks (not a dataset).

Each batch is a ``torchrec.datasets.utils.Batch``: dense features ``[B, num_dense]``, one id
per sample for each sparse feature (Criteo's one-hot layout) as a KeyedJaggedTensor, and 0/1
labels. Labels follow a fixed random logistic function of the features, so a model can learn
something; the data say nothing about real click-through rates.
"""

from __future__ import annotations

import torch
from torchrec.datasets.utils import Batch
from torchrec.sparse.jagged_tensor import KeyedJaggedTensor


def random_ctr_batches(num_batches: int, batch_size: int, num_dense: int, table_rows: list[int],
                       seed: int = 0) -> list[Batch]:
    """`num_batches` random batches with one id per sparse feature ``f0, f1, ...``.

    Ids are drawn from a Zipf-like distribution (squared uniforms, so small ids are frequent) as
    in real CTR logs; the label is Bernoulli of a logistic function of the dense features and
    a per-(feature, id) effect.
    """
    gen = torch.Generator().manual_seed(seed)
    keys = [f"f{i}" for i in range(len(table_rows))]
    rows = torch.tensor(table_rows, dtype=torch.float64)
    dense_w = torch.randn(num_dense, generator=gen)
    effects = [torch.randn(min(r, 1024), generator=gen) for r in table_rows]
    batches = []
    for _ in range(num_batches):
        dense = torch.rand(batch_size, num_dense, generator=gen)
        ids = (torch.rand(len(table_rows), batch_size, generator=gen, dtype=torch.float64) ** 2
               * rows.unsqueeze(1)).long()
        logit = dense @ dense_w - 0.5 * dense_w.sum()
        for f, effect in enumerate(effects):
            logit += effect[ids[f] % effect.numel()]
        labels = torch.bernoulli(torch.sigmoid(logit / 2), generator=gen)
        sparse = KeyedJaggedTensor.from_lengths_sync(
            keys=keys, values=ids.reshape(-1), lengths=torch.ones(len(keys) * batch_size, dtype=torch.int32))
        batches.append(Batch(dense_features=dense, sparse_features=sparse, labels=labels))
    return batches


class BatchList:
    """A fixed list of batches as a trainer batch source; one pass = one epoch.

    With `shuffle`, the batch order is redrawn every epoch from a seeded generator whose state
    :meth:`state_dict` exposes, so a resumed run replays the same order.
    """

    def __init__(self, batches: list[Batch], shuffle: bool = False, seed: int = 0) -> None:
        self.batches, self.shuffle = batches, shuffle
        self.num_examples = sum(int(b.labels.shape[0]) for b in batches)
        self._generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        order = torch.randperm(len(self.batches), generator=self._generator).tolist() if self.shuffle \
            else range(len(self.batches))
        return iter([self.batches[i] for i in order])

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The shuffling generator's state."""
        return {"generator": self._generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the shuffling generator."""
        self._generator.set_state(state["generator"])

"""Memory-efficient embedding tables: one idea per module, each with its paper.

* :mod:`.qr` -- quotient-remainder compositional embeddings and the hashing trick (Shi et al., KDD'20).
* :mod:`.mixed_dim` -- mixed-dimension embeddings with the alpha power rule (Ginart et al., 2019).
* :mod:`.quant4bit` -- post-training row-wise 4-bit quantization: min/max, greedy range search,
  k-means codebook (Guan et al., 2019), served through PyTorch/FBGEMM's fused 4-bit ops.
* :mod:`.collection` -- a KeyedJaggedTensor front-end over any of these tables, shaped like
  TorchRec's ``EmbeddingBagCollection``.
* :mod:`.memory` -- bytes actually held by a module's tensors or an optimizer's state.
* :mod:`.bags` -- ``nn.EmbeddingBag``'s input conventions and per-bag pooling, shared by the tables.
* :mod:`.study` -- the scaffolding the four compression papers share (table factories, DLRM and DCN
  composed with a table front-end, the study variant that measures its bytes, id counts).

Frequency-aware SGD (Li et al., ICLR'22) is an optimizer and lives in :mod:`harness.optim.fa_sgd`.

Every table module follows ``nn.EmbeddingBag``'s call: ``forward(input, offsets, per_sample_weights)``
with 1-D `input` and `offsets` (one bag per offset), returning ``[bags, dim]``.
"""

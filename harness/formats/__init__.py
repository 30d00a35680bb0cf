"""Number formats for low-precision inference and training: one responsibility per module.

* :mod:`.elements` -- the OCP MX scalar element formats (FP8 E5M2/E4M3, FP6 E3M2/E2M3, FP4 E2M1,
  INT8), their representable values and rounding into them (ties to even or away from zero).
* :mod:`.blocks` -- blocks of consecutive values along an axis, with zero padding.
* :mod:`.mx` -- OCP Microscaling block formats (Rouhani et al., arXiv 2310.10537): 32 elements and
  one E8M0 shared scale.
* :mod:`.bdr` -- shared-microexponent formats MX9/MX6/MX4 and block floating point (Rouhani et al.,
  ISCA'23, arXiv 2302.08007).
* :mod:`.per_tensor` -- per-tensor INT8/INT4/FP8 and BF16 baselines.
* :mod:`.registry` -- every format by name.
* :mod:`.qsnr` -- quantisation signal-to-noise ratio on Gaussian data.
* :mod:`.fake_quant` -- straight-through fake quantisation, quantised ``nn.Linear`` and input hooks
  for direct-cast inference and quantisation-aware training of any model.
* :mod:`.study` -- QSNR per seed, direct-cast and in-format-trained study variants, and the MX/BDR
  papers' DLRM study (parameters in :mod:`.params`).
"""

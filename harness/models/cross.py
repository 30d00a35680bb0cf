"""Cross layers of DCN (Wang et al. 2017, arXiv 1708.05123, Eq. 3) and DCNv2 (Wang et al. 2021,
arXiv 2008.13535, Eq. 1), taken from TorchRec.

DCNv2: ``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l`` with a full ``W_l`` (:class:`CrossNet`) or the
low-rank ``W_l = U_l V_l`` of Sec. 3.2 (:class:`LowRankCrossNet`). DCN (v1):
``x_{l+1} = x_0 x_l^T w_l + b_l + x_l`` with a weight *vector* ``w_l`` (:class:`VectorCrossNet`).
TorchRec's modules implement exactly these equations (checked against float64 references in
tests/models), so the suite uses them rather than a second copy; DCN/DHEN/Wukong-style models
import them from here.
"""

from __future__ import annotations

from torchrec.modules.crossnet import CrossNet, LowRankCrossNet, VectorCrossNet

__all__ = ["CrossNet", "LowRankCrossNet", "VectorCrossNet"]

"""Sharding metrics (spec H8): balance and paired per-task improvement with a bootstrap CI."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class PairedImprovement:
    """Mean and max of ``(c_base - c_method) / c_base`` over tasks valid for both, with a CI."""

    mean: float
    ci_low: float
    ci_high: float
    max: float
    tasks: int
    skipped: int  # tasks where either plan was invalid (out of memory)


def paired_improvement(base_costs: "list[float]", method_costs: "list[float]", confidence: float = 0.9,
                       seed: int = 0) -> PairedImprovement:
    """Relative improvement of a method over a baseline on the tasks both solved (finite costs).

    The CI is scipy's BCa bootstrap of the mean (9,999 resamples) at `confidence`.
    """
    base, method = np.asarray(base_costs, dtype=float), np.asarray(method_costs, dtype=float)
    if base.shape != method.shape:
        raise ValueError(f"paired costs need equal lengths, got {base.shape} and {method.shape}")
    valid = np.isfinite(base) & np.isfinite(method) & (base > 0)
    gain = (base[valid] - method[valid]) / base[valid]
    if len(gain) == 0:
        return PairedImprovement(float("nan"), float("nan"), float("nan"), float("nan"), 0, int((~valid).sum()))
    if len(gain) < 2 or np.ptp(gain) == 0:
        low = high = float(gain.mean())
    else:
        ci = stats.bootstrap((gain,), np.mean, confidence_level=confidence, n_resamples=9_999,
                             random_state=np.random.default_rng(seed)).confidence_interval
        low, high = float(ci.low), float(ci.high)
    return PairedImprovement(float(gain.mean()), low, high, float(gain.max()), int(len(gain)), int((~valid).sum()))


@dataclass(frozen=True)
class PredictionAccuracy:
    """How well a shard-cost predictor matches measured costs (AutoShard's cost model, NeuroShard's)."""

    mse: float  # mean squared error (ms^2)
    mean_abs_rel_error: float  # mean |predicted - measured| / measured
    kendall_tau: float  # rank agreement (scipy's tau-b); nan with fewer than two shards
    shards: int


def prediction_accuracy(predicted: "list[float]", measured: "list[float]") -> PredictionAccuracy:
    """MSE, mean relative error and Kendall's tau of predicted against measured shard costs."""
    pred, true = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    if pred.shape != true.shape or pred.size == 0:
        raise ValueError(f"predicted and measured costs need the same non-zero length, got {pred.shape} and {true.shape}")
    tau = float(stats.kendalltau(pred, true).statistic) if pred.size > 1 else float("nan")
    rel = np.abs(pred - true) / np.where(true > 0, true, np.nan)
    return PredictionAccuracy(float(np.mean((pred - true) ** 2)), float(np.nanmean(rel)), tau, int(pred.size))

"""The scaling-laws study: its sweep variants, the claimed quantities, and the per-seed quantities of the claims."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.scaling import SWEEPS_SETTING, PowerLaw, SweepTable
from harness.study import LR_TRIAL
from papers.scaling_laws.experiment import (REFERENCE, SCALING, data_name, fraction_of, per_seed_quantities,
                                            source_of, variants)
from papers.scaling_laws.params import Params
from repro.registry import load_registry


def test_names_and_sources() -> None:
    assert data_name(0.0625) == "data_1of16" and data_name(0.3) == "data_0p3"
    assert source_of(1.0) == "" and fraction_of(source_of(0.125)) == 0.125 and fraction_of("") == 1.0


def test_the_reference_is_shared_by_every_sweep_it_belongs_to() -> None:
    v = variants(Params())
    assert v[REFERENCE].settings[SWEEPS_SETTING] == {"data": "train_rows", "emb": "params", "width": "dense_params"}
    assert {n for n in v if n.startswith("data_")} == {"data_1of16", "data_1of8", "data_1of4", "data_1of2"}
    assert v["data_1of16"].source == source_of(0.0625) and v["emb_d64"].source == ""
    assert len(v) == 13
    assert "emb" not in variants(Params(dim=12))[REFERENCE].settings[SWEEPS_SETTING]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("fractions", (0.5, 1.0), "at least 4 distinct"),
    ("fractions", (0.25, 0.5, 1.0, 2.0), r"\(0, 1\]"),
    ("widths", (1, 4, 8, 16), "at least 2"),
])
def test_unfittable_sweeps_are_refused(field: str, value: tuple[float, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        variants(Params(**{field: value}))  # type: ignore[arg-type]


def test_every_claimed_quantity_is_made_by_every_profile() -> None:
    from papers.scaling_laws.experiment import study
    paper = load_registry()["scaling-laws"]
    claimed = {q.split(":")[0] for c in paper.claims for q in c.quantities()} - {SCALING}
    for name, profile in paper.profiles.items():
        ctx = SimpleNamespace(params=paper.parse_params(profile.params), data_dir=None, work_dir=None)
        models = {v.rpartition(LR_TRIAL)[0] for v in study(ctx).variants}  # type: ignore[arg-type]
        assert claimed <= models, (name, claimed - models)


def test_per_seed_quantities_of_an_exact_law() -> None:
    law = PowerLaw(2.0, 0.5, 0.6)
    x = np.array([100.0, 200.0, 400.0, 800.0, 1600.0])
    data = SweepTable("data", tuple("abcde"), x, (0, 1, 2), np.stack([law(x) + s * 0.01 for s in range(3)]))
    flat = SweepTable("emb", tuple("abcd"), x[:4], (0, 1, 2), np.full((3, 4), 0.8))
    runs = per_seed_quantities({"data": data, "emb": flat})
    assert [r.seed for r in runs] == [0, 1, 2] and all(r.model == SCALING for r in runs)
    first = runs[0].metrics
    assert first["data_abs_extrapolation_error"] < 1e-4 < first["data_abs_flat_error"]
    assert first["data_predicted_test_ne"] == pytest.approx(law(1600.0)[()], abs=1e-4)
    assert first["gain_per_doubling_data"] > 0 == first["gain_per_doubling_emb"]

"""The synthetic table generator against the published locality statistics (dlrm_datasets'
locality_stats.txt) and its expected-count model against sampled batches."""

from __future__ import annotations

import numpy as np
import pytest

from harness.sharding.generator import (
    PUBLISHED_INDICES,
    PUBLISHED_UNIQUE_ROWS,
    SELF_TEST_BOUND_ACCESS,
    SELF_TEST_BOUND_UNIQUE,
    SyntheticTables,
    locality_self_test,
)


def test_self_test_at_the_published_scale_is_within_the_stated_bounds() -> None:
    report = locality_self_test()  # expected counts, 856 tables, batch 65,536
    print(report.summary())
    assert report.l1_unique <= SELF_TEST_BOUND_UNIQUE
    assert report.l1_access <= SELF_TEST_BOUND_ACCESS
    assert report.within_bounds
    assert report.reuse == pytest.approx(PUBLISHED_INDICES / PUBLISHED_UNIQUE_ROWS, rel=0.05)


def test_expected_histograms_match_sampled_batches() -> None:
    tables = range(0, 856, 43)
    sampled = locality_self_test(method="sampled", tables=tables, batch_size=4096)
    expected = locality_self_test(method="expected", tables=tables, batch_size=4096)
    assert np.abs(np.subtract(sampled.unique_fraction, expected.unique_fraction)).sum() < 0.01
    assert np.abs(np.subtract(sampled.access_fraction, expected.access_fraction)).sum() < 0.02
    assert sampled.reuse == pytest.approx(expected.reuse, rel=0.02)


def test_generated_tables_carry_the_official_features() -> None:
    pool = SyntheticTables(5, seed=3, feature_batch=512)
    for table in pool.tables([16, 32, 16, 32, 16], truncate_pooling=True):
        assert table.row >= 100 and table.pooling_factor == int(table.pooling_factor)
        assert sum(table.bins) == pytest.approx(1.0) or sum(table.bins) == 0.0
    again = SyntheticTables(5, seed=3, feature_batch=512)
    assert again.table(2, 16, False) == pool.table(2, 16, False)  # regenerated identically
    assert again.fingerprint == pool.fingerprint != SyntheticTables(5, seed=4).fingerprint

"""Synthetic Census-Income (KDD) files: the native format with a planted signal, for smoke runs and tests.

Rows have the 42 ``", "``-separated fields of the official files, real values for the columns the
tasks are derived from (income label, marital status, education) and small vocabularies for the
other categoricals. A latent socio-economic score drives education, occupation, wages and
income; age drives marital status and the household columns, so all three tasks are learnable
from the features, and none of the label columns is needed to learn them. The numbers mean
nothing about the real data.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from harness.atomic import atomic_path
from harness.data import census

_EDUCATION_LADDER = (  # from low to high; the latent score picks a rung
    "Less than 1st grade", "5th or 6th grade", "9th grade", "11th grade", "High school graduate",
    "Some college but no degree", "Associates degree-academic program", census.BACHELORS, census.MASTERS,
    census.PROF_SCHOOL, census.DOCTORATE)
_VOCAB = {column: tuple(f"{column} {i}" for i in range(4)) for column in census.CATEGORICAL}
_VOCAB.update({
    "class_worker": ("Not in universe", "Private", "Self-employed-incorporated", "Federal government"),
    "race": ("White", "Black", "Asian or Pacific Islander", "Other"),
    "sex": ("Female", "Male"),
    "det_hh_fam_stat": ("Householder", "Spouse of householder", "Child <18 never marr not in subfamily",
                        "Secondary individual"),
    "mig_chg_msa": ("?", "Nonmover", "MSA to MSA"),
})


def _pick(rng: np.random.Generator, values: tuple[str, ...], n: int) -> np.ndarray:
    return np.asarray(values, dtype=object)[rng.integers(0, len(values), n)]


def synthetic_rows(n: int, seed: int) -> list[str]:
    """`n` lines (without newline) in the native census format, drawn with `seed`."""
    rng = np.random.default_rng(seed)
    age = rng.integers(0, 91, n)
    adult = age >= 18
    ses = rng.normal(size=n)
    rung = np.clip(np.round(4 + 2.2 * ses + rng.normal(scale=0.8, size=n)), 0, len(_EDUCATION_LADDER) - 1)
    education = np.where(age < 15, "Children", np.asarray(_EDUCATION_LADDER, dtype=object)[rung.astype(int)])
    never_married = rng.random(n) < 1 / (1 + np.exp(0.25 * (age - 27)))
    marital = np.where(never_married, "Never married",
                       _pick(rng, ("Married-civilian spouse present", "Divorced", "Widowed"), n))
    income_p = adult / (1 + np.exp(-(-3.6 + 1.6 * ses + 0.02 * np.minimum(age - 18, 30))))
    income = np.where(rng.random(n) < income_p, "50000+.", "- 50000.")
    columns: dict[str, np.ndarray] = {c: _pick(rng, _VOCAB[c], n) for c in census.CATEGORICAL}
    columns.update({
        "age": age.astype(str), "education": education, "marital_stat": marital, "income_50k": income,
        "det_occ_code": np.clip(np.round(20 + 6 * ses + rng.normal(scale=3, size=n)), 0, 46).astype(int).astype(str),
        "det_hh_fam_stat": np.where(never_married & (age < 25), "Child <18 never marr not in subfamily",
                                    columns["det_hh_fam_stat"]),
        "wage_per_hour": np.where(adult, np.maximum(0, np.round(800 + 400 * ses)), 0).astype(int).astype(str),
        "capital_gains": np.where(rng.random(n) < 0.05 * (1 + (ses > 1)), rng.integers(1, 20000, n), 0).astype(str),
        "capital_losses": np.zeros(n, dtype=int).astype(str),
        "stock_dividends": np.where(ses > 0.5, rng.integers(0, 5000, n), 0).astype(str),
        "instance_weight": np.char.mod("%.2f", rng.uniform(100, 4000, n)).astype(object),
        "num_emp": np.where(adult, rng.integers(0, 7, n), 0).astype(str),
        "weeks_worked": np.where(adult, rng.integers(0, 53, n), 0).astype(str),
        "year": rng.choice(("94", "95"), n).astype(object),
    })
    return [", ".join(fields) for fields in zip(*(columns[c] for c in census.COLUMNS))]


def write_synthetic_census(data_dir: Path, train_rows: int | None, test_rows: int, seed: int = 0) -> Path:
    """Write ``census_income_kdd/census-income.{data,test}.gz`` under `data_dir`, atomically.

    `train_rows` None writes only the test file (the fallback protocol). Returns the dataset folder.
    """
    folder = census.SPEC.path(data_dir, "")
    parts = [(census.TEST_FILE.name, test_rows, seed + 1)]
    if train_rows is not None:
        parts.append((census.TRAIN_FILE.name, train_rows, seed))
    for name, rows, part_seed in parts:
        with atomic_path(folder / name) as tmp:
            with gzip.open(tmp, "wt", encoding="ascii") as handle:
                handle.write("\n".join(synthetic_rows(rows, part_seed)) + "\n")
    return folder

"""UCI Census-Income (KDD): the dataset spec (official files, URLs, checksums).

The loader for the AdaTT protocol is added below the spec.
"""

from __future__ import annotations

from repro.harness.data.catalog import DatasetSpec, RawFile

UCI_BASE = "https://archive.ics.uci.edu/ml/machine-learning-databases/census-income-mld"

SPEC = DatasetSpec(
    id="census-income-kdd",
    title="UCI Census-Income (KDD), 1994/1995 Current Population Survey",
    folder="census_income_kdd",
    homepage="https://archive.ics.uci.edu/dataset/117/census+income+kdd",
    files=(
        # No checksum of the training file is published, and no trusted copy was at hand to take
        # one from: a download records the digest it saw and checks the row count (199,523).
        RawFile(name="census-income.data.gz", url=f"{UCI_BASE}/census-income.data.gz", sha256=None,
                rows=199_523, alternatives=("census-income.data.head1891",)),
        RawFile(name="census-income.test.gz", url=f"{UCI_BASE}/census-income.test.gz",
                sha256="5ac4cacd3ca9f1ecb10de1a0a41e4ac68fdc419e3fec190f5c0c6cc03b2ea659",
                rows=99_762, size=3_261_416),
    ),
    license="UCI Machine Learning Repository (CC BY 4.0 on UCI's current site); cite Dua & Graff and the donors",
)

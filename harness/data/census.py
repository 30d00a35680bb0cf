"""UCI Census-Income (KDD): the dataset spec, a strict parser, the three MTL tasks, features, protocols.

The official files (``census-income.data.gz``, 199,523 rows; ``census-income.test.gz``, 99,762
rows) hold 42 fields separated by ``", "``, no header: 40 attributes, the instance weight (field
25, a survey weight that UCI says is not a feature) and the label (field 42, ``- 50000.`` or
``50000+.``). ``?`` marks a missing value and is kept as a category of its own.

The multi-task benchmark of MMoE (Ma et al., KDD'18), PLE and AdaTT (Li et al., KDD'23, Sec. 4.3)
predicts three labels from the remaining attributes: income > 50K, marital status "never
married", and education "at least college". Those three source columns and the instance weight
are never features. Categories and min-max ranges are fit on the training part only and the
one-hot columns are aligned by name across splits (unlike BorealisAI/MMoEEx-MTL, whose
validation/test columns are shifted by one position after ``det_hh_fam_stat``).

:func:`load_census` chooses the protocol from the files present: the paper's (train = training
file, test file halved into validation and test) when the complete training file is there, else a
documented seeded split of the test file, which it names loudly in ``CensusData.notes`` and the
manifest and never presents as the paper's protocol.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterator

import numpy as np
import pandas as pd

from harness.data.catalog import DatasetSpec, RawFile, sha256_of
from harness.data.access import check_readable_file, folder_not_file, unreadable
from harness.errors import DataError

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
TRAIN_FILE, TEST_FILE = SPEC.files

# Field names in file order (UCI census-income.names; the spelling of BorealisAI/MMoEEx-MTL).
COLUMNS: tuple[str, ...] = (
    "age", "class_worker", "det_ind_code", "det_occ_code", "education", "wage_per_hour", "hs_college",
    "marital_stat", "major_ind_code", "major_occ_code", "race", "hisp_origin", "sex", "union_member",
    "unemp_reason", "full_or_part_emp", "capital_gains", "capital_losses", "stock_dividends",
    "tax_filer_stat", "region_prev_res", "state_prev_res", "det_hh_fam_stat", "det_hh_summ",
    "instance_weight", "mig_chg_msa", "mig_chg_reg", "mig_move_reg", "mig_same", "mig_prev_sunbelt",
    "num_emp", "fam_under_18", "country_father", "country_mother", "country_self", "citizenship",
    "own_or_self", "vet_question", "vet_benefits", "weeks_worked", "year", "income_50k",
)
NUM_FIELDS = len(COLUMNS)
INSTANCE_WEIGHT = "instance_weight"
# The columns the tasks are derived from: never features.
LABEL_SOURCES: tuple[str, ...] = ("income_50k", "marital_stat", "education")
CONTINUOUS: tuple[str, ...] = ("age", "wage_per_hour", "capital_gains", "capital_losses", "stock_dividends",
                               "num_emp", "weeks_worked", "year")
# Everything else is categorical, including the integer codes (industry/occupation recodes,
# own_or_self, vet_benefits), which MMoEEx fed in as raw integers.
CATEGORICAL: tuple[str, ...] = tuple(c for c in COLUMNS
                                     if c not in CONTINUOUS + LABEL_SOURCES + (INSTANCE_WEIGHT,))

# Task names, in the order of the label columns; the trainer names metrics after them.
TASKS: tuple[str, ...] = ("income", "never_married", "education")
INCOME_VALUES = {"- 50000.": 0.0, "50000+.": 1.0}
MARITAL_VALUES = frozenset({
    "Never married", "Married-civilian spouse present", "Married-spouse absent", "Separated",
    "Divorced", "Widowed", "Married-A F spouse present"})
BACHELORS, MASTERS, DOCTORATE = ("Bachelors degree(BA AB BS)", "Masters degree(MA MS MEng MEd MSW MBA)",
                                 "Doctorate degree(PhD EdD)")
PROF_SCHOOL = "Prof school degree (MD DDS DVM LLB JD)"
EDUCATION_VALUES = frozenset({
    "Children", "Less than 1st grade", "1st 2nd 3rd or 4th grade", "5th or 6th grade", "7th and 8th grade",
    "9th grade", "10th grade", "11th grade", "12th grade no diploma", "High school graduate",
    "Some college but no degree", "Associates degree-occup /vocational", "Associates degree-academic program",
    BACHELORS, MASTERS, DOCTORATE, PROF_SCHOOL})
# "Education at least college" (AdaTT Sec. 4.3.1). "mmoeex": what BorealisAI/MMoEEx-MTL, the
# framework AdaTT adapted, effectively computes (its Prof-school entry lacks the leading space
# every raw value carries and never matches). "bachelor_plus": the evident intent, Prof school included.
EDUCATION_LABELS: dict[str, frozenset[str]] = {
    "mmoeex": frozenset({BACHELORS, MASTERS, DOCTORATE}),
    "bachelor_plus": frozenset({BACHELORS, MASTERS, DOCTORATE, PROF_SCHOOL}),
}
DEFAULT_EDUCATION_LABEL = "mmoeex"

PAPER_PROTOCOL = "paper"
FALLBACK_PROTOCOL = "test-file-split"
SPLIT_SEED = 1  # MMoEEx's SEED: test file .sample(frac=0.5, random_state=1) -> validation
PROTOCOL_TEXT = {
    PAPER_PROTOCOL: ("the paper's protocol (AdaTT Sec. 4.3.1): train = census-income.data (199,523 rows); "
                     "census-income.test halved at random into validation and test "
                     "(validation = pandas sample(frac=0.5, random_state=1), as BorealisAI/MMoEEx-MTL)"),
    FALLBACK_PROTOCOL: ("NOT the paper's protocol: the complete training file census-income.data.gz is absent, "
                        f"so census-income.test is split at random (seed {SPLIT_SEED}) into 50% train / 25% "
                        "validation / 25% test; training sees about a quarter of the paper's rows, and train "
                        "and evaluation rows come from the same file"),
}


# ----------------------------------------------------------------------------- parsing

def _open_binary(path: Path) -> IO[bytes]:
    """Open `path` for reading bytes, decompressing when it starts with the gzip magic."""
    with path.open("rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else path.open("rb")  # type: ignore[return-value]


def _lines(path: Path) -> Iterator[bytes]:
    """The raw lines of `path` (gzip or plain), stopping quietly at a break in a gzip stream."""
    try:
        with _open_binary(path) as handle:
            yield from handle
    except (EOFError, OSError, zlib.error):
        return


def _raw_line(path: Path, lineno: int) -> str:
    """Line `lineno` (1-based) of `path` as text, for error messages."""
    for i, line in enumerate(_lines(path), start=1):
        if i == lineno:
            return line[:4096].decode("ascii", errors="replace").rstrip("\r\n") + ("…" * (len(line) > 4096))
    return ""


def _field_count(text: str) -> int:
    return len(text.split(",")) if text.strip() else 0


def _shown(value: object, limit: int = 80) -> str:
    """``repr`` of a field value for messages, cut to `limit` characters with its length noted."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(str(value)):,} characters)"


def _bad_line(path: Path, lineno: int, problem: str) -> DataError:
    """A :class:`DataError` naming the file, the line, its text (at most 160 characters) and the fix."""
    text = _raw_line(path, lineno)
    shown = text if len(text) <= 160 else f"{text[:157]}... ({len(text):,} characters)"
    return DataError(f"{path}, line {lineno}: {problem}.\n  line text: {shown!r}\n"
                     f"Fix: the file is not the official UCI Census-Income (KDD) file or was damaged; "
                     f"delete it and run `repro data download {SPEC.id}` (official files: {UCI_BASE}/).")


def _complete_lines(path: Path) -> int:
    """How many whole lines a broken gzip stream yields before it breaks off."""
    return sum(1 for line in _lines(path) if line.endswith(b"\n"))


def read_census_file(path: Path) -> pd.DataFrame:
    """Parse one native Census-Income file (gzip or plain) into 42 string columns, strictly.

    Every line must have exactly 42 fields, none empty; the label must be ``- 50000.`` or
    ``50000+.``; marital status and education must be known values; continuous fields must be
    numbers. Anything else raises :class:`DataError` naming the file, the line and its text.
    """
    check_readable_file(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found. Expected the official {SPEC.title} file "
                        f"(from {SPEC.homepage}). Fix: `repro data download {SPEC.id}` or point "
                        f"--data-dir / $REPRO_DATA_DIR at a folder holding {SPEC.folder}/.")
    try:
        with _open_binary(path) as handle:
            frame = pd.read_csv(handle, sep=",", skipinitialspace=True, header=None, names=list(COLUMNS),
                                dtype=str, engine="c", skip_blank_lines=False, keep_default_na=False,
                                na_values=[""], encoding="ascii")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty (no data lines). Fix: delete it and run "
                        f"`repro data download {SPEC.id}`.") from None
    except pd.errors.ParserError as exc:
        match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if not match:
            raise DataError(f"{path}: cannot be parsed as the census format ({_shown(str(exc), 200)}).") from None
        raise _bad_line(path, int(match.group(2)),
                        f"{match.group(3)} fields, expected {NUM_FIELDS} separated by ', '") from None
    except PermissionError:
        raise unreadable(path) from None
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        raise DataError(f"{path}: the gzip stream is truncated or corrupt ({exc}); it breaks off after "
                        f"line {_complete_lines(path)}. Fix: delete it and download it again "
                        f"(`repro data download {SPEC.id}`; official files: {UCI_BASE}/).") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not an ASCII text file ({_shown(str(exc), 120)}). Fix: delete it and run "
                        f"`repro data download {SPEC.id}`.") from None
    if frame.empty:
        raise DataError(f"{path}: the file is empty (no data lines). Fix: delete it and run "
                        f"`repro data download {SPEC.id}`.")
    _validate(frame, path)
    return frame


def _validate(frame: pd.DataFrame, path: Path) -> None:
    """Check field counts, labels, label-source vocabularies and numbers; raise on the first bad line."""
    holes = frame.isna().to_numpy()
    if holes.any():
        row = int(np.flatnonzero(holes.any(axis=1))[0])
        fields = _field_count(_raw_line(path, row + 1))
        problem = (f"{fields} fields, expected {NUM_FIELDS} separated by ', '" if fields != NUM_FIELDS else
                   f"field {int(np.flatnonzero(holes[row])[0]) + 1} "
                   f"({COLUMNS[int(np.flatnonzero(holes[row])[0])]}) is empty")
        raise _bad_line(path, row + 1, problem)
    checks = (("income_50k", frozenset(INCOME_VALUES)), ("marital_stat", MARITAL_VALUES),
              ("education", EDUCATION_VALUES))
    for column, allowed in checks:
        bad = ~frame[column].isin(allowed).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            expected = " or ".join(repr(v) for v in sorted(allowed)) if len(allowed) <= 2 else "a known value"
            raise _bad_line(path, row + 1, f"unknown value {_shown(frame[column].iat[row])} in field "
                            f"{COLUMNS.index(column) + 1} ({column}); expected {expected}")
    for column in CONTINUOUS + (INSTANCE_WEIGHT,):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy()
        if np.isnan(values).any():
            row = int(np.flatnonzero(np.isnan(values))[0])
            raise _bad_line(path, row + 1, f"field {COLUMNS.index(column) + 1} ({column}) is "
                            f"{_shown(frame[column].iat[row])}, not a number")


# ----------------------------------------------------------------------------- tasks and features

def task_labels(frame: pd.DataFrame, education_label: str = DEFAULT_EDUCATION_LABEL) -> np.ndarray:
    """The three binary labels of :data:`TASKS` as a float32 array ``[rows, 3]``."""
    if education_label not in EDUCATION_LABELS:
        raise DataError(f"unknown education label {education_label!r}; known: {', '.join(EDUCATION_LABELS)}")
    return np.stack([
        frame["income_50k"].map(INCOME_VALUES).to_numpy(dtype=np.float32),
        (frame["marital_stat"] == "Never married").to_numpy(dtype=np.float32),
        frame["education"].isin(EDUCATION_LABELS[education_label]).to_numpy(dtype=np.float32),
    ], axis=1)


@dataclass(frozen=True)
class FeatureEncoder:
    """One-hot categoricals and min-max continuous columns, fit on the training rows only.

    Categories unseen in training encode as all zeros; validation/test values outside the
    training range scale beyond [0, 1] (as sklearn's MinMaxScaler does).
    """

    categories: dict[str, tuple[str, ...]]
    minimum: dict[str, float]
    maximum: dict[str, float]

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> "FeatureEncoder":
        """Learn categories and ranges from the training rows `frame`."""
        numbers = {c: pd.to_numeric(frame[c]) for c in CONTINUOUS}
        return cls(categories={c: tuple(sorted(frame[c].unique())) for c in CATEGORICAL},
                   minimum={c: float(v.min()) for c, v in numbers.items()},
                   maximum={c: float(v.max()) for c, v in numbers.items()})

    @property
    def feature_names(self) -> list[str]:
        """Column names of :meth:`transform`'s output: continuous first, then ``<column>=<value>``."""
        return list(CONTINUOUS) + [f"{c}={v}" for c in CATEGORICAL for v in self.categories[c]]

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Encode `frame` into a float32 matrix ``[rows, len(feature_names)]``."""
        widths = [len(self.categories[c]) for c in CATEGORICAL]
        out = np.zeros((len(frame), len(CONTINUOUS) + sum(widths)), dtype=np.float32)
        for j, column in enumerate(CONTINUOUS):
            span = self.maximum[column] - self.minimum[column]
            values = pd.to_numeric(frame[column]).to_numpy(dtype=np.float64)
            out[:, j] = (values - self.minimum[column]) / (span if span > 0 else 1.0)
        offset, rows = len(CONTINUOUS), np.arange(len(frame))
        for column, width in zip(CATEGORICAL, widths):
            codes = pd.Index(self.categories[column]).get_indexer(frame[column])
            seen = codes >= 0
            out[rows[seen], offset + codes[seen]] = 1.0
            offset += width
        return out


EVAL_ENCODINGS = ("aligned", "mmoeex")


# The category the official test file lacks (BorealisAI/MMoEEx-MTL appends its column at the end).
MMOEEX_MISSING_CATEGORY = ("det_hh_fam_stat", "Grandchild <18 ever marr not in subfamily")


def mmoeex_encoders(train: FeatureEncoder, source: pd.DataFrame
                    ) -> tuple[FeatureEncoder, Callable[[pd.DataFrame], np.ndarray], int]:
    """Training and evaluation encoders with the misalignment of the pipeline AdaTT's numbers come from.

    BorealisAI/MMoEEx-MTL encodes its training file and its test file separately: min-max ranges
    fit per file, ``pd.get_dummies`` per file, and the one category the official test file lacks
    (``det_hh_fam_stat`` = "Grandchild <18 ever marr not in subfamily") appended to the test
    frame as a zero column at the **end**; the tensors are fed positionally, so every evaluation
    column after that category's place feeds its left neighbour's weights (207 of 482 columns on
    the official files; ../shared/research/papers-models.md, "Verified claims", adatt).

    Emulated on our encoding: the training layout holds the category at its sorted place (a zero
    column when no training row has it); evaluation rows, `source` standing for the test file, are
    scaled with their own min-max ranges, encoded in the training layout, and that column is moved
    to the end. Returns ``(training_encoder, encode_eval, shifted_columns)``.
    """
    column, missing = MMOEEX_MISSING_CATEGORY
    categories = dict(train.categories)
    categories[column] = tuple(sorted({*categories[column], missing}))
    widened = FeatureEncoder(categories=categories, minimum=train.minimum, maximum=train.maximum)
    own = FeatureEncoder.fit(source)
    evaluation = FeatureEncoder(categories=categories, minimum=own.minimum, maximum=own.maximum)
    position = widened.feature_names.index(f"{column}={missing}")
    width = len(widened.feature_names)

    def encode_eval(frame: pd.DataFrame) -> np.ndarray:
        encoded = evaluation.transform(frame)
        return np.concatenate([encoded[:, :position], encoded[:, position + 1:], encoded[:, position:position + 1]],
                              axis=1)

    return widened, encode_eval, width - position


# ----------------------------------------------------------------------------- protocol

@dataclass
class CensusData:
    """Encoded splits (``train``/``val``/``test``), their labels, and the dataset manifest.

    `notes` are sentences the run must show the user (the protocol in force above all).
    """

    features: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    feature_names: list[str]
    protocol: str
    manifest: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    tasks: tuple[str, ...] = TASKS


def find_file(data_dir: Path, raw: RawFile) -> Path | None:
    """The present copy of `raw` under `data_dir`: its official name, the name without ``.gz``, then alternatives."""
    names = (raw.name, raw.name.removesuffix(".gz"), *raw.alternatives)
    for name in names:
        candidate = SPEC.path(data_dir, name)
        if candidate.is_file():
            return candidate
    for name in names:
        if SPEC.path(data_dir, name).is_dir():
            raise folder_not_file(SPEC.path(data_dir, name))
    return None


def _file_record(path: Path, raw: RawFile, rows: int, official: bool) -> dict[str, Any]:
    digest = sha256_of(path)
    return {"name": raw.name, "path": str(path), "sha256": digest, "rows": rows, "bytes": path.stat().st_size,
            "complete": rows == raw.rows,
            "checksum_ok": (digest == raw.sha256) if (official and raw.sha256 and path.name == raw.name) else None}


def _check_rows(path: Path, raw: RawFile, rows: int) -> None:
    """An official-name file must have the official row count (a cut file is not silently used)."""
    if raw.rows is not None and rows != raw.rows:
        raise DataError(f"{path}: {rows:,} rows, but the official {raw.name} has {raw.rows:,}. The file is "
                        f"incomplete or not the official one. Fix: delete it and run "
                        f"`repro data download {SPEC.id}` (official: {raw.url}).")


def load_census(data_dir: Path, education_label: str = DEFAULT_EDUCATION_LABEL, official: bool = True,
                eval_encoding: str = "aligned") -> CensusData:
    """Parse the census files under ``data_dir/census_income_kdd`` and build the three splits.

    With the complete training file: the paper's protocol. With it absent, or only its head
    sample (``census-income.data.head1891``) present: the seeded 50/25/25 split of the test file,
    announced in `notes` and the manifest. `official` checks row counts against the published
    ones (off for synthetic files in the census format). `eval_encoding` ``"aligned"`` encodes
    validation and test rows with the training encoder; ``"mmoeex"`` emulates the pipeline the
    paper's numbers come from (:func:`mmoeex_eval_encoder`: own scaling, shifted one-hot columns).
    """
    if eval_encoding not in EVAL_ENCODINGS:
        raise DataError(f"unknown eval_encoding {eval_encoding!r}; known: {', '.join(EVAL_ENCODINGS)}")
    test_path = find_file(data_dir, TEST_FILE)
    if test_path is None:
        SPEC.require(data_dir, [TEST_FILE.name])
    assert test_path is not None
    test_frame = read_census_file(test_path)
    if official:
        _check_rows(test_path, TEST_FILE, len(test_frame))
    files = [_file_record(test_path, TEST_FILE, len(test_frame), official)]
    train_path = find_file(data_dir, TRAIN_FILE)
    is_head = train_path is not None and train_path.name in TRAIN_FILE.alternatives
    notes: list[str] = []
    if train_path is not None and not is_head:
        train_frame = read_census_file(train_path)
        if official:
            _check_rows(train_path, TRAIN_FILE, len(train_frame))
        files.insert(0, _file_record(train_path, TRAIN_FILE, len(train_frame), official))
        val_rows = test_frame.sample(frac=0.5, replace=False, random_state=SPLIT_SEED).index.to_numpy()
        test_rows = np.setdiff1d(np.arange(len(test_frame)), val_rows)
        frames = {"train": train_frame, "val": test_frame.iloc[np.sort(val_rows)],
                  "test": test_frame.iloc[test_rows]}
        protocol = PAPER_PROTOCOL
    else:
        order = np.random.default_rng(SPLIT_SEED).permutation(len(test_frame))
        n_train, n_val = len(order) // 2, len(order) // 4
        frames = {"train": test_frame.iloc[np.sort(order[:n_train])],
                  "val": test_frame.iloc[np.sort(order[n_train:n_train + n_val])],
                  "test": test_frame.iloc[np.sort(order[n_train + n_val:])]}
        protocol = FALLBACK_PROTOCOL
        found = f"only its {train_path.name} head sample is present (unused)" if is_head and train_path else "it is absent"
        notes.append(f"PROTOCOL: {PROTOCOL_TEXT[FALLBACK_PROTOCOL]}. (Looked for "
                     f"{SPEC.path(data_dir, TRAIN_FILE.name)}: {found}.) Put the official file there "
                     f"(`repro data download {SPEC.id}`) to run the paper's protocol.")
    encoder = FeatureEncoder.fit(frames["train"])
    features = {name: encoder.transform(frame) for name, frame in frames.items()}
    shifted, names = 0, encoder.feature_names
    if eval_encoding == "mmoeex":
        widened, encode_eval, shifted = mmoeex_encoders(encoder, pd.concat([frames["val"], frames["test"]]))
        features = {"train": widened.transform(frames["train"]), "val": encode_eval(frames["val"]),
                    "test": encode_eval(frames["test"])}
        names = widened.feature_names
        notes.append(f"PAPER-FAITHFUL EVALUATION ENCODING (the defect of BorealisAI/MMoEEx-MTL, whose pipeline gave "
                     f"the paper's numbers): validation and test rows are min-max scaled with their own ranges and "
                     f"the one-hot column of det_hh_fam_stat = '{MMOEEX_MISSING_CATEGORY[1]}' is moved to the end, "
                     f"so the last {shifted} of {len(names)} input columns feed their left neighbour's weights "
                     f"(207 of 482 on the official files with MMoEEx's encoding).")
    labels = {name: task_labels(frame, education_label) for name, frame in frames.items()}
    manifest = {
        "dataset": SPEC.id, "files": files, "protocol": protocol, "protocol_text": PROTOCOL_TEXT[protocol],
        "paper_protocol": protocol == PAPER_PROTOCOL, "official_files": official,
        "split_seed": SPLIT_SEED, "split_sizes": {name: len(frame) for name, frame in frames.items()},
        "tasks": list(TASKS), "education_label": education_label,
        "education_positive_values": sorted(EDUCATION_LABELS[education_label]),
        "label_rates": {name: {task: round(float(lab[:, t].mean()), 6) for t, task in enumerate(TASKS)}
                        for name, lab in labels.items()},
        "num_features": len(names),
        "eval_encoding": eval_encoding, "shifted_eval_columns": shifted,
        "excluded_from_features": [*LABEL_SOURCES, INSTANCE_WEIGHT],
    }
    return CensusData(features=features, labels=labels, feature_names=names,
                      protocol=protocol, manifest=manifest, notes=notes)

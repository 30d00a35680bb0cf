"""MovieLens 100K / 1M / 20M / 25M / latest: ratings with user, item and genre features.

Raw files (GroupLens layouts, unzipped into ``<data dir>/movielens_<size>/``):

* 100K: ``ml-100k/u.data`` (``user \\t item \\t rating \\t time``), ``u.item`` (``|``, Latin-1, 19
  genre flags), ``u.user`` (``id|age|gender|occupation|zip``).
* 1M: ``ml-1m/ratings.dat`` (``::``; the shared 100,000-rating sample ``ratings.sample100k.dat`` is
  accepted in its place), ``movies.dat`` (``id::title::G1|G2``, Latin-1), ``users.dat``
  (``id::gender::age::occupation::zip``).
* 20M / 25M / latest: ``ratings.csv`` (``userId,movieId,rating,timestamp`` with a header) and
  ``movies.csv``; these have no user file.

Protocols: ``movielens-<size>`` keeps the explicit rating (float label 0.5-5);
``movielens-<size>-ctr`` is the implicit/CTR protocol, label = 1 if rating >= 4 else 0. Both split
the ratings randomly 8:1:1 (train/val/test) with a fixed seed (2024). Single-valued keys:
``user_id``, ``item_id`` and, where a user file exists, ``gender``, ``age``, ``occupation``, ``zip``;
the jagged (multi-hot) key ``genres`` holds the item's genres. There are no dense features.
A rating whose user or item is missing from the side files is a malformed line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from harness.data.catalog import DatasetSpec, RawFile
from harness.data.delimited import Arrays, LineFormat, parse_delimited
from harness.data.download import archive_member_url
from harness.data.encoders import DictionaryEncoder
from harness.data.jagged import take_jagged
from harness.data.pipeline import ParsedRows, TabularJob
from harness.data.splits import SPLITS, random_split_rule
from harness.data.textblocks import TextBlock
from harness.errors import DataError

USER_KEYS = ("gender", "age", "occupation", "zip")
GROUPLENS = "https://files.grouplens.org/datasets/movielens"
RATING_TYPES = {"user_id": pa.int64(), "item_id": pa.int64(), "rating": pa.float64(), "timestamp": pa.int64()}
RATING_PATTERNS = {"user_id": (r"^[0-9]+$", "an integer id"), "item_id": (r"^[0-9]+$", "an integer id"),
                   "rating": (r"^[0-9]+(\.[0-9]+)?$", "a number"), "timestamp": (r"^[0-9]+$", "integer seconds")}
SPLIT_SEED = 2024


def _ratings_format(sep: bytes, header: bytes | None = None, replace: tuple[bytes, bytes] | None = None) -> LineFormat:
    """The ratings line format (4 numeric fields) with its separator."""
    return LineFormat(name="MovieLens ratings", sep=sep, columns=tuple(RATING_TYPES), types=RATING_TYPES,
                      patterns=RATING_PATTERNS, header=header, replace=replace)


@dataclass(frozen=True)
class SideTables:
    """User attributes (raw codes by user id; -1 = unknown user) and item genres (CSR by item id)."""

    user_attrs: np.ndarray | None
    known_items: np.ndarray
    genre_values: np.ndarray
    genre_offsets: np.ndarray
    n_genres: int


def _genre_csr(item_ids: np.ndarray, genre_lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR of genre ids indexed by raw item id, and the mask of known item ids."""
    size = int(item_ids.max()) + 1 if len(item_ids) else 1
    lengths = np.zeros(size, dtype=np.int64)
    per_item: dict[int, list[int]] = dict(zip(item_ids.tolist(), genre_lists))
    for item, genres in per_item.items():
        lengths[item] = len(genres)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    values = np.fromiter((g for item in range(size) for g in per_item.get(item, [])), dtype=np.int64,
                         count=int(offsets[-1]))
    known = np.zeros(size, dtype=bool)
    known[item_ids] = True
    return values, offsets, known


def _split_genres(names: pd.Series, vocab: dict[str, int]) -> list[list[int]]:
    """Genre-name lists ("A|B") as genre ids; "(no genres listed)" gives none."""
    return [[vocab[g] for g in text.split("|") if g in vocab] for text in names]


def _genre_vocab(names: pd.Series) -> dict[str, int]:
    """Sorted genre vocabulary of "A|B" genre strings."""
    genres = sorted({g for text in names for g in text.split("|") if g and g != "(no genres listed)"})
    return {g: i for i, g in enumerate(genres)}


def _read_side(path: Path, sep: str, names: list[str]) -> pd.DataFrame:
    """A small side file (items or users) read whole; a DataError naming the file if it is malformed."""
    try:
        return pd.read_csv(path, sep=sep, names=names, header=None, engine="python" if len(sep) > 1 else "c",
                           encoding="latin-1", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path}: could not be read as a MovieLens side file ({exc}); it should have the "
                        f"fields {', '.join(names)} separated by {sep!r}.") from exc


def _user_codes(users: pd.DataFrame) -> np.ndarray:
    """[max user id + 1, 4] raw codes of gender/age/occupation/zip (factorised strings; -1 unknown user)."""
    ids = users["id"].astype(np.int64).to_numpy()
    table = np.full((int(ids.max()) + 1, len(USER_KEYS)), -1, dtype=np.int64)
    for j, key in enumerate(USER_KEYS):
        table[ids, j] = pd.factorize(users[key], sort=True)[0]
    return table


def side_100k(items_path: Path, users_path: Path) -> SideTables:
    """Side tables of ml-100k (``u.item`` genre flags, ``u.user``)."""
    flags = [f"g{i}" for i in range(19)]
    items = _read_side(items_path, "|", ["id", "title", "date", "video", "url", *flags])
    users = _read_side(users_path, "|", ["id", "age", "gender", "occupation", "zip"])
    genre_matrix = items[flags].astype(np.int64).to_numpy()
    values, offsets, known = _genre_csr(items["id"].astype(np.int64).to_numpy(),
                                        [list(np.flatnonzero(row)) for row in genre_matrix])
    return SideTables(_user_codes(users), known, values, offsets, len(flags))


def side_1m(movies_path: Path, users_path: Path) -> SideTables:
    """Side tables of ml-1m (``movies.dat``, ``users.dat``)."""
    movies = _read_side(movies_path, "::", ["id", "title", "genres"])
    users = _read_side(users_path, "::", ["id", "gender", "age", "occupation", "zip"])
    vocab = _genre_vocab(movies["genres"])
    values, offsets, known = _genre_csr(movies["id"].astype(np.int64).to_numpy(),
                                        _split_genres(movies["genres"], vocab))
    return SideTables(_user_codes(users), known, values, offsets, len(vocab))


def side_csv(movies_path: Path) -> SideTables:
    """Side tables of ml-20m/25m/latest (``movies.csv``; no user file)."""
    movies = pd.read_csv(movies_path, dtype=str, keep_default_na=False)
    vocab = _genre_vocab(movies["genres"])
    values, offsets, known = _genre_csr(movies["movieId"].astype(np.int64).to_numpy(),
                                        _split_genres(movies["genres"], vocab))
    return SideTables(None, known, values, offsets, len(vocab))


@dataclass(frozen=True)
class Variant:
    """One MovieLens release: its spec, ratings format and side-table reader."""

    size: str
    spec: DatasetSpec
    ratings: str
    line_format: LineFormat
    read_side: Callable[..., SideTables]

    @property
    def has_users(self) -> bool:
        """Whether the release ships a user file (100K and 1M do)."""
        return len(self.spec.files) == 3

    def keys(self) -> tuple[str, ...]:
        """The single-valued categorical keys of this release."""
        return ("user_id", "item_id", *(USER_KEYS if self.has_users else ()))


def _spec(size: str, sub: str, files: tuple[RawFile, ...], note: str) -> DatasetSpec:
    """A GroupLens MovieLens spec (folder ``movielens_<size>``)."""
    return DatasetSpec(id=f"movielens-{size}", title=f"MovieLens {size.upper()} (GroupLens)",
                       folder=f"movielens_{size}", homepage="https://grouplens.org/datasets/movielens/",
                       files=files, license="GroupLens: research use, no redistribution, cite Harper & Konstan 2015",
                       download_note=f"`repro data download movielens-{size}` fetches {GROUPLENS}/{sub}.zip, checks it "
                                     f"against GroupLens's published MD5 and unpacks it into <data dir>/movielens_{size}/ "
                                     f"({note})")


def zip_member_url(member: str) -> str:
    """Where `member` (``ml-<release>/<file>``) is published: inside the release's GroupLens zip."""
    return archive_member_url(f"{GROUPLENS}/{member.split('/')[0]}.zip", member)


def _csv_variant(size: str, sub: str, rows: int | None) -> Variant:
    """A csv-format release (20M, 25M, latest)."""
    files = (RawFile(f"{sub}/ratings.csv", url=zip_member_url(f"{sub}/ratings.csv"), rows=rows),
             RawFile(f"{sub}/movies.csv", url=zip_member_url(f"{sub}/movies.csv")))
    return Variant(size, _spec(size, sub, files, f"it holds {sub}/ratings.csv"), f"{sub}/ratings.csv",
                   _ratings_format(b",", header=b"userId,"), side_csv)


VARIANTS = {
    "100k": Variant("100k", _spec("100k", "ml-100k", (
        RawFile("ml-100k/u.data", url=zip_member_url("ml-100k/u.data"), rows=100_000,
                sha256="06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"),
        RawFile("ml-100k/u.item", url=zip_member_url("ml-100k/u.item"), rows=1_682,
                sha256="553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701"),
        RawFile("ml-100k/u.user", url=zip_member_url("ml-100k/u.user"), rows=943,
                sha256="f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c")),
        "it holds ml-100k/u.data"), "ml-100k/u.data", _ratings_format(b"\t"), side_100k),
    "1m": Variant("1m", _spec("1m", "ml-1m", (
        RawFile("ml-1m/ratings.dat", url=zip_member_url("ml-1m/ratings.dat"), rows=1_000_209,
                alternatives=("ml-1m/ratings.sample100k.dat",)),
        RawFile("ml-1m/movies.dat", url=zip_member_url("ml-1m/movies.dat"), rows=3_883,
                sha256="0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9"),
        RawFile("ml-1m/users.dat", url=zip_member_url("ml-1m/users.dat"), rows=6_040,
                sha256="1dc3a95300cb19f7c10e027daf29b8cdf1d908dab65b5edfb45950aa389a10a3")),
        "it holds ml-1m/ratings.dat"), "ml-1m/ratings.dat", _ratings_format(b"\t", replace=(b"::", b"\t")),
        side_1m),
    "20m": _csv_variant("20m", "ml-20m", 20_000_263),
    "25m": _csv_variant("25m", "ml-25m", 25_000_095),
    "latest": _csv_variant("latest", "ml-latest", None),
}


def _parser(variant: Variant, side: SideTables, ctr: bool) -> Callable[[TextBlock, Path, bool], ParsedRows]:
    """The block parser of `variant`: ratings joined with the side tables, labels per protocol."""
    has_users = side.user_attrs is not None

    def convert(table: pa.Table) -> tuple[Arrays, dict[int, str]]:
        users = table.column("user_id").to_numpy(zero_copy_only=False).astype(np.int64)
        items = table.column("item_id").to_numpy(zero_copy_only=False).astype(np.int64)
        rating = table.column("rating").to_numpy(zero_copy_only=False).astype(np.float64)
        problems: dict[int, str] = {}
        for row in np.flatnonzero(~((rating >= 0.5) & (rating <= 5))):
            problems[int(row)] = "the rating must lie in [0.5, 5]"
        item_ok = (items >= 0) & (items < len(side.known_items))
        item_ok[item_ok] = side.known_items[items[item_ok]]
        for row in np.flatnonzero(~item_ok):
            problems.setdefault(int(row), f"item {items[row]} is not in the item file")
        cat = [users, items]
        if side.user_attrs is not None:
            user_ok = (users >= 0) & (users < len(side.user_attrs))
            attrs = np.full((len(users), len(USER_KEYS)), -1, dtype=np.int64)
            attrs[user_ok] = side.user_attrs[users[user_ok]]
            for row in np.flatnonzero(~user_ok | (attrs[:, 0] < 0)):
                problems.setdefault(int(row), f"user {users[row]} is not in the user file")
            cat += [attrs[:, j] for j in range(len(USER_KEYS))]
        return (rating, np.stack(cat, axis=1)), problems

    def parse(block: TextBlock, path: Path, skip_bad_lines: bool) -> ParsedRows:
        parsed = parse_delimited(variant.line_format, block, path, convert, skip_bad_lines)
        rating, cat = parsed.arrays
        labels = (rating >= 4).astype(np.float32) if ctr else rating.astype(np.float32)
        genres = take_jagged(side.genre_values, side.genre_offsets, cat[:, 1])
        return ParsedRows(labels=labels, dense=np.zeros((len(labels), 0), np.float32), cat=cat,
                          skipped=parsed.skipped, padded=parsed.padded, jagged={"genres": genres})

    return parse


def movielens_params(size: str, ctr: bool, seed: int = SPLIT_SEED) -> dict[str, object]:
    """The protocol parameters of a MovieLens id (they name its cache folder)."""
    return {"protocol": "implicit/CTR: label = rating >= 4" if ctr else "explicit rating",
            "split": "random 8:1:1", "seed": seed, "release": size}


def movielens_job(size: str, ctr: bool, sources: list[Path], seed: int = SPLIT_SEED) -> TabularJob:
    """The MovieLens job for release `size` from [ratings, items(, users)] (CTR protocol if `ctr`)."""
    variant = VARIANTS[size]
    side = variant.read_side(*sources[1:])
    keys = variant.keys()
    return TabularJob(dataset_id=f"movielens-{size}{'-ctr' if ctr else ''}", sources=sources[:1],
                      parse=_parser(variant, side, ctr), encoder=DictionaryEncoder(len(keys)),
                      split_rule=lambda rows: random_split_rule(rows, (0.8, 0.1, 0.1), seed), split_names=SPLITS,
                      dense_names=(), sparse_names=keys, label_name="rating" if not ctr else "click",
                      params=movielens_params(size, ctr, seed), jagged_names=("genres",), jagged_sizes={"genres": side.n_genres})

"""The paper registry: the 33-paper catalog plus each implemented paper's ``paper.toml``.

Planned papers come from ``repro/catalog.toml``. A paper is *implemented* when
``papers/<id>/paper.toml`` exists; that file declares its metadata, profiles and claims as data
and is validated on load: an unknown key, a missing field or a bad value raises
:class:`~harness.errors.ConfigError` naming the file and the key. A paper's profile parameters
are typed by the ``Params`` dataclass of its ``papers/<id>/params.py``
(:func:`harness.params.parse_params`): every profile's ``params`` table is checked against it here.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.util
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import papers
from repro.claims import KINDS, RELATION_OPS, Claim
from harness.errors import ConfigError, UserError
from harness.params import apply_overrides, parse_params

CATALOG_PATH = Path(__file__).with_name("catalog.toml")
PAPERS_DIR = Path(papers.__file__).resolve().parent  # the installed `papers` package, wheel or checkout
PROFILES = ("smoke", "default", "full")


@dataclass(frozen=True)
class Profile:
    """One scale of a reproduction: its default seed count and the paper's parameters for it."""

    name: str
    description: str
    seeds: int
    params: dict[str, Any]
    threads: int | None = None  # torch CPU threads per process; None = torch's default (one per core)
    jobs: int = 1  # (model, seed) trainings run side by side in worker processes


@dataclass(frozen=True)
class Paper:
    """A catalog entry; `implemented` papers also carry profiles, claims and their folder."""

    id: str
    title: str
    arxiv: str
    year: int
    family: str
    public_data: str
    implemented: bool = False
    authors: tuple[str, ...] = ()
    venue: str = ""
    datasets: tuple[str, ...] = ()
    code: str = ""
    profiles: dict[str, Profile] = field(default_factory=dict)
    claims: tuple[Claim, ...] = ()
    folder: Path | None = None
    protocol: dict[str, Any] = field(default_factory=dict)  # [paper_protocol]: the paper's own setup
    params_type: type | None = None

    def parse_params(self, raw: dict[str, Any], overrides: list[str] | None = None,
                     where: str = "params") -> Any:
        """`raw` profile parameters with the ``--set`` `overrides` applied, as the paper's ``Params``."""
        if self.params_type is None:
            raise ConfigError(f"{self.id}: no papers/{self.id.replace('-', '_')}/params.py declares its Params")
        if overrides:
            raw = apply_overrides(raw, overrides)
            where = f"{where} (with --set {' --set '.join(overrides)})"
        return parse_params(self.params_type, raw, where)

    @property
    def status(self) -> str:
        """``implemented`` or ``planned``."""
        return "implemented" if self.implemented else "planned"

    def experiment(self) -> Callable[..., Any]:
        """The paper's ``experiment.run`` function."""
        module: ModuleType = importlib.import_module(f"papers.{self.id.replace('-', '_')}.experiment")
        return module.run

    def figures_notebook(self) -> Path | None:
        """The paper's papermill figure notebook, if it has one."""
        if self.folder is None:
            return None
        path = self.folder / "figures.ipynb"
        return path if path.exists() else None


# ---------------------------------------------------------------- validation helpers

_CATALOG_KEYS = {"id": str, "title": str, "arxiv": str, "year": int, "family": str, "public_data": str,
                 "arxiv_confirmed": bool, "role": str}
_PAPER_KEYS = {"id": str, "title": str, "authors": list, "venue": str, "year": int, "arxiv": str,
               "family": str, "datasets": list, "code": str, "profiles": dict, "claims": list,
               "paper_protocol": dict}
_PAPER_REQUIRED = ("id", "title", "authors", "venue", "year", "arxiv", "datasets", "profiles", "claims")
_PROFILE_KEYS = {"description": str, "seeds": int, "params": dict, "threads": int, "jobs": int}
_CLAIM_KEYS = {"id": str, "kind": str, "statement": str, "source": str, "lhs": str, "op": str, "rhs": str,
               "paper_lhs": float, "paper_rhs": float, "paper_value": float, "tolerance": float,
               "alpha": float, "transferred": bool, "paired": bool}
# [paper_protocol]: the paper's setup in words, shown beside each run's own (see runner.run_protocol)
PROTOCOL_KEYS = ("data", "rows", "epochs", "seeds", "recipe")
_PROTOCOL_KEYS: dict[str, type] = {**{k: str for k in PROTOCOL_KEYS}, "source": str}


def _check_keys(table: dict[str, Any], allowed: dict[str, type], required: tuple[str, ...], where: str) -> None:
    """Reject unknown keys, missing keys and values of the wrong type, naming `where` and the key."""
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{where}: unknown key '{key}'{hint}; allowed: {', '.join(sorted(allowed))}")
    for key in required:
        if key not in table:
            raise ConfigError(f"{where}: missing required key '{key}'")
    for key, value in table.items():
        expected = allowed[key]
        ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
        if expected is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok:
            raise ConfigError(f"{where}: key '{key}' must be {expected.__name__}, got {type(value).__name__} {value!r}")


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def _parse_claim(raw: dict[str, Any], where: str) -> Claim:
    """Validate one ``[[claims]]`` table into a :class:`Claim`."""
    _check_keys(raw, _CLAIM_KEYS, ("id", "kind", "statement", "source", "lhs"), where)
    kind = raw["kind"]
    if kind == "relation":
        if "rhs" not in raw:
            raise ConfigError(f"{where}: key 'rhs' is required for kind = \"relation\"")
        if raw.get("op", ">") not in RELATION_OPS:
            raise ConfigError(f"{where}: key 'op' must be one of {', '.join(RELATION_OPS)}, got {raw['op']!r}")
        if "paper_value" in raw:
            raise ConfigError(f"{where}: key 'paper_value' belongs to kind = \"value\"; use paper_lhs/paper_rhs")
    elif kind == "value":
        if "paper_value" not in raw or "tolerance" not in raw:
            raise ConfigError(f"{where}: kind = \"value\" needs keys 'paper_value' and 'tolerance'")
        if "rhs" in raw:
            raise ConfigError(f"{where}: key 'rhs' belongs to kind = \"relation\"")
    elif kind == "fact":
        if "rhs" in raw and raw.get("op", ">") not in RELATION_OPS:
            raise ConfigError(f"{where}: key 'op' must be one of {', '.join(RELATION_OPS)}, got {raw['op']!r}")
    else:
        raise ConfigError(f"{where}: key 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    if raw.get("paired") and kind != "relation":
        raise ConfigError(f"{where}: key 'paired' belongs to kind = \"relation\"")
    for key in ("lhs", "rhs"):
        if key in raw and ":" not in raw[key]:
            raise ConfigError(f"{where}: key '{key}' must be '<model>:<metric>', got {raw[key]!r}")
    if not 0 < raw.get("alpha", 0.05) < 0.5:
        raise ConfigError(f"{where}: key 'alpha' must lie in (0, 0.5), got {raw['alpha']!r}")
    if raw.get("tolerance", 0.0) < 0:
        raise ConfigError(f"{where}: key 'tolerance' must be >= 0, got {raw['tolerance']!r}")
    floats = {k: float(v) for k, v in raw.items() if _CLAIM_KEYS[k] is float}
    return Claim(**{**raw, **floats})


def _params_type(path: Path) -> type:
    """The ``Params`` dataclass of the ``params.py`` next to `path` (a ``paper.toml``).

    Papers of the installed ``papers`` package are imported by module name (worker processes
    unpickle their parameters by it); a folder elsewhere (tests) is loaded from its file.
    """
    file = path.with_name("params.py")
    if not file.exists():
        raise ConfigError(f"{path}: {file} is missing; an implemented paper declares its typed profile "
                          "parameters there (a frozen dataclass named Params, see harness/params.py)")
    if path.parent.parent.resolve() == PAPERS_DIR:
        module = importlib.import_module(f"papers.{path.parent.name}.params")
    else:
        spec = importlib.util.spec_from_file_location(f"_paper_params_{path.parent.name}_{abs(hash(str(file)))}", file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    params_type = getattr(module, "Params", None)
    if not dataclasses.is_dataclass(params_type):
        raise ConfigError(f"{module.__file__}: must declare Params, a frozen dataclass of the profile parameters")
    return params_type  # type: ignore[return-value]


def _parse_profiles(raw: dict[str, Any], path: Path, params_type: type) -> dict[str, Profile]:
    profiles: dict[str, Profile] = {}
    for name, table in raw.items():
        where = f"{path}: [profiles.{name}]"
        if name not in PROFILES:
            raise ConfigError(f"{path}: unknown profile '{name}'; profiles are {', '.join(PROFILES)}")
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table")
        _check_keys(table, _PROFILE_KEYS, ("description", "seeds"), where)
        if table["seeds"] < 1:
            raise ConfigError(f"{where}: key 'seeds' must be >= 1, got {table['seeds']}")
        for key in ("threads", "jobs"):
            if table.get(key, 1) < 1:
                raise ConfigError(f"{where}: key '{key}' must be >= 1, got {table[key]}")
        parse_params(params_type, table.get("params", {}), f"{where} params")
        profiles[name] = Profile(name=name, description=table["description"], seeds=table["seeds"],
                                 params=dict(table.get("params", {})), threads=table.get("threads"),
                                 jobs=table.get("jobs", 1))
    for name in PROFILES:
        if name not in profiles:
            raise ConfigError(f"{path}: missing profile [profiles.{name}]; every paper declares {', '.join(PROFILES)}")
    return profiles


def load_paper_file(path: Path, entry: dict[str, Any]) -> Paper:
    """Validate ``papers/<id>/paper.toml`` against its catalog `entry` and build the :class:`Paper`."""
    raw = _load_toml(path)
    _check_keys(raw, _PAPER_KEYS, _PAPER_REQUIRED, str(path))
    if raw["id"] != entry["id"]:
        raise ConfigError(f"{path}: key 'id' is {raw['id']!r} but the folder is papers/{entry['id']}/")
    if raw["arxiv"] != entry["arxiv"]:
        raise ConfigError(f"{path}: key 'arxiv' is {raw['arxiv']!r}, the catalog says {entry['arxiv']!r}")
    params_type = _params_type(path)
    claims = []
    seen: set[str] = set()
    for i, table in enumerate(raw["claims"]):
        where = f"{path}: claims[{i}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table ([[claims]])")
        claim = _parse_claim(table, where + (f" (id {table['id']!r})" if "id" in table else ""))
        if claim.id in seen:
            raise ConfigError(f"{where}: duplicate claim id {claim.id!r}")
        seen.add(claim.id)
        claims.append(claim)
    if not claims:
        raise ConfigError(f"{path}: key 'claims' is empty; an implemented paper checks at least one claim")
    protocol = raw.get("paper_protocol", {})
    _check_keys(protocol, _PROTOCOL_KEYS, (), f"{path}: [paper_protocol]")
    return Paper(id=raw["id"], title=raw["title"], arxiv=raw["arxiv"], year=raw["year"],
                 family=raw.get("family", entry["family"]), public_data=entry["public_data"],
                 implemented=True, authors=tuple(raw["authors"]), venue=raw["venue"],
                 datasets=tuple(raw["datasets"]), code=raw.get("code", ""),
                 profiles=_parse_profiles(raw["profiles"], path, params_type), claims=tuple(claims),
                 folder=path.parent, params_type=params_type, protocol=dict(protocol))


def load_registry(catalog_path: Path = CATALOG_PATH, papers_dir: Path = PAPERS_DIR) -> dict[str, Paper]:
    """All papers of the catalog, in catalog order; implemented ones read from their folders."""
    raw = _load_toml(catalog_path)
    papers: dict[str, Paper] = {}
    for i, entry in enumerate(raw.get("paper", [])):
        where = f"{catalog_path}: paper[{i}]"
        _check_keys(entry, _CATALOG_KEYS, ("id", "title", "arxiv", "year", "family", "public_data"), where)
        entry = {k: v for k, v in entry.items() if k not in ("arxiv_confirmed", "role")}
        paper_file = papers_dir / entry["id"].replace("-", "_") / "paper.toml"
        papers[entry["id"]] = load_paper_file(paper_file, entry) if paper_file.exists() else Paper(**entry)
    return papers


def get_paper(paper_id: str, registry: dict[str, Paper] | None = None) -> Paper:
    """The implemented paper `paper_id`, or a :class:`UserError` that suggests the closest ids."""
    registry = registry if registry is not None else load_registry()
    if paper_id not in registry:
        close = difflib.get_close_matches(paper_id, list(registry), n=3, cutoff=0.4)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UserError(f"unknown paper id '{paper_id}'.{hint} `repro list` shows every paper.")
    paper = registry[paper_id]
    if not paper.implemented:
        raise UserError(f"paper '{paper_id}' ({paper.title}) is planned, not implemented yet. "
                        f"`repro list` shows which papers can run.")
    return paper

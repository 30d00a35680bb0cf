"""Typed profile parameters: a paper declares a frozen dataclass, ``paper.toml`` fills it.

A paper's ``papers/<id>/params.py`` declares ``Params``, a frozen dataclass whose fields carry
defaults and a docstring each. :func:`parse_params` turns a ``[profiles.<name>.params]`` table
(plus any ``repro run --set`` overrides, see :func:`apply_overrides`) into that dataclass, and
rejects what a ``.get`` default would have silently swallowed: an unknown key (the error names the
closest valid one), a value of the wrong type (the error names the expected type), a missing
required field. Field types may be ``int``, ``float`` (an integer is accepted), ``str``, ``bool``,
``Literal[...]``, ``X | None``, ``tuple[X, ...]`` (a TOML array), ``dict[str, X]`` (a TOML table)
and nested dataclasses (a TOML table, or an array of tables as ``tuple[Task, ...]``).

This module imports no torch, so the registry validates every paper's parameters when it loads
``paper.toml`` (``repro list`` stays fast).
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Mapping, TypeVar, Union

from harness.errors import ConfigError

P = TypeVar("P")


def _type_name(hint: Any) -> str:
    """How an expected type reads in an error message (``int``, ``list of float``, ``"a" or "b"``)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return " or ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join("nothing" if a is type(None) else _type_name(a) for a in args)
    if origin is tuple:
        return f"an array of {_type_name(args[0])}"
    if origin is dict:
        return f"a table of {_type_name(args[1])}"
    if dataclasses.is_dataclass(hint):
        return f"a table ({getattr(hint, '__name__', hint)})"
    return getattr(hint, "__name__", str(hint))


def _convert(value: Any, hint: Any, where: str) -> Any:
    """`value` checked against the type `hint` (and converted: arrays to tuples, tables to dataclasses)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)

    def wrong() -> ConfigError:
        return ConfigError(f"{where} must be {_type_name(hint)}, got {type(value).__name__} {value!r}")

    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, where)
            except ConfigError:
                continue
        raise wrong()
    if origin is Literal:
        if value in args and not isinstance(value, bool):
            return value
        raise wrong()
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise wrong()
        return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise wrong()
        return {str(k): _convert(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise wrong()
        return parse_params(hint, value, where)  # type: ignore[arg-type]
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong()
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong()
        return value
    if hint in (str, bool):
        if not isinstance(value, hint):
            raise wrong()
        return value
    raise TypeError(f"{where}: unsupported parameter type {hint!r}")


def parse_params(cls: type[P], raw: Mapping[str, Any], where: str) -> P:
    """`raw` (a TOML table) as an instance of the frozen dataclass `cls`; a :class:`ConfigError` naming
    `where`, the key and the fix for an unknown key, a wrong type or a missing required field."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    for key in raw:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{where}: unknown parameter '{key}'{hint}; known: {', '.join(fields)}")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name in raw:
            values[name] = _convert(raw[name], hints[name], f"{where}: parameter '{name}'")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing required parameter '{name}' ({_type_name(hints[name])})")
    try:
        return cls(**values)
    except ValueError as exc:  # a field's own check (__post_init__)
        raise ConfigError(f"{where}: {exc}") from exc


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"key.sub=value"`` -> (``["key", "sub"]``, value parsed as a TOML literal).

    A value that is not a TOML literal is taken as a string (``--set data=synthetic``).
    """
    key, sep, literal = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected key=value (e.g. --set epochs=1, --set tasks.0.lr=0.01)")
    try:
        value = tomllib.loads(f"value = {literal.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = literal.strip()
    return [part.strip() for part in key.split(".")], value


def apply_overrides(raw: Mapping[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A deep copy of the params table `raw` with every ``key=value`` of `overrides` set.

    Dotted keys reach into nested tables and arrays (``tasks.0.epochs=2`` sets ``epochs`` of the
    first ``[[tasks]]``); validation is :func:`parse_params`'s, afterwards.
    """
    result: dict[str, Any] = _deep_copy(raw)
    for text in overrides:
        path, value = parse_override(text)
        node: Any = result
        for depth, part in enumerate(path[:-1]):
            where = ".".join(path[:depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"--set {text}: '{where}' must index one of the {len(node)} entries (0-based)")
                node = node[int(part)]
            elif isinstance(node, dict):
                node = node.setdefault(part, {})
            else:
                raise ConfigError(f"--set {text}: '{'.'.join(path[:depth])}' is a value, not a table")
        if isinstance(node, list):
            if not path[-1].isdigit() or int(path[-1]) >= len(node):
                raise ConfigError(f"--set {text}: '{'.'.join(path)}' must index one of the {len(node)} entries")
            node[int(path[-1])] = value
        elif isinstance(node, dict):
            node[path[-1]] = value
        else:
            raise ConfigError(f"--set {text}: '{'.'.join(path[:-1])}' is a value, not a table")
    return result


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_deep_copy(v) for v in value]
    return value


def as_table(params: Any) -> dict[str, Any]:
    """A parameters dataclass as plain JSON-ready data (tuples as lists), for records and loaders."""
    return _deep_copy(dataclasses.asdict(params))


@dataclass(frozen=True)
class DataParams:
    """Where a profile's data comes from (read by :func:`harness.data.profile.profile_splits`)."""

    dataset: str = "criteo-kaggle-dlrm"
    """A dataset id of harness.data.registry (`repro data list`)."""
    synthetic_rows: int = 0
    """Above 0: write a seeded synthetic file of that many rows in the dataset's format (smoke profiles)."""
    synthetic_vocab: int = 2_000
    """The synthetic Criteo file's largest vocabulary."""
    batch_size: int = 128
    """Training batch size."""
    eval_batch_size: int = 4_096
    """Evaluation batch size (no effect on results)."""


@dataclass(frozen=True)
class StepLoopDLRMParams(DataParams):
    """A small DLRM trained by :mod:`harness.train.loop` with :func:`~harness.train.loop.ctr_optimizers`
    (Adam on the MLPs, Adagrad on the tables), on the synthetic teacher CTR set by default: the
    shared settings of the distributed-training papers whose step is not one loss on one model."""

    dataset: str = "synthetic-ctr-teacher"
    """The data: the synthetic teacher CTR set (planted structure), or criteo-kaggle-dlrm."""
    dim: int = 16
    """Embedding dimension."""
    bottom: tuple[int, ...] = (13, 64, 16)
    """Bottom MLP widths, from the dense input to the embedding dimension."""
    top: tuple[int, ...] = (64, 1)
    """Top MLP widths after the interaction, ending in the logit."""
    dense_lr: float = 0.001
    """Adam's learning rate for the MLPs."""
    table_lr: float = 0.05
    """Adagrad's learning rate for the tables."""
    epochs: int = 1
    """Passes over the training split (every model sees the same number of updates)."""
    max_steps: int = 0
    """Above 0: stop after that many (global) steps."""

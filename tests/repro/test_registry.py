"""Registry validation: unknown keys, missing fields and bad values name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError, UserError
from repro.registry import get_paper, load_registry

CATALOG = """
[[paper]]
id = "toy"
title = "A toy paper"
arxiv = "2000.00001"
year = 2020
family = "test"
public_data = "synthetic"
"""

PAPER = """
id = "toy"
title = "A toy paper"
authors = ["A. Author"]
venue = "Nowhere"
year = 2020
arxiv = "2000.00001"
datasets = []
[profiles.smoke]
description = "s"
seeds = 2
[profiles.default]
description = "d"
seeds = 3
[profiles.full]
description = "f"
seeds = 100
[[claims]]
id = "c1"
kind = "relation"
statement = "A beats B"
source = "Table 1"
lhs = "a:auc"
op = ">"
rhs = "b:auc"
"""


PARAMS = """
from dataclasses import dataclass


@dataclass(frozen=True)
class Params:
    epochs: int = 1
    lr: float = 0.1
    widths: tuple[int, ...] = (4, 2)
"""


def write(tmp_path: Path, paper_text: str | None = PAPER, catalog_text: str = CATALOG) -> tuple[Path, Path]:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(catalog_text)
    papers = tmp_path / "papers"
    (papers / "toy").mkdir(parents=True)
    if paper_text is not None:
        (papers / "toy" / "paper.toml").write_text(paper_text)
        (papers / "toy" / "params.py").write_text(PARAMS)
    return catalog, papers


def test_real_registry_lists_the_33_papers_plus_the_dlrm_baseline() -> None:
    papers = load_registry()
    assert len(papers) == 34
    assert "adatt" in papers and "dlrm" in papers and "sdm" in papers


def test_valid_paper_loads_with_claims_and_profiles(tmp_path: Path) -> None:
    papers = load_registry(*write(tmp_path))
    toy = papers["toy"]
    assert toy.implemented and toy.status == "implemented"
    assert toy.profiles["full"].seeds == 100
    assert toy.claims[0].rhs == "b:auc"


def test_facts_paired_claims_and_the_paper_protocol_load(tmp_path: Path) -> None:
    text = PAPER.replace("datasets = []", 'datasets = []\n[paper_protocol]\ndata = "Criteo"\nseeds = "5"') + (
        '[[claims]]\nid = "f"\nkind = "fact"\nstatement = "x"\nsource = "T"\nlhs = "a:bytes"\n'
        'paper_value = 0.25\ntolerance = 0.05\n'
        '[[claims]]\nid = "p"\nkind = "relation"\nstatement = "x"\nsource = "T"\nlhs = "a:auc"\nrhs = "b:auc"\n'
        'paired = true\n')
    toy = load_registry(*write(tmp_path, text))["toy"]
    assert toy.protocol == {"data": "Criteo", "seeds": "5"}
    assert [c.kind for c in toy.claims] == ["relation", "fact", "relation"] and toy.claims[2].paired


def test_paper_without_folder_file_is_planned(tmp_path: Path) -> None:
    papers = load_registry(*write(tmp_path, paper_text=None))
    assert papers["toy"].status == "planned"
    with pytest.raises(UserError, match="planned"):
        get_paper("toy", papers)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('venue = "Nowhere"', 'venue = "Nowhere"\nvenu = "x"'), "unknown key 'venu'.*did you mean 'venue'"),
    (lambda t: t.replace('venue = "Nowhere"\n', ""), "missing required key 'venue'"),
    (lambda t: t.replace("year = 2020", 'year = "2020"'), "key 'year' must be int"),
    (lambda t: t.replace('op = ">"', 'op = "=>"'), "claims\\[0\\].*key 'op' must be one of"),
    (lambda t: t.replace('kind = "relation"', 'kind = "ratio"'), "key 'kind' must be"),
    (lambda t: t.replace('rhs = "b:auc"', 'rhs = "bauc"'), "key 'rhs' must be '<model>:<metric>'"),
    (lambda t: t.replace("[profiles.full]\ndescription = \"f\"\nseeds = 100\n", ""), "missing profile \\[profiles.full\\]"),
    (lambda t: t.replace("seeds = 2", "seeds = 0"), "seeds' must be >= 1"),
    (lambda t: t.replace("seeds = 2", "seeds = 2\nthreads = 0"), "threads' must be >= 1"),
    (lambda t: t.replace('arxiv = "2000.00001"', 'arxiv = "2000.99999"'), "catalog says"),
    (lambda t: t + "[[claims]]\nid = \"c1\"\nkind = \"value\"\nstatement = \"x\"\nsource = \"T\"\nlhs = \"a:auc\"\n"
                   "paper_value = 0.8\ntolerance = 0.01\n", "duplicate claim id"),
    (lambda t: t + "[[claims]]\nid = \"c2\"\nkind = \"value\"\nstatement = \"x\"\nsource = \"T\"\nlhs = \"a:auc\"\n",
     "needs keys 'paper_value' and 'tolerance'"),
    (lambda t: t.replace("[[claims]]", "[[claims]\n"), "not valid TOML"),
    (lambda t: t.replace('rhs = "b:auc"', 'rhs = "b:auc"\npaired = 1'), "key 'paired' must be bool"),
    (lambda t: t + "[[claims]]\nid = \"f\"\nkind = \"fact\"\nstatement = \"x\"\nsource = \"T\"\nlhs = \"a:b\"\n"
                   "paired = true\n", "key 'paired' belongs to kind"),
    (lambda t: t.replace("datasets = []", "datasets = []\n[paper_protocol]\ndata = \"x\"\nepoch = \"1\""),
     "\\[paper_protocol\\]: unknown key 'epoch'"),
    (lambda t: t.replace("seeds = 2", "seeds = 2\nparams = { epoch = 3 }"),
     "profiles.smoke. params: unknown parameter 'epoch' .did you mean 'epochs'.."),
    (lambda t: t.replace("seeds = 2", "seeds = 2\nparams = { lr = \"fast\" }"), "parameter 'lr' must be float, got str"),
    (lambda t: t.replace("seeds = 2", "seeds = 2\nparams = { widths = [4, 2.5] }"),
     "parameter 'widths'\\[1\\] must be int, got float"),
])
def test_invalid_paper_file_names_file_and_key(tmp_path: Path, edit, message: str) -> None:
    catalog, papers = write(tmp_path, edit(PAPER))
    with pytest.raises(ConfigError, match=message) as info:
        load_registry(catalog, papers)
    assert "paper.toml" in str(info.value)


def test_paper_without_params_module_is_refused(tmp_path: Path) -> None:
    catalog, papers = write(tmp_path)
    (papers / "toy" / "params.py").unlink()
    with pytest.raises(ConfigError, match="params.py is missing"):
        load_registry(catalog, papers)


def test_profile_params_become_the_papers_typed_params(tmp_path: Path) -> None:
    toy = load_registry(*write(tmp_path, PAPER.replace("seeds = 2", "seeds = 2\nparams = { epochs = 3, lr = 1 }")))["toy"]
    params = toy.parse_params(toy.profiles["smoke"].params)
    assert (params.epochs, params.lr, params.widths) == (3, 1.0, (4, 2)) and isinstance(params.lr, float)
    assert toy.parse_params({}, ["epochs=5", "widths=[8]"]).widths == (8,)
    with pytest.raises(ConfigError, match="with --set epoch=5.*unknown parameter .epoch. .did you mean .epochs."):
        toy.parse_params({}, ["epoch=5"])


def test_unknown_id_suggests_the_closest() -> None:
    with pytest.raises(UserError, match="Did you mean: adatt"):
        get_paper("adat")

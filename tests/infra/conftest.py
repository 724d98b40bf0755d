"""Synthesise the stack once for the whole ``tests/infra`` run (offline: no Docker, no AWS
account, no network; bundling is skipped, so pip never runs) with cdk-nag's AwsSolutions checks
as a validation plugin. Modules start with ``require_cdk()``: without node or the ``cdk`` extra
they are skipped, not failed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STACK = "Spruce-dev"


def _silence_node_eol_banner() -> None:
    """jsii prints a banner on an end-of-life node unless told that major version is known."""
    node = shutil.which("node")
    if node and "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION" not in os.environ:
        version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
        if match := re.match(r"v(\d+)\.", version):
            os.environ["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = match.group(1)


def require_cdk():
    """Skip the calling module unless the CDK can run here (node on PATH, aws_cdk importable).
    Checks node first: importing aws_cdk starts node, and fails otherwise."""
    if shutil.which("node") is None:
        pytest.skip("the CDK needs node on PATH", allow_module_level=True)
    _silence_node_eol_banner()
    return pytest.importorskip("aws_cdk")


def cdk_context(**overrides: Any) -> dict[str, Any]:
    """``cdk.json``'s context (what ``cdk synth`` uses), bundling skipped, plus ``overrides``."""
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    return {**context, "aws:cdk:bundling-stacks": [], **overrides}


@dataclass
class Synth:
    app: Any
    stack: Any
    template: Any  # aws_cdk.assertions.Template
    data: dict  # the template as JSON
    outdir: Path
    nag_violations: list[dict]  # cdk-nag findings left unacknowledged (from validation-report.json)

    def resources(self, kind: str) -> dict[str, dict]:
        return {k: r for k, r in self.data["Resources"].items() if r["Type"] == kind}

    def logical_id(self, construct: Any) -> str:
        return self.stack.resolve(construct.node.default_child.logical_id)

    def arn(self, construct: Any) -> dict:
        return {"Fn::GetAtt": [self.logical_id(construct), "Arn"]}

    def state_machine(self, machine: Any) -> tuple[dict, list]:
        """A state machine's definition as JSON, each CloudFormation reference in it replaced by
        ``"__REF__"``, and those references in order."""
        parts = self.data["Resources"][self.logical_id(machine)]["Properties"]["DefinitionString"]["Fn::Join"][1]
        refs = [p for p in parts if not isinstance(p, str)]
        text = "".join(p if isinstance(p, str) else '"__REF__"' for p in parts).replace('""__REF__""', '"__REF__"')
        return json.loads(text), refs


def synthesize(outdir: Path, **overrides: Any) -> Synth:
    require_cdk()
    pytest.importorskip("cdk_nag")
    from aws_cdk.assertions import Template

    from infra.app import build_app

    app, stack = build_app(cdk_context(**overrides), outdir=str(outdir))
    violations: list[dict] = []
    try:
        assembly = app.synth()
    except RuntimeError as exc:
        if "ValidationFailed" not in str(exc):
            raise
        report = json.loads((outdir / "validation-report.json").read_text())
        violations = [v for plugin in report["pluginReports"] for v in plugin["violations"]]
        # Synthesise again without the plugin so the other tests still see the template.
        outdir = outdir.parent / (outdir.name + "-unchecked")
        app, stack = build_app(cdk_context(**overrides), outdir=str(outdir), nag=False)
        assembly = app.synth()
    data = assembly.get_stack_by_name(stack.stack_name).template
    return Synth(app, stack, Template.from_json(data), data, outdir, violations)


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Synth:
    """The default stack (``cdk.json`` context), synthesised once."""
    return synthesize(tmp_path_factory.mktemp("cdk") / "cdk.out")

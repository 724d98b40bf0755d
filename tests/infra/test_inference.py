"""The inference function and Bedrock access in the synthesised stack (issue 6)."""

from __future__ import annotations

import json

import pytest

from tests.infra.conftest import Synth, require_cdk, synthesize
from tests.infra.test_security import _as_list, _grants, _statements

require_cdk()

BEDROCK = "cohere-rerank-3.5,amazon.titan-embed-text-v2:0"


@pytest.fixture(scope="module")
def bedrock_synth(tmp_path_factory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-bedrock") / "cdk.out",
                      **{"spruce:bedrockModels": BEDROCK, "spruce:bedrockRegion": "us-west-2"})


def _env(synth: Synth, function) -> dict:
    return synth.data["Resources"][synth.logical_id(function)]["Properties"]["Environment"]["Variables"]


def test_inference_function_runs_the_worker_image_in_the_isolated_subnets(synth: Synth):
    s = synth.stack
    props = synth.data["Resources"][synth.logical_id(s.inference.function)]["Properties"]
    executor = synth.data["Resources"][synth.logical_id(s.query.executor)]["Properties"]
    assert props["PackageType"] == "Image" and props["Code"] == executor["Code"]  # the one worker image
    assert props["ImageConfig"] == {"Command": ["functions.inference.handler"]}
    assert props["VpcConfig"]["SubnetIds"] == executor["VpcConfig"]["SubnetIds"]
    assert props["MemorySize"] == 3008 and props["Timeout"] == 25
    assert set(_env(synth, s.inference.function)) == {"SPRUCE_BUCKET"}


def test_only_the_api_planes_invoke_it_and_know_its_name(synth: Synth):
    s = synth.stack
    arn = {"Fn::GetAtt": [synth.logical_id(s.inference.function), "Arn"]}
    invokers = {owner for owner, st in _statements(synth)
                if "lambda:InvokeFunction" in _as_list(st["Action"]) and arn in _as_list(st["Resource"])}
    roles = {r["Ref"] for o in invokers for r in synth.data["Resources"][o]["Properties"]["Roles"]}
    planes = (s.planes.control_plane, s.planes.data_plane)
    assert roles == {synth.stack.resolve(p.role.role_name)["Ref"] for p in planes}
    for plane in planes:
        assert _env(synth, plane)["SPRUCE_INFERENCE_FUNCTION"] == {"Ref": synth.logical_id(s.inference.function)}
        assert "SPRUCE_BEDROCK_MODELS" not in _env(synth, plane)


def test_no_bedrock_access_unless_enabled(synth: Synth):
    assert not [st for _, st in _statements(synth) if any(a.startswith("bedrock:") for a in _as_list(st["Action"]))]


def test_bedrock_models_are_granted_exactly_to_the_api_planes(bedrock_synth: Synth):
    s = bedrock_synth.stack
    for plane in (s.planes.control_plane, s.planes.data_plane):
        env = _env(bedrock_synth, plane)
        assert env["SPRUCE_BEDROCK_MODELS"] == BEDROCK and env["SPRUCE_BEDROCK_REGION"] == "us-west-2"
        grants = [st for st in _grants(bedrock_synth, plane)
                  if any(a.startswith("bedrock:") for a in _as_list(st["Action"]))]
        invoke = [st for st in grants if st["Action"] == "bedrock:InvokeModel"]
        (statement,) = invoke
        resources = json.dumps(statement["Resource"])
        assert "us-west-2::foundation-model/cohere.rerank-v3-5:0" in resources
        assert "us-west-2::foundation-model/amazon.titan-embed-text-v2:0" in resources
        assert len(_as_list(statement["Resource"])) == 2 and "*" not in _as_list(statement["Resource"])
        assert [st["Resource"] for st in grants if st["Action"] == "bedrock:Rerank"] == ["*"]
    for fn in (s.query.executor, s.inference.function):
        assert not [st for st in _grants(bedrock_synth, fn) if "bedrock" in json.dumps(st["Action"])]
    assert bedrock_synth.nag_violations == []


def test_an_unknown_bedrock_model_fails_synth(tmp_path):
    with pytest.raises(ValueError, match="unknown model"):
        synthesize(tmp_path / "cdk.out", **{"spruce:bedrockModels": "cohere.rerank-v3-5:0"})

"""The embed block with a model of several dimensions (as the AWS host's Bedrock models are):
an index created for a non-default dimension embeds its records at that dimension, and a
``dimension`` model parameter must agree with the index (CP-EMB-2, CP-EMB-5)."""

from __future__ import annotations

import numpy as np
import pytest

from spruce.engine.embed import new_model_index_config
from spruce.engine.integrated import Records
from spruce.engine.local import open_local
from spruce.errors import InvalidArgumentError
from spruce.inference.hub import HostedModel, ModelHub
from spruce.inference.models import INPUT_TYPE_PARAM, ModelSpec, dimension_param, truncate_param
from spruce.inference.ports import EmbedRequest, Embeddings
from spruce.inference.service import InferenceService

SPEC = ModelSpec(name="two-widths", type="embed", short_description="test double", provider_name="tests",
                 max_sequence_length=512, max_batch_size=96, vector_type="dense", default_dimension=512,
                 supported_dimensions=(256, 512), supported_metrics=("cosine",),
                 supported_parameters=(INPUT_TYPE_PARAM, truncate_param("END"), dimension_param((256, 512), 512)))


class Provider:
    """Unit vectors of the requested width; remembers the requests."""

    def __init__(self) -> None:
        self.requests: list[EmbedRequest] = []

    def embed(self, request: EmbedRequest) -> Embeddings:
        self.requests.append(request)
        rows = np.zeros((len(request.texts), request.dimension), np.float32)
        rows[:, 0] = 1.0
        return Embeddings(total_tokens=len(request.texts), dense=rows)


@pytest.fixture
def provider():
    return Provider()


@pytest.fixture
def models(provider):
    return InferenceService(ModelHub([HostedModel(SPEC, lambda: provider)]))


def _body(**embed):
    return {"name": "narrow", "cloud": "aws", "region": "us-east-1",
            "embed": {"model": SPEC.name, "field_map": {"text": "t"}, **embed}}


def test_records_are_embedded_at_the_index_dimension(tmp_path, models, provider):
    cfg = new_model_index_config(_body(dimension=256), models)
    assert cfg.dimension == 256 and "dimension" not in cfg.extra["embed"]["write_parameters"]
    engine = open_local(tmp_path / "data", start=False)
    try:
        engine.create_index(cfg)
        Records(engine, models).upsert("narrow", "ns", b'{"_id": "a", "t": "some text"}')
        assert [r.dimension for r in provider.requests] == [256]
        assert len(engine.fetch("narrow", "ns", ["a"]).value["a"].values) == 256
        hits = Records(engine, models).search("narrow", "ns", {"query": {"inputs": {"text": "q"}, "top_k": 1}})
        assert hits.value["result"]["hits"][0]["_id"] == "a" and provider.requests[-1].dimension == 256
    finally:
        engine.close()


def test_dimension_parameter_must_be_the_index_dimension(models):
    with pytest.raises(InvalidArgumentError, match=r"write_parameters.dimension` \(512\) must be the index's"):
        new_model_index_config(_body(dimension=256, write_parameters={"dimension": 512}), models)
    cfg = new_model_index_config(_body(dimension=256, read_parameters={"dimension": 256}), models)
    assert cfg.extra["embed"]["read_parameters"]["dimension"] == 256

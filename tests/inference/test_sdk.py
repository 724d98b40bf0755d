"""The official pinecone SDK 7.x against ``spruce serve``: pc.inference embed, rerank, models."""

from __future__ import annotations

import numpy as np
import pytest
from pinecone.exceptions import PineconeApiException

from spruce.inference.models import EMBED_MODEL, RERANK_MODEL, SPARSE_MODEL
from tests.sdk.server import sdk_client


@pytest.fixture(scope="module")
def pc(tmp_path_factory):
    with sdk_client(tmp_path_factory.mktemp("inference-sdk") / "data") as client:
        yield client


def test_sdk_embed(pc):
    texts = ["Apple is a popular fruit known for its sweetness.", "Apple Inc. designs the iPhone."]
    out = pc.inference.embed(model=EMBED_MODEL, inputs=texts, parameters={"input_type": "passage", "truncate": "END"})
    assert out.model == EMBED_MODEL and out.vector_type == "dense"
    assert len(out.data) == 2 and len(out.data[0].values) == 384
    assert out.usage.total_tokens > 0
    again = pc.inference.embed(model=EMBED_MODEL, inputs=texts, parameters={"input_type": "passage"})
    assert np.allclose(out.data[0].values, again.data[0].values, atol=0)


def test_sdk_rerank(pc):
    docs = [
        {"id": "vec1", "text": "Apple is a popular fruit known for its sweetness and crisp texture."},
        {"id": "vec2", "text": "Many people enjoy eating apples as a healthy snack."},
        {"id": "vec3", "text": "The tech company Apple is known for its innovative products like the iPhone."},
        {"id": "vec4", "text": "The weather in Oslo was rainy all week."},
    ]
    out = pc.inference.rerank(model=RERANK_MODEL, query="Tell me about the tech company known as Apple.",
                              documents=docs, top_n=2, return_documents=True)
    assert out.model == RERANK_MODEL and out.usage.rerank_units == 1
    assert len(out.data) == 2 and out.data[0].index == 2 and out.data[0].document["id"] == "vec3"
    assert 0.0 <= out.data[1].score <= out.data[0].score <= 1.0


def test_sdk_models_and_errors(pc):
    names = [m.model for m in pc.inference.list_models()]
    assert names == [EMBED_MODEL, SPARSE_MODEL, RERANK_MODEL]
    assert pc.inference.get_model(model_name=EMBED_MODEL).default_dimension == 384
    with pytest.raises(PineconeApiException) as err:
        pc.inference.embed(model="multilingual-e5-large", inputs=["x"], parameters={"input_type": "query"})
    assert err.value.status == 400 and EMBED_MODEL in err.value.body

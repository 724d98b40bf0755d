"""Control-plane rules: BEHAVIOR §3.1–3.6 and §3.8 (pure functions, no engine)."""

from __future__ import annotations

import pytest

from spruce.engine.indexes import NAME_MESSAGE, new_index_config, validate_configure
from spruce.errors import InvalidArgumentError, NotFoundError, UnprocessableEntityError

SERVERLESS = {"serverless": {"cloud": "aws", "region": "us-east-1"}}


def body(**overrides):
    return {"name": "movies", "dimension": 8, "spec": SERVERLESS, **overrides}


def test_dense_defaults_cp_type_1_4_cp_dp_1():
    cfg = new_index_config(body())
    assert (cfg.name, cfg.dimension, cfg.metric, cfg.vector_type) == ("movies", 8, "cosine", "dense")
    assert (cfg.cloud, cfg.region, cfg.deletion_protection, cfg.tags, cfg.state) == (
        "aws", "us-east-1", "disabled", None, "Ready")
    assert len(cfg.id) == 36 and cfg.created_at.endswith("Z")


def test_each_create_gets_a_fresh_id():
    assert new_index_config(body()).id != new_index_config(body()).id


def test_sparse_index_defaults_to_dotproduct_cp_type_3_4():
    cfg = new_index_config({"name": "kw", "vector_type": "sparse", "spec": SERVERLESS})
    assert (cfg.dimension, cfg.metric, cfg.vector_type) == (None, "dotproduct", "sparse")


@pytest.mark.parametrize("name", ["a", "a-1", "x" * 45, "0abc9"])
def test_valid_names_cp_name_1(name):
    assert new_index_config(body(name=name)).name == name


@pytest.mark.parametrize("name", ["Movies", "-abc", "abc-", "a.b", "a_b", "émoji", "a b"])
def test_bad_names_use_the_oas_message_cp_name_1(name):
    with pytest.raises(InvalidArgumentError) as e:
        new_index_config(body(name=name))
    assert e.value.message == NAME_MESSAGE


@pytest.mark.parametrize("name", ["", "x" * 46])
def test_name_length_cp_name_1(name):
    with pytest.raises(InvalidArgumentError, match="1 to 45 characters"):
        new_index_config(body(name=name))


@pytest.mark.parametrize("dimension", [0, -1, 20_001])
def test_dimension_out_of_range_cp_type_2(dimension):
    with pytest.raises(InvalidArgumentError, match="between 1 and 20000"):
        new_index_config(body(dimension=dimension))


def test_dimension_bounds_are_inclusive_cp_type_2():
    assert new_index_config(body(dimension=1)).dimension == 1
    assert new_index_config(body(dimension=20_000)).dimension == 20_000


def test_dense_needs_dimension_cp_type_2():
    with pytest.raises(InvalidArgumentError, match="need a `dimension`"):
        new_index_config({"name": "x", "spec": SERVERLESS})


def test_sparse_rejects_dimension_cp_type_3():
    with pytest.raises(InvalidArgumentError, match="must not set `dimension`"):
        new_index_config(body(vector_type="sparse"))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_sparse_needs_dotproduct_cp_type_4(metric):
    with pytest.raises(InvalidArgumentError, match="only support the `dotproduct` metric"):
        new_index_config({"name": "kw", "vector_type": "sparse", "metric": metric, "spec": SERVERLESS})


@pytest.mark.parametrize("field,value", [("metric", "hamming"), ("vector_type", "hybrid"),
                                          ("deletion_protection", "on")])
def test_unknown_enum_values_are_400(field, value):
    with pytest.raises(InvalidArgumentError, match=f"Invalid value `{value}` for `{field}`"):
        new_index_config(body(**{field: value}))


@pytest.mark.parametrize("payload,fragment", [
    ({"dimension": 8, "spec": SERVERLESS}, "missing field `name`"),
    ({"name": "x", "dimension": 8}, "missing field `spec`"),
    (body(spec={"serverless": {"region": "us-east-1"}}), "spec.serverless: missing field `cloud`"),
    (body(spec={"serverless": {"cloud": "aws"}}), "spec.serverless: missing field `region`"),
])
def test_missing_required_fields_are_422_err_4(payload, fragment):
    with pytest.raises(UnprocessableEntityError) as e:
        new_index_config(payload)
    assert e.value.status == 422 and fragment in e.value.message


@pytest.mark.parametrize("payload,fragment", [
    (body(dimension="8"), 'dimension: invalid type: string "8", expected an integer'),
    (body(dimension=8.5), "dimension: invalid type: floating point `8.5`"),
    (body(dimension=True), "dimension: invalid type: boolean `true`"),
    (body(name=5), "name: invalid type: integer `5`"),
    (body(metric=["cosine"]), "metric: invalid type: sequence"),
    (body(spec="serverless"), 'spec: invalid type: string "serverless"'),
    (body(spec={"serverless": []}), "spec.serverless: invalid type: sequence, expected struct ServerlessSpec"),
    (body(tags=["a"]), "tags: invalid type: sequence"),
    (body(tags={"a": 1}), "tags.a: invalid type: integer `1`"),
    ([], "invalid type: sequence, expected struct CreateIndexRequest"),
])
def test_wrong_json_types_are_422_err_4(payload, fragment):
    with pytest.raises(UnprocessableEntityError) as e:
        new_index_config(payload)
    assert fragment in e.value.message


def test_nulls_mean_absent():
    cfg = new_index_config(body(metric=None, tags=None, deletion_protection=None, vector_type=None))
    assert (cfg.metric, cfg.tags, cfg.deletion_protection, cfg.vector_type) == ("cosine", None, "disabled", "dense")


@pytest.mark.parametrize("spec", [{}, {"serverless": None}, {"serverless": SERVERLESS["serverless"], "pod": {}},
                                  {"cloud": "aws"}])
def test_spec_needs_exactly_one_kind_cp_spec_1(spec):
    with pytest.raises(InvalidArgumentError, match="exactly one of `serverless`, `pod` or `byoc`"):
        new_index_config(body(spec=spec))


@pytest.mark.parametrize("kind", ["pod", "byoc"])
def test_pod_and_byoc_are_not_supported_cp_spec_1(kind):
    with pytest.raises(InvalidArgumentError, match=f"`spec.{kind}` indexes are not supported"):
        new_index_config(body(spec={kind: {"environment": "us-east1-gcp"}}))


@pytest.mark.parametrize("cloud,region", [("aws", "us-west-2"), ("aws", "eu-west-1"), ("gcp", "us-central1"),
                                          ("gcp", "europe-west4"), ("azure", "eastus2")])
def test_documented_regions_cp_spec_2(cloud, region):
    cfg = new_index_config(body(spec={"serverless": {"cloud": cloud, "region": region}}))
    assert (cfg.cloud, cfg.region) == (cloud, region)


@pytest.mark.parametrize("cloud,region", [("aws", "us-west1"), ("gcp", "us-east-1"), ("ibm", "us-east-1")])
def test_unknown_region_is_404_cp_spec_2(cloud, region):
    with pytest.raises(NotFoundError) as e:
        new_index_config(body(spec={"serverless": {"cloud": cloud, "region": region}}))
    assert e.value.message == f"Resource cloud: {cloud} region: {region} not found."


def test_source_collection_is_rejected_cp_spec_4():
    spec = {"serverless": {"cloud": "aws", "region": "us-east-1", "source_collection": "c"}}
    with pytest.raises(InvalidArgumentError, match="source_collection"):
        new_index_config(body(spec=spec))


def test_tags_are_kept_and_empty_values_dropped_on_create_cp_tag_1_3():
    cfg = new_index_config(body(tags={"env": "prod", "team_a-1": "x;@_-.+ y", "gone": ""}))
    assert cfg.tags == {"env": "prod", "team_a-1": "x;@_-.+ y"}


@pytest.mark.parametrize("tags,fragment", [
    ({"a" * 81: "v"}, "Invalid tag key"),
    ({"bad key": "v"}, "Invalid tag key"),
    ({"": "v"}, "Invalid tag key"),
    ({"k": "v" * 121}, "Invalid value for tag 'k'"),
    ({"k": "a/b"}, "Invalid value for tag 'k'"),
])
def test_bad_tags_cp_tag_1(tags, fragment):
    with pytest.raises(InvalidArgumentError, match=fragment):
        new_index_config(body(tags=tags))


def test_tag_limits_are_inclusive_cp_tag_1():
    assert new_index_config(body(tags={"k" * 80: "v" * 120})).tags == {"k" * 80: "v" * 120}


def test_configure_deletion_protection_and_tags_cp_cfg_2():
    change = validate_configure({"deletion_protection": "enabled", "tags": {"env": "", "team": "ml"}})
    assert change.deletion_protection == "enabled"
    assert change.tags == {"env": "", "team": "ml"}  # "" means remove (CP-TAG-3); the engine merges


def test_configure_empty_body_changes_nothing():
    change = validate_configure({})
    assert (change.deletion_protection, change.tags) == (None, None)


@pytest.mark.parametrize("payload,fragment", [
    ({"spec": {"pod": {"replicas": 2}}}, "Only `spec.serverless.read_capacity` can be configured"),
    ({"dimension": 16}, "Cannot configure `dimension`"),
    ({"embed": {"model": "all-minilm-l6-v2", "metric": "cosine"}}, "Cannot configure `embed.metric`"),
    ({"deletion_protection": "maybe"}, "Invalid value `maybe` for `deletion_protection`"),
    ({"tags": {"bad key": "v"}}, "Invalid tag key"),
])
def test_configure_rejects_what_serverless_cannot_change_cp_cfg_2(payload, fragment):
    with pytest.raises(InvalidArgumentError, match=fragment):
        validate_configure(payload)


def test_configure_wrong_types_are_422_cp_cfg_7():
    with pytest.raises(UnprocessableEntityError, match="deletion_protection: invalid type: boolean"):
        validate_configure({"deletion_protection": True})
    with pytest.raises(UnprocessableEntityError, match="expected struct ConfigureIndexRequest"):
        validate_configure("enabled")

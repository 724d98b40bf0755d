"""The deploy-time handler that registers the first API key (``infra/handlers/admin_key.py``),
run against moto: it stores the digest of the secret's value and always answers CloudFormation."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from infra.handlers import admin_key  # noqa: E402
from spruce.aws import settings  # noqa: E402
from spruce.keys import hash_api_key  # noqa: E402
from spruce.storage.aws_tables import TableNames, create_tables  # noqa: E402
from spruce.storage.dynamo_catalog import api_key_hash_exists  # noqa: E402

NAMES = TableNames("catalog", "namespaces", "manifests", "log")
KEY = "k3yFromSecretsManager0123456789abcdefghijklmnop"


@pytest.fixture
def aws(monkeypatch):
    for name, value in {**NAMES.env(), "SPRUCE_BUCKET": "data", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    settings.client.cache_clear()
    with moto.mock_aws():
        create_tables(settings.client("dynamodb"), NAMES)
        yield settings.client
    settings.client.cache_clear()


@pytest.fixture
def responses(monkeypatch):
    sent = []

    class Answer:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return b""

    def urlopen(request, timeout):
        assert request.get_method() == "PUT" and request.full_url == "https://cloudformation/response"
        sent.append(json.loads(request.data))
        return Answer()

    monkeypatch.setattr(admin_key.urllib.request, "urlopen", urlopen)
    return sent


def _event(kind: str, secret_arn: str) -> dict:
    return {"RequestType": kind, "ResponseURL": "https://cloudformation/response", "StackId": "stack",
            "RequestId": "request", "LogicalResourceId": "Registration",
            "ResourceProperties": {"SecretArn": secret_arn}}


def test_create_registers_the_digest_of_the_secret(aws, responses):
    arn = aws("secretsmanager").create_secret(Name="spruce/dev/admin-api-key", SecretString=KEY)["ARN"]
    admin_key.handler(_event("Create", arn))
    assert responses == [{"Status": "SUCCESS", "Reason": "registered", "PhysicalResourceId": admin_key.PHYSICAL_ID,
                          "StackId": "stack", "RequestId": "request", "LogicalResourceId": "Registration"}]
    assert api_key_hash_exists(aws("dynamodb"), NAMES, hash_api_key(KEY))
    item = aws("dynamodb").scan(TableName=NAMES.catalog)["Items"]
    assert KEY not in json.dumps(item)  # only the digest is stored


def test_failures_are_reported_to_cloudformation(aws, responses):
    admin_key.handler(_event("Create", "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing"))
    (answer,) = responses
    assert answer["Status"] == "FAILED" and "ResourceNotFound" in answer["Reason"]


def test_delete_answers_without_touching_the_catalog(aws, responses):
    admin_key.handler(_event("Delete", "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone"))
    assert responses[0]["Status"] == "SUCCESS"
    assert aws("dynamodb").scan(TableName=NAMES.catalog)["Items"] == []

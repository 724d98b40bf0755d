"""API Gateway (HTTP API) Lambda authorizer, simple responses: is ``Api-Key`` a known key?

Keys are looked up by SHA-256 digest (the plaintext is never stored); acceptances are
cached in the container, and API Gateway caches decisions per key as well. Built from
boto3 and the standard library only, so its cold start is the shortest of all functions.
"""

from typing import Any

from spruce.aws.settings import client
from spruce.keys import AcceptedKeys, hash_api_key
from spruce.storage.aws_tables import TableNames
from spruce.storage.dynamo_catalog import api_key_hash_exists

tables = TableNames.from_env()
dynamodb = client("dynamodb")
accepted = AcceptedKeys(ttl_s=300.0)


def known(key: str) -> bool:
    return api_key_hash_exists(dynamodb, tables, hash_api_key(key))


def handler(event: dict[str, Any], context: Any = None) -> dict[str, bool]:
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    return {"isAuthorized": accepted.check(headers.get("api-key"), known)}

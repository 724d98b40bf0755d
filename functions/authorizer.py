"""API Gateway (HTTP API) Lambda authorizer, simple responses: is ``Api-Key`` a known key?

Keys are looked up by SHA-256 digest (the plaintext is never stored); acceptances are
cached in the container, and API Gateway caches decisions per key as well.
"""

from typing import Any

from spruce.api.auth import AcceptedKeys
from spruce.aws.api import key_catalog
from spruce.aws.settings import AwsSettings
from spruce.engine.service import hash_api_key

catalog = key_catalog(AwsSettings.from_env())
accepted = AcceptedKeys(ttl_s=300.0)


def _known(key: str) -> bool:
    return catalog.has_api_key_hash(hash_api_key(key))


def handler(event: dict[str, Any], context: Any = None) -> dict[str, bool]:
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    return {"isAuthorized": accepted.check(headers.get("api-key"), _known)}

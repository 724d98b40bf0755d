"""CloudFormation custom resource: register the stack's first API key in the catalog.

The key itself is generated and kept by Secrets Manager (the stack's ``AdminApiKeySecret``
output names the secret); only its SHA-256 digest reaches the catalog, exactly as
``spruce serve`` registers its key. Runs at deploy time, outside the VPC, with the API
functions' layer. Create and Update (re-)register the current secret value; Delete does
nothing (the catalog table goes, or is retained, with the stack).

Answers CloudFormation itself (PUT to the pre-signed ``ResponseURL``), so the stack needs
no custom-resource provider framework.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

PHYSICAL_ID = "spruce-admin-api-key"


def handler(event: dict[str, Any], context: Any = None) -> None:
    status, reason = "SUCCESS", "registered"
    try:
        if event["RequestType"] in ("Create", "Update"):
            register(event["ResourceProperties"]["SecretArn"])
        else:
            reason = "nothing to do on delete"
    except Exception as exc:  # noqa: BLE001 - CloudFormation must always get an answer
        status, reason = "FAILED", f"{type(exc).__name__}: {exc}"[:500]
    respond(event, status, reason)


def register(secret_arn: str) -> None:
    from spruce.aws.settings import AwsSettings, client
    from spruce.keys import hash_api_key
    from spruce.storage.dynamo_catalog import DynamoCatalog

    settings = AwsSettings.from_env()
    plaintext = client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"].strip()
    catalog = DynamoCatalog(client("dynamodb"), client("s3"), settings.tables, settings.bucket)
    catalog.add_api_key_hash(hash_api_key(plaintext))


def respond(event: dict[str, Any], status: str, reason: str) -> None:
    body = json.dumps({
        "Status": status, "Reason": reason, "PhysicalResourceId": PHYSICAL_ID,
        "StackId": event["StackId"], "RequestId": event["RequestId"], "LogicalResourceId": event["LogicalResourceId"],
    }).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - CloudFormation's pre-signed https URL
        response.read()

"""Helpers for tests against the session's moto server (see ``tests/conftest.py``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"


def s3_storage_options(endpoint: str) -> dict[str, str]:
    """LanceDB (0.40) object-store options for an S3 endpoint over plain HTTP."""
    return {"aws_endpoint": endpoint, "aws_region": REGION, "allow_http": "true",
            "aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY}


@dataclass(frozen=True, slots=True)
class MotoServer:
    endpoint: str  # http://127.0.0.1:PORT

    def client(self, service: str):
        """A boto3 client against the server; build one per test and pass it around."""
        import boto3  # only tests that use the server need the aws extra

        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    @property
    def storage_options(self) -> dict[str, str]:
        return s3_storage_options(self.endpoint)


def fresh_bucket(s3) -> str:
    """Create a bucket with a unique name (tests share one server)."""
    name = f"spruce-test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name

"""The router's transport to query executors: a synchronous Lambda invocation."""

from __future__ import annotations

from spruce.aws.payloads import PayloadSpill
from spruce.engine.remote import ExecutorError


class LambdaInvoker:
    """``remote.Invoke`` over ``lambda:Invoke`` (RequestResponse); bodies over Lambda's limit
    travel through S3 (``spill``), in both directions."""

    def __init__(self, lambda_client, function_name: str, spill: PayloadSpill) -> None:
        self._client = lambda_client
        self._function = function_name
        self._spill = spill

    def __call__(self, payload: bytes) -> bytes:
        response = self._client.invoke(FunctionName=self._function, InvocationType="RequestResponse",
                                       Payload=self._spill.pack(payload))
        body = response["Payload"].read()
        if response.get("FunctionError"):
            raise ExecutorError(f"query executor {self._function} failed: {body[:500]!r}")
        return self._spill.unpack(body)

"""The router's transport to query executors: a synchronous Lambda invocation."""

from __future__ import annotations

from spruce.engine.remote import ExecutorError


class LambdaInvoker:
    """``remote.Invoke`` over ``lambda:Invoke`` (RequestResponse)."""

    def __init__(self, lambda_client, function_name: str) -> None:
        self._client = lambda_client
        self._function = function_name

    def __call__(self, payload: bytes) -> bytes:
        response = self._client.invoke(FunctionName=self._function, InvocationType="RequestResponse",
                                       Payload=payload)
        body = response["Payload"].read()
        if response.get("FunctionError"):
            raise ExecutorError(f"query executor {self._function} failed: {body[:500]!r}")
        return body

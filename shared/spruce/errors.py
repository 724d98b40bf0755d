"""One error taxonomy for the whole engine, rendered as Pinecone-shaped bodies at the API edge.

Each error knows its HTTP status, its control-plane code name (``ErrorResponse.error.code``)
and its gRPC number (the data plane's ``rpcStatus.code``). Raise the most specific class;
the message is shown to the user verbatim, so it must say what to fix.
"""

from __future__ import annotations


class SpruceError(Exception):
    """Base class: an error the user can act on. Subclasses pin status and codes."""

    status: int = 500
    code: str = "UNKNOWN"
    grpc_code: int = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgumentError(SpruceError):
    status, code, grpc_code = 400, "INVALID_ARGUMENT", 3


class UnauthenticatedError(SpruceError):
    status, code, grpc_code = 401, "UNAUTHENTICATED", 16


class ForbiddenError(SpruceError):
    status, code, grpc_code = 403, "FORBIDDEN", 7


class QuotaExceededError(SpruceError):
    status, code, grpc_code = 403, "QUOTA_EXCEEDED", 8


class NotFoundError(SpruceError):
    status, code, grpc_code = 404, "NOT_FOUND", 5


class AlreadyExistsError(SpruceError):
    status, code, grpc_code = 409, "ALREADY_EXISTS", 6


class FailedPreconditionError(SpruceError):
    status, code, grpc_code = 412, "FAILED_PRECONDITION", 9


class UnprocessableEntityError(SpruceError):
    status, code, grpc_code = 422, "UNPROCESSABLE_ENTITY", 3


class ResourceExhaustedError(SpruceError):
    """A rate limit or quota was hit (BEHAVIOR §2.5): retry with backoff."""

    status, code, grpc_code = 429, "RESOURCE_EXHAUSTED", 8


class UnavailableError(SpruceError):
    status, code, grpc_code = 503, "UNAVAILABLE", 14

"""Bedrock errors -> neutral `BridgeError`: error responses, and the exceptions of a stream.

Bedrock names an error by its exception (the `x-amzn-errortype` header, sometimes `__type`
in the body) and says what happened in `{"message": ...}` (`{"Message": ...}` from IAM).
The status alone picks the kind when no name comes with the body.
"""

from __future__ import annotations

import orjson

from transforms.errors import BridgeError, ErrorKind, body_summary, kind_for_status

# exception name -> kind; stream exceptions are the same names in lowerCamelCase
KIND_BY_EXCEPTION: dict[str, ErrorKind] = {
    "ValidationException": "invalid_request",
    "AccessDeniedException": "permission",
    "UnrecognizedClientException": "authentication",
    "InvalidSignatureException": "authentication",
    "IncompleteSignatureException": "authentication",
    "MissingAuthenticationTokenException": "authentication",
    "ExpiredTokenException": "authentication",
    "ResourceNotFoundException": "not_found",
    "ModelTimeoutException": "timeout",
    "ModelErrorException": "api_error",
    "ModelStreamErrorException": "api_error",
    "ModelNotReadyException": "overloaded",
    "ThrottlingException": "rate_limit",
    "ServiceQuotaExceededException": "rate_limit",
    "InternalServerException": "api_error",
    "ServiceUnavailableException": "overloaded",
}

# Bedrock statuses the bridge's clients would misread: 424 is "the model failed", 408 "the model timed out".
STATUS_FOR_CLIENTS = {424: 502, 408: 504}

# what a person can do about each kind
HINTS: dict[str, str] = {
    "authentication": "check the AWS access key id, secret access key and session token, and the system clock",
    "permission": (
        "check that the IAM identity may call bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream "
        "on this model, and that access to the model is enabled in this region"
    ),
    "not_found": "check the model id (or inference profile) and the region",
    "rate_limit": "retry later, or ask AWS for a higher Bedrock quota",
}


def decode_error(status: int, body: bytes, *, provider: str, retry_after: str | None = None) -> BridgeError:
    exception, message = _parse(body)
    kind = KIND_BY_EXCEPTION.get(exception or "") or ("api_error" if status == 424 else kind_for_status(status))
    if message is None:
        message = body_summary(body)
    said = f"Bedrock {exception} (HTTP {status})" if exception else f"Bedrock HTTP {status}"
    hint = HINTS.get(kind)
    return BridgeError(
        kind,
        f"{provider} upstream: {said}: {message}" + (f" ({hint})" if hint else ""),
        status=STATUS_FOR_CLIENTS.get(status, status),
        retry_after=retry_after,
    )


def exception_kind(exception_type: str) -> ErrorKind:
    """The kind of a stream's `:exception-type` (throttlingException, ...)."""
    return KIND_BY_EXCEPTION.get(exception_type[:1].upper() + exception_type[1:], "api_error")


def _parse(body: bytes) -> tuple[str | None, str | None]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    message = data.get("message") or data.get("Message")
    exception = data.get("__type") or data.get("code")
    if isinstance(exception, str):
        # "com.amazon.coral.service#UnrecognizedClientException" or "ValidationException:http://..."
        exception = exception.rpartition("#")[2].partition(":")[0] or None
    else:
        exception = None
    return exception, message if isinstance(message, str) and message else None

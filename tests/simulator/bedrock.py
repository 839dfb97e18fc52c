"""A fake Amazon Bedrock runtime: InvokeModel and InvokeModelWithResponseStream for Anthropic models.

Checks the SigV4 signature as AWS does, recomputing it with botocore from what arrived (method,
path, query, the headers named in SignedHeaders, the body, the credential scope), then the body
(Bedrock's Anthropic Messages: `anthropic_version`, no `model`), and hands the request to the
Anthropic front-end with the model from the path. The answer comes back in Bedrock's shapes: a
whole message as it is, a stream as AWS event-stream frames (`chunk` events, and an exception
frame for a mid-stream failure), an error as `{"message"}` with `x-amzn-errortype`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from urllib.parse import unquote

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from . import anthropic, event_stream
from .common import Context, dumps
from .http import Request, Response, StreamEvent, StreamingResponse

PATH = re.compile(r"^/model/(?P<model>[^/]+)/(?P<action>invoke|invoke-with-response-stream)$")
SERVICE = "bedrock"  # the signing name of bedrock-runtime
ANTHROPIC_VERSION = "bedrock-2023-05-31"
ANTHROPIC_API_VERSION = "2023-06-01"  # the header the Anthropic front-end wants; Bedrock's version is in the body
MAX_SKEW_S = 5 * 60
AMZ_DATE = "%Y%m%dT%H%M%SZ"
AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)
FALLBACK_KEY = "sk-bedrock-sim"  # handed to the Anthropic front-end when its Context accepts any key

# Anthropic error type -> (status, Bedrock exception), per the InvokeModel error list
ERRORS = {
    "invalid_request_error": (400, "ValidationException"),
    "request_too_large": (400, "ValidationException"),
    "authentication_error": (403, "UnrecognizedClientException"),
    "permission_error": (403, "AccessDeniedException"),
    "not_found_error": (404, "ResourceNotFoundException"),
    "timeout_error": (408, "ModelTimeoutException"),
    "rate_limit_error": (429, "ThrottlingException"),
    "api_error": (500, "InternalServerException"),
    "overloaded_error": (503, "ServiceUnavailableException"),
}
# Anthropic error type of a mid-stream `error` event -> the stream's exception
STREAM_EXCEPTIONS = {
    "invalid_request_error": "validationException",
    "rate_limit_error": "throttlingException",
    "timeout_error": "modelTimeoutException",
    "api_error": "internalServerException",
    "overloaded_error": "serviceUnavailableException",
}
# AWS's authentication layer names its errors in another namespace than Bedrock's own
AUTH_EXCEPTIONS = {
    "MissingAuthenticationTokenException",
    "IncompleteSignatureException",
    "InvalidSignatureException",
    "UnrecognizedClientException",
}
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."


class Refused(Exception):
    """An answer in Bedrock's error shape, raised while checking a request."""

    def __init__(self, status: int, exception: str, message: str) -> None:
        super().__init__(message)
        self.status, self.exception, self.message = status, exception, message


class BedrockSimulator:
    """`verified` counts requests whose signature checked out; `requests` holds every request as it arrived."""

    def __init__(
        self,
        context: Context,
        access_key_id: str,
        secret_access_key: str,
        region: str,
        session_token: str | None = None,
        *,
        clock: Callable[[], float] = time.time,  # tests pass their own to put the server's clock off
    ) -> None:
        self.context = context
        self.access_key_id, self.secret_access_key, self.session_token = access_key_id, secret_access_key, session_token
        self.region = region
        self.clock = clock
        self.verified = 0
        self.requests: list[Request] = []
        # the exception a mid-stream failure is sent as; None: the one matching the Anthropic error type
        self.midstream_exception: str | None = None

    async def dispatch(self, request: Request) -> Response | StreamingResponse | None:
        found = PATH.match(request.path)
        if found is None or request.method != "POST":
            return None
        self.requests.append(request)
        request_id = str(uuid.uuid4())
        try:
            self._verify_signature(request)
            self.verified += 1
            body = _checked_body(request)
        except Refused as refused:
            return error_response(refused.status, refused.exception, refused.message, request_id)
        stream = found["action"] == "invoke-with-response-stream"
        body = {**body, "model": unquote(found["model"]), **({"stream": True} if stream else {})}
        headers = {
            "x-api-key": self.context.anthropic_key or FALLBACK_KEY,
            "anthropic-version": ANTHROPIC_API_VERSION,
            "content-type": "application/json",
        }
        answer = anthropic.handle(Request("POST", "/v1/messages", "", headers, dumps(body)), self.context)
        if isinstance(answer, StreamingResponse):
            headers = {
                "content-type": event_stream.CONTENT_TYPE,
                "x-amzn-requestid": request_id,
                "x-amzn-bedrock-content-type": "application/json",
            }
            return StreamingResponse(200, headers, self._frames(answer.events), answer.delay_s, answer.split, answer.disconnect)
        if answer.status >= 400:
            error = orjson.loads(answer.body)["error"]
            status, exception = ERRORS.get(error["type"], (500, "InternalServerException"))
            return error_response(status, exception, error["message"], request_id)
        usage = orjson.loads(answer.body)["usage"]
        headers = {
            "content-type": "application/json",
            "x-amzn-requestid": request_id,
            "x-amzn-bedrock-input-token-count": str(usage["input_tokens"]),
            "x-amzn-bedrock-output-token-count": str(usage["output_tokens"]),
        }
        return Response(200, headers, answer.body)

    # --- SigV4 ---------------------------------------------------------------------------------

    def _verify_signature(self, request: Request) -> None:
        authorization = request.headers.get("authorization")
        if not authorization:
            raise Refused(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        found = AUTHORIZATION.match(authorization)
        scope = found["credential"].split("/") if found else []
        if len(scope) != 5:
            raise Refused(
                403,
                "IncompleteSignatureException",
                f"Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization={authorization}",
            )
        access_key_id, scope_date, region, service, terminator = scope
        if access_key_id != self.access_key_id or request.headers.get("x-amz-security-token") != self.session_token:
            raise Refused(403, "UnrecognizedClientException", INVALID_TOKEN)
        signed = found["signed"].split(";")
        amz_date = request.headers.get("x-amz-date", "")
        if "x-amz-date" not in signed or "host" not in signed:
            raise Refused(403, "IncompleteSignatureException", "The host and x-amz-date headers must be signed.")
        self._check_date(amz_date)
        if scope_date != amz_date[:8]:
            raise Refused(
                403,
                "InvalidSignatureException",
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{scope_date}' != '{amz_date[:8]}', from '{amz_date}'.",
            )
        if region != self.region:
            raise Refused(403, "InvalidSignatureException", f"Credential should be scoped to a valid region, not '{region}'.")
        if service != SERVICE:
            raise Refused(403, "InvalidSignatureException", f"Credential should be scoped to correct service: '{SERVICE}'.")
        if terminator != "aws4_request":
            raise Refused(
                403, "InvalidSignatureException",
                f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'.",
            )
        declared = request.headers.get("x-amz-content-sha256")
        if declared is not None and declared != hashlib.sha256(request.body).hexdigest():
            raise Refused(400, "ValidationException", "The provided 'x-amz-content-sha256' header does not match what was computed.")
        if any(name not in request.headers for name in signed):
            raise Refused(403, "InvalidSignatureException", SIGNATURE_MISMATCH)
        if not hmac.compare_digest(self._signature(request, signed, amz_date), found["signature"]):
            raise Refused(403, "InvalidSignatureException", SIGNATURE_MISMATCH)

    def _check_date(self, amz_date: str) -> None:
        try:
            signed_at = datetime.strptime(amz_date, AMZ_DATE).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            raise Refused(403, "IncompleteSignatureException", f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'.") from None
        now = self.clock()
        if signed_at < now - MAX_SKEW_S:
            raise Refused(
                403, "InvalidSignatureException",
                f"Signature expired: {amz_date} is now earlier than {_amz_date(now - MAX_SKEW_S)} ({_amz_date(now)} - 5 min.)",
            )
        if signed_at > now + MAX_SKEW_S:
            raise Refused(
                403, "InvalidSignatureException",
                f"Signature not yet current: {amz_date} is still later than {_amz_date(now + MAX_SKEW_S)} ({_amz_date(now)} + 5 min.)",
            )

    def _signature(self, request: Request, signed: list[str], amz_date: str) -> str:
        """The signature botocore computes for this request with the configured credentials."""
        url = f"http://{request.headers['host']}{request.path}" + (f"?{request.query}" if request.query else "")
        headers = {name: request.headers[name] for name in signed}
        aws_request = AWSRequest(method=request.method, url=url, headers=headers, data=request.body)
        aws_request.context["timestamp"] = amz_date  # the time it was signed at, not now
        signer = SigV4Auth(Credentials(self.access_key_id, self.secret_access_key, self.session_token), SERVICE, self.region)
        return signer.signature(signer.string_to_sign(aws_request, signer.canonical_request(aws_request)), aws_request)

    # --- streams -------------------------------------------------------------------------------

    def _frames(self, events: Iterable[StreamEvent]) -> Iterator[bytes]:
        """The Anthropic front's SSE events, one by one (so delays stay between them), as event-stream frames."""
        metrics = {"inputTokenCount": 0, "outputTokenCount": 0, "invocationLatency": 0, "firstByteLatency": 0}
        for event in events:
            frames = []
            for data in event_stream.sse_data(event() if callable(event) else event):
                parsed = orjson.loads(data)
                kind = parsed["type"]
                if kind == "error":
                    error = parsed["error"]
                    exception = self.midstream_exception or STREAM_EXCEPTIONS.get(error["type"], "modelStreamErrorException")
                    frames.append(event_stream.exception(exception, error["message"]))
                    continue
                if kind == "message_start":
                    metrics["inputTokenCount"] = parsed["message"]["usage"]["input_tokens"]
                elif kind == "message_delta":
                    metrics["outputTokenCount"] = parsed["usage"]["output_tokens"]
                elif kind == "message_stop":  # Bedrock adds its own accounting to the last event
                    data = dumps({**parsed, "amazon-bedrock-invocationMetrics": metrics})
                frames.append(event_stream.chunk(data))
            yield b"".join(frames)


def _checked_body(request: Request) -> dict:
    """The body without `anthropic_version`, once it is one Bedrock takes."""
    body = request.json
    if not isinstance(body, dict):
        raise Refused(400, "ValidationException", "Malformed input request, please reformat your input and try again.")
    if "anthropic_version" not in body:
        raise Refused(
            400, "ValidationException",
            "Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again.",
        )
    if body["anthropic_version"] != ANTHROPIC_VERSION:
        raise Refused(400, "ValidationException", f"anthropic_version: Input should be '{ANTHROPIC_VERSION}'")
    for key in ("model", "stream"):  # the path says both
        if key in body:
            raise Refused(400, "ValidationException", f"{key}: Extra inputs are not permitted")
    return {key: value for key, value in body.items() if key != "anthropic_version"}


def error_response(status: int, exception: str, message: str, request_id: str) -> Response:
    namespace = "com.amazon.coral.service" if exception in AUTH_EXCEPTIONS else "com.amazon.bedrock"
    headers = {
        "content-type": "application/json",
        "x-amzn-requestid": request_id,
        "x-amzn-errortype": f"{exception}:http://internal.amazon.com/coral/{namespace}/",
    }
    return Response(status, headers, dumps({"message": message}))


def _amz_date(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime(AMZ_DATE)

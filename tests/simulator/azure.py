"""A fake Azure OpenAI resource: `POST /openai/deployments/{deployment}/chat/completions?api-version=...`.

Checks what Azure checks before the model sees a request (the `api-version`, the `api-key`
header, the deployment), in Azure's error shape `{"error": {"code", "message"}}`, then hands
the request to the OpenAI Chat front-end with the deployment as the model and the key swapped
for the one the shared `Context` expects.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from urllib.parse import parse_qs, unquote

from . import openai_chat
from .common import Context, dumps
from .http import Request, Response, StreamingResponse

PATH = re.compile(r"^/openai/deployments/(?P<deployment>[^/]+)/chat/completions$")
API_VERSIONS = frozenset({
    "2024-02-01", "2024-06-01", "2024-10-21",  # GA
    "2024-08-01-preview", "2024-12-01-preview", "2025-01-01-preview", "2025-03-01-preview", "2025-04-01-preview",
})
INVALID_KEY = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an "
    "active subscription and use a correct regional API endpoint for your resource."
)
DEPLOYMENT_NOT_FOUND = (
    "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, "
    "please wait a moment and try again."
)
FALLBACK_KEY = "sk-azure-sim"  # handed to the OpenAI front-end when its Context accepts any key


class AzureSimulator:
    """`requests` holds every request as it arrived; `deployments` None accepts any deployment name."""

    def __init__(self, context: Context, api_key: str, deployments: Iterable[str] | None = None) -> None:
        self.context = context
        self.api_key = api_key
        self.deployments = set(deployments) if deployments is not None else None
        self.requests: list[Request] = []

    async def dispatch(self, request: Request) -> Response | StreamingResponse | None:
        found = PATH.match(request.path)
        if found is None or request.method != "POST":
            return None
        self.requests.append(request)
        request_id = str(uuid.uuid4())
        api_version = parse_qs(request.query).get("api-version", [None])[-1]
        if api_version is None:
            return error_response(400, "BadRequest", "Missing required query parameter: api-version", request_id)
        if api_version not in API_VERSIONS:
            return error_response(400, "BadRequest", "API version not supported", request_id)
        # Azure's key header only: a bearer token would be an Entra ID token, which this fake does not issue
        if request.headers.get("api-key") != self.api_key:
            return error_response(401, "401", INVALID_KEY, request_id)
        deployment = unquote(found["deployment"])
        if self.deployments is not None and deployment not in self.deployments:
            return error_response(404, "DeploymentNotFound", DEPLOYMENT_NOT_FOUND, request_id)

        body = request.json
        if isinstance(body, dict):  # anything else the front-end refuses in OpenAI's words
            body = {**body, "model": deployment}
        headers = {name: value for name, value in request.headers.items() if name not in ("api-key", "authorization")}
        headers["authorization"] = f"Bearer {self.context.openai_key or FALLBACK_KEY}"
        plain = Request("POST", "/v1/chat/completions", "", headers, dumps(body) if isinstance(body, dict) else request.body)
        answer = openai_chat.handle(plain, self.context)
        answer.headers = {**answer.headers, "apim-request-id": request_id, "x-ms-region": "Sweden Central"}
        return answer


def error_response(status: int, code: str, message: str, request_id: str) -> Response:
    headers = {"content-type": "application/json", "apim-request-id": request_id}
    return Response(status, headers, dumps({"error": {"code": code, "message": message}}))

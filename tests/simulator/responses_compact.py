"""`POST /v1/responses/compact` of the OpenAI Responses API, minimal: the input's user messages, then one
compaction item whose encrypted_content the simulator made (opaque to anyone else)."""

from __future__ import annotations

import time

from . import openai_chat
from .common import Context, Rejected, dumps, invalid
from .http import Request, Response


def handle(request: Request, context: Context) -> Response:
    number = context.next_number()
    request_id = f"req_sim_{number:06d}"
    try:
        openai_chat._authenticate(request, context)  # the same bearer check as every OpenAI endpoint
        body = request.json
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            raise invalid("Missing required parameter: 'model'.", "model")
        items = body.get("input")
        if isinstance(items, str):
            items = [{"type": "message", "role": "user", "content": items}]
        if not isinstance(items, list) or not items:
            raise invalid("Missing required parameter: 'input'.", "input")
    except Rejected as rejected:
        return openai_chat.error_response(rejected.failure, request_id)
    users = [item for item in items if isinstance(item, dict) and item.get("role") == "user"
             and item.get("type", "message") == "message"]
    compaction = {"id": f"cmp_sim_{number:06d}", "type": "compaction",
                  "encrypted_content": f"gAAAAB-simulated-compaction-{number:06d}"}
    answer = {"id": f"resp_sim_{number:06d}", "object": "response.compaction", "created_at": int(time.time()),
              "output": [*users, compaction],
              "usage": {"input_tokens": 20, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 10,
                        "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 30}}
    return Response(200, {"content-type": "application/json", "x-request-id": request_id}, dumps(answer))

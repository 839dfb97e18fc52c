"""An OpenAI Responses request's structure and ranges, checked before anything goes upstream.

Every refusal is a 400 naming the client's own field (`input[4].call_id`,
`max_output_tokens`), as the Responses API itself would refuse the request:

- every `function_call_output` answers a `function_call` earlier in `input`, unless the
  request continues a stored response (`previous_response_id`, `conversation`), which then
  holds the call; every `function_call` in `input` has its output after it, wherever (the API
  refuses "No tool output found for function call ..."); call ids are unique, each answered once;
- the model name is fit for a URL and a header (`transforms.client_strings`);
- `max_output_tokens` and sampling values are in the documented ranges.

Only the call and output item types the decoder translates are paired; it refuses the others
(`custom_tool_call`, `local_shell_call` ...), as it does any shape it reports clearly (an item
that is not an object, a call without a call_id), which ends the walk here.
"""

from __future__ import annotations

from typing import NoReturn

from transforms.client_numbers import boolean_problem, integer_problem, number_problem
from transforms.client_strings import check_model_name, quoted
from transforms.errors import invalid

# output item type -> the call item type it answers (those decode_responses_request translates)
OUTPUT_OF = {"function_call_output": "function_call"}
OUTPUT_FOR = {call: output for output, call in OUTPUT_OF.items()}
CALLS = frozenset(OUTPUT_FOR)

MIN_OUTPUT_TOKENS = 16  # the Responses API's minimum max_output_tokens


def check_request(body: dict) -> None:
    check_model_name(body.get("model"))
    _refuse_if("stream", boolean_problem(body.get("stream")))
    _refuse_if("max_output_tokens", integer_problem(body.get("max_output_tokens"), MIN_OUTPUT_TOKENS))
    _refuse_if("temperature", number_problem(body.get("temperature"), 0, 2))
    _refuse_if("top_p", number_problem(body.get("top_p"), 0, 1))
    items = body.get("input")
    # a call may sit in a stored response, or behind an item_reference the bridge does not hold (a Responses
    # upstream resolves it; for any other, item_references.unresolved names the reference, the root cause)
    stored = bool(body.get("previous_response_id") or body.get("conversation")) or (
        isinstance(items, list) and any(isinstance(item, dict) and item.get("type") == "item_reference" for item in items))
    _check_call_items(items, calls_stored_upstream=stored)


def _check_call_items(items: object, *, calls_stored_upstream: bool) -> None:
    if not isinstance(items, list):
        return  # a string is one user message; anything else the decoder refuses
    calls: dict[str, tuple[str, str]] = {}  # call_id -> (item type, where)
    outputs: dict[str, str] = {}  # answered call_id -> where its output is
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            return  # the decoder: "Invalid 'input[i]': expected an object."
        kind = item.get("type", "message")
        if not isinstance(kind, str):
            return  # the decoder: "Invalid 'input[i].type'."
        if kind not in CALLS and kind not in OUTPUT_OF:
            continue
        call_id = item.get("call_id")
        if not isinstance(call_id, str):
            return  # the decoder: "Missing 'input[i].call_id'."
        where = f"input[{i}].call_id"
        if not call_id:
            _refuse(where, "must be a non-empty string")
        if kind in CALLS:
            if call_id in calls:
                _refuse(where, f"the call id {quoted(call_id)} is used twice (first at {calls[call_id][1]}); "
                               "call ids must be unique")
            calls[call_id] = (kind, where)
            continue
        if call_id in outputs:
            _refuse(where, f"a second {kind} for the call {quoted(call_id)} (the first is at {outputs[call_id]}); "
                           "each call is answered once")
        if call_id not in calls and not calls_stored_upstream:
            _refuse(where, f"no {OUTPUT_OF[kind]} item with call_id {quoted(call_id)} comes before this {kind}; "
                           "send the call item too (or previous_response_id, when the response is stored)")
        outputs[call_id] = where
    for call_id, (kind, where) in calls.items():
        if call_id not in outputs:
            _refuse(where, f"the {kind} {quoted(call_id)} has no output: each call in input needs a "
                           f"{OUTPUT_FOR[kind]} item with its call_id after it")


def _refuse_if(param: str, problem: str | None) -> None:
    if problem is not None:
        _refuse(param, problem)


def _refuse(param: str, problem: str) -> NoReturn:
    raise invalid(f"Invalid '{param}': {problem}.", param)

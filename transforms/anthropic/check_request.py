"""An Anthropic Messages request's structure and ranges, checked before anything goes upstream.

Every refusal is a 400 naming the client's own field (`messages[3].content[0].tool_use_id`,
`thinking.budget_tokens`), as the Messages API itself would refuse the request:

- every tool_result answers a tool_use of the assistant message just before it, and every
  tool_use is answered in the user message right after it (a request that ends on an
  assistant tool_use is refused too); tool_use ids are unique, each answered once;
- the model name is fit for a URL and a header (`transforms.client_strings`);
- token limits and sampling values are integers or numbers in the documented ranges.

Consecutive messages of one role are one turn, as the API merges them, and Claude Code's
per-turn `system` messages are not turns. A shape `decode_messages_request` already refuses
clearly (a message that is not an object, an unknown role, a tool_use without an id) ends the
walk here, for the decoder to report: the checks never guess past it.
"""

from __future__ import annotations

from typing import NoReturn

from transforms.client_numbers import boolean_problem, integer_problem, number_problem
from transforms.client_strings import check_model_name, json_kind, quoted
from transforms.errors import invalid

MIN_THINKING_BUDGET = 1024  # the Messages API's minimum budget_tokens


def check_request(body: dict) -> None:
    check_model_name(body.get("model"))
    _check_numbers(body)
    _check_tool_turns(body.get("messages"))


def _check_numbers(body: dict) -> None:
    _refuse_if("stream", boolean_problem(body.get("stream")))
    _refuse_if("max_tokens", integer_problem(body.get("max_tokens"), 1))
    _refuse_if("temperature", number_problem(body.get("temperature"), 0, 1))
    _refuse_if("top_p", number_problem(body.get("top_p"), 0, 1))
    _refuse_if("top_k", integer_problem(body.get("top_k"), 0))
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if budget is None:
            _refuse("thinking.budget_tokens", "is required when thinking.type is 'enabled'")
        _refuse_if("thinking.budget_tokens", integer_problem(budget, MIN_THINKING_BUDGET))


def _check_tool_turns(messages: object) -> None:
    if not isinstance(messages, list):
        return  # the decoder: "messages: must be a non-empty array."
    tool_uses: dict[str, str] = {}  # every tool_use id so far -> where it is
    results: dict[str, str] = {}  # every answered tool_use id -> where its tool_result is
    last_calls: dict[str, str] = {}  # the tool_use ids of the latest assistant turn -> where
    turn = None  # the role of the current turn
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            return  # the decoder: "messages.3: must be an object."
        role = message.get("role")
        if role == "system":
            continue
        if role not in ("user", "assistant"):
            return  # the decoder: "messages.3.role: must be 'user' or 'assistant'."
        content = message.get("content")
        if not isinstance(content, (str, list)):
            return  # the decoder: "messages.3.content: must be a string or an array of content blocks."
        if role != turn:
            if role == "assistant":  # the user turn before has ended: it had to answer every call
                _check_answered(last_calls, results, last=False)
                last_calls = {}
            turn = role
        if isinstance(content, str):
            continue
        wanted = "tool_use" if role == "assistant" else "tool_result"  # the only blocks that pair up
        for j, block in enumerate(content):
            if not isinstance(block, dict):  # the decoder would call it a block of type 'None'
                _refuse(_block_path(i, j), f"must be an object (a content block), not {json_kind(block)}")
            if block.get("type") != wanted:
                continue
            if wanted == "tool_use":
                call_id = block.get("id")
                if not isinstance(call_id, str):
                    return  # the decoder: "messages.1.content.0: tool_use blocks need an 'id' and a 'name'."
                where = f"{_block_path(i, j)}.id"
                _check_new_call(call_id, where, tool_uses)
                last_calls[call_id] = where
            else:
                call_id = block.get("tool_use_id")
                if not isinstance(call_id, str) or not call_id:
                    return  # the decoder: "messages.2.content.0.tool_use_id: Field required."
                _check_result(call_id, f"{_block_path(i, j)}.tool_use_id", last_calls, results)
    _check_answered(last_calls, results, last=turn == "assistant")


def _block_path(i: int, j: int) -> str:
    # bracketed, as every protocol's checks name fields (the decoder writes Anthropic's own `messages.3.content.0`)
    return f"messages[{i}].content[{j}]"


def _check_new_call(call_id: str, where: str, tool_uses: dict[str, str]) -> None:
    if not call_id:
        _refuse(where, "must be a non-empty string")
    if call_id in tool_uses:
        _refuse(where, f"tool_use id {quoted(call_id)} is used twice (first at {tool_uses[call_id]}); "
                       "tool_use ids must be unique")
    tool_uses[call_id] = where


def _check_result(call_id: str, where: str, last_calls: dict[str, str], results: dict[str, str]) -> None:
    if call_id in results:
        _refuse(where, f"a second tool_result for tool_use {quoted(call_id)} (the first is at {results[call_id]}); "
                       "each tool_use is answered once")
    if call_id not in last_calls:
        _refuse(where, f"tool_result for {quoted(call_id)} answers no tool_use: each tool_result must answer a "
                       "tool_use block of the assistant message just before it")
    results[call_id] = where


def _check_answered(calls: dict[str, str], results: dict[str, str], *, last: bool) -> None:
    for call_id, where in calls.items():
        if call_id not in results:
            ending = ("the request ends with it: send its tool_result in a user message after it" if last
                      else "the user message right after it must carry a tool_result for every tool_use")
            _refuse(where, f"tool_use {quoted(call_id)} has no tool_result; {ending}")


def _refuse_if(param: str, problem: str | None) -> None:
    if problem is not None:
        _refuse(param, problem)


def _refuse(param: str, problem: str) -> NoReturn:
    raise invalid(f"{param}: {problem}.", param)

"""An OpenAI Chat Completions request's structure and ranges, checked before anything goes upstream.

Every refusal is a 400 naming the client's own field (`messages[3].tool_call_id`,
`max_completion_tokens`), as Chat Completions itself would refuse the request:

- the tool messages answering an assistant message's tool_calls come right after it, one
  per call, before any other message (a request that ends on unanswered tool_calls is
  refused too); a tool message answers a call of the assistant message just before it;
  tool call ids are unique, each answered once;
- the model name is fit for a URL and a header (`transforms.client_strings`);
- token limits, `n` and sampling values are integers or numbers in the documented ranges.

A shape `decode_chat_request` already refuses clearly (a message that is not an object, an
unknown role, a tool call without an id) ends the walk here, for the decoder to report.
"""

from __future__ import annotations

from typing import NoReturn

from transforms.client_numbers import boolean_problem, integer_problem, number_problem
from transforms.client_strings import check_model_name, quoted
from transforms.errors import invalid

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})

# field -> (minimum, maximum); None: no maximum
INTEGERS = {"max_tokens": (1, None), "max_completion_tokens": (1, None), "n": (1, None), "top_k": (0, None)}
NUMBERS = {"temperature": (0, 2), "top_p": (0, 1), "presence_penalty": (-2, 2), "frequency_penalty": (-2, 2)}


def check_request(body: dict) -> None:
    check_model_name(body.get("model"))
    _refuse_if("stream", boolean_problem(body.get("stream")))
    for name, (low, high) in INTEGERS.items():
        _refuse_if(name, integer_problem(body.get(name), low, high))
    for name, (low, high) in NUMBERS.items():
        _refuse_if(name, number_problem(body.get(name), low, high))
    _check_tool_messages(body.get("messages"))


def _check_tool_messages(messages: object) -> None:
    if not isinstance(messages, list):
        return  # the decoder: "'messages' must be a non-empty array."
    calls: dict[str, str] = {}  # every tool call id so far -> where it is
    answers: dict[str, str] = {}  # every answered call id -> where its tool message is
    waiting: dict[str, str] = {}  # the latest assistant message's calls -> where; emptied as they are answered
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            return
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:
            return  # the decoder names the field
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                return  # the decoder: "tool_call_id is required for role 'tool'."
            _check_answer(call_id, f"messages[{i}].tool_call_id", waiting, answers)
            continue
        _check_answered(waiting, last=False)  # any other message ends the run of tool messages
        if role == "assistant" and message.get("tool_calls") is not None:
            if not _record_calls(message["tool_calls"], i, calls, waiting):
                return
    _check_answered(waiting, last=True)


def _record_calls(tool_calls: object, i: int, calls: dict[str, str], waiting: dict[str, str]) -> bool:
    """False when the decoder refuses the calls' shape."""
    if not isinstance(tool_calls, list):
        return False
    for k, call in enumerate(tool_calls):
        call_id = call.get("id") if isinstance(call, dict) else None
        if not isinstance(call_id, str) or not call_id:
            return False  # the decoder: "messages[i].tool_calls[k].id is required."
        where = f"messages[{i}].tool_calls[{k}].id"
        if call_id in calls:
            _refuse(where, f"the tool call id {quoted(call_id)} is used twice (first at {calls[call_id]}); "
                           "tool call ids must be unique")
        calls[call_id] = waiting[call_id] = where
    return True


def _check_answer(call_id: str, where: str, waiting: dict[str, str], answers: dict[str, str]) -> None:
    if call_id in answers:
        _refuse(where, f"a second tool message for the tool call {quoted(call_id)} (the first is at "
                       f"{answers[call_id]}); each tool call is answered once")
    if call_id not in waiting:
        _refuse(where, f"{quoted(call_id)} matches no tool call: a message with role 'tool' must answer a "
                       "tool call of the assistant message just before it (only other tool messages between)")
    del waiting[call_id]
    answers[call_id] = where


def _check_answered(waiting: dict[str, str], *, last: bool) -> None:
    for call_id, where in waiting.items():
        ending = ("the request ends with it: send a tool message with its tool_call_id after it" if last
                  else "tool messages answering each of an assistant message's tool_calls must come right after it")
        _refuse(where, f"the tool call {quoted(call_id)} has no tool message; {ending}")


def _refuse_if(param: str, problem: str | None) -> None:
    if problem is not None:
        _refuse(param, problem)


def _refuse(param: str, problem: str) -> NoReturn:
    raise invalid(f"Invalid '{param}': {problem}.", param)

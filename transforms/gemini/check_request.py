"""A Gemini generateContent request's structure and ranges, checked before anything goes upstream.

Every refusal is a 400 naming the client's own field (`contents[2].parts[0].functionResponse`,
`generationConfig.maxOutputTokens`), as the Gemini API itself would refuse the request:

- every functionResponse answers a functionCall of the model turn just before it, by id
  when both carry one, else by name (the API: "function response turn comes immediately
  after a function call turn"); the user turn after a model turn with functionCalls answers
  them all (the API: "the number of function response parts is equal to the number of
  function call parts"); a request may end on a model turn's calls; call ids, when given,
  are unique;
- the model, which Gemini clients put in the URL (`transforms.translation.client_body` merges
  it into the body as `model`), is fit for a URL and a header;
- token limits, the thinking budget (-1: dynamic, 0: off) and sampling values are in range.

Field names are the client's own: the API takes camelCase and snake_case alike. A shape
`decode_gemini_request` already refuses clearly (contents that are not a list, a part that
is not an object, an unknown role) ends the walk here; what it would crash on or pass
silently (a functionCall that is not an object or has no name) is refused here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from transforms.client_numbers import integer_problem, number_problem
from transforms.client_strings import json_kind, model_name_problem, quoted
from transforms.errors import invalid

INT32_MAX = 2**31 - 1  # Gemini's token counts and budgets are int32 fields

GENERATION_CONFIG = ("generationConfig", "generation_config")
THINKING_CONFIG = ("thinkingConfig", "thinking_config")
THINKING_BUDGET = ("thinkingBudget", "thinking_budget")
FUNCTION_CALL = ("functionCall", "function_call")
FUNCTION_RESPONSE = ("functionResponse", "function_response")

# (camelCase, snake_case) -> (minimum, maximum)
INTEGERS = {("maxOutputTokens", "max_output_tokens"): (1, INT32_MAX), ("topK", "top_k"): (0, INT32_MAX),
            ("candidateCount", "candidate_count"): (1, INT32_MAX)}
NUMBERS = {("temperature", "temperature"): (0, 2), ("topP", "top_p"): (0, 1),
           ("presencePenalty", "presence_penalty"): (-2, 2), ("frequencyPenalty", "frequency_penalty"): (-2, 2)}
BUDGET_MEANING = "-1 (dynamic thinking), 0 (thinking off) or a positive integer (a number of tokens)"


def check_request(body: dict) -> None:
    problem = model_name_problem(body.get("model"))
    if problem is not None:
        raise invalid(f"* GenerateContentRequest.model: the model in the URL path (models/{{model}}:generateContent) "
                      f"{problem}.", "model")
    _check_generation_config(body)
    _check_function_turns(body.get("contents"))


def _check_generation_config(body: dict) -> None:
    key, config = _field(body, GENERATION_CONFIG)
    if config is None:
        return
    if not isinstance(config, dict):
        _refuse(key, f"must be an object, not {json_kind(config)}")
    for names, (low, high) in INTEGERS.items():
        name, value = _field(config, names)
        _refuse_if(f"{key}.{name}", integer_problem(value, low, high))
    for names, (low, high) in NUMBERS.items():
        name, value = _field(config, names)
        _refuse_if(f"{key}.{name}", number_problem(value, low, high))
    name, thinking = _field(config, THINKING_CONFIG)
    if thinking is None:
        return
    if not isinstance(thinking, dict):
        _refuse(f"{key}.{name}", f"must be an object, not {json_kind(thinking)}")
    budget_name, budget = _field(thinking, THINKING_BUDGET)
    _refuse_if(f"{key}.{name}.{budget_name}", integer_problem(budget, -1, INT32_MAX, expected=BUDGET_MEANING))


def _check_function_turns(contents: object) -> None:
    if not isinstance(contents, list):
        return  # the decoder: "contents is not specified"
    call_ids: dict[str, str] = {}  # every functionCall id so far -> where
    waiting: list[_Call] = []  # the calls of the model turn(s) just before, in order
    calls_at = ""  # where those turns are, for messages
    for i, content in enumerate(contents):
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
            return  # the decoder: "contents.parts must not be empty."
        role = content.get("role") or "user"
        if role not in ("user", "model"):
            return  # the decoder: "Please use a valid role: user, model."
        if role == "model":
            if not waiting:
                calls_at = f"contents[{i}]"
            if not _record_calls(content["parts"], i, call_ids, waiting):
                return
            continue
        if not _answer_calls(content["parts"], i, waiting, calls_at):
            return
        for call in waiting:
            if not call.answered:
                _refuse(call.where, f"the functionCall {quoted(call.name)} is not answered: the turn after it "
                                    f"(contents[{i}]) must carry a functionResponse for each functionCall "
                                    f"of {calls_at}")
        waiting = []


@dataclass(slots=True)
class _Call:
    name: str
    id: str | None
    where: str
    answered: bool = False


def _record_calls(parts: list, i: int, call_ids: dict[str, str], waiting: list[_Call]) -> bool:
    """False when the decoder refuses the parts' shape."""
    for j, part in enumerate(parts):
        if not isinstance(part, dict):
            return False  # the decoder: "a part must be an object."
        key, call = _field(part, FUNCTION_CALL)
        if not call:
            continue  # as the decoder reads it: an empty functionCall is no call (and no data: refused there)
        where = f"contents[{i}].parts[{j}].{key}"
        name, call_id = _name_and_id(call, where)
        if call_id is not None:
            if call_id in call_ids:
                _refuse(f"{where}.id", f"the functionCall id {quoted(call_id)} is used twice (first at "
                                       f"{call_ids[call_id]}); call ids must be unique")
            call_ids[call_id] = f"{where}.id"
        waiting.append(_Call(name, call_id, where))
    return True


def _answer_calls(parts: list, i: int, waiting: list[_Call], calls_at: str) -> bool:
    """Marks the calls each functionResponse answers; False when the decoder refuses the parts' shape."""
    for j, part in enumerate(parts):
        if not isinstance(part, dict):
            return False
        key, response = _field(part, FUNCTION_RESPONSE)
        if not response:
            continue
        where = f"contents[{i}].parts[{j}].{key}"
        name, call_id = _name_and_id(response, where)
        call = _match(waiting, name, call_id)
        if call is None:
            if not waiting:
                _refuse(where, f"the functionResponse {quoted(name)} answers no functionCall: a functionResponse "
                               "must come in the turn right after the model turn that made the call")
            by = f"id {quoted(call_id)}" if call_id is not None else f"name {quoted(name)}"
            _refuse(where, f"the functionResponse {quoted(name)} answers no functionCall of {calls_at} (none left "
                           f"with the {by}): each functionResponse answers one functionCall of the turn before it")
        call.answered = True
    return True


def _match(waiting: list[_Call], name: str, call_id: str | None) -> _Call | None:
    """The call a response answers: the one with its id, else the first one left with its name
    (when the response or the call has no id: Gemini makes ids optional)."""
    if call_id is not None:
        for call in waiting:
            if call.id == call_id and not call.answered:
                return call
    for call in waiting:
        if call.name == name and not call.answered and (call_id is None or call.id is None):
            return call
    return None


def _name_and_id(obj: object, where: str) -> tuple[str, str | None]:
    if not isinstance(obj, dict):
        _refuse(where, f"must be an object, not {json_kind(obj)}")
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        _refuse(f"{where}.name", "is required (the function's name)")
    call_id = obj.get("id")
    if call_id is not None and (not isinstance(call_id, str) or not call_id):
        _refuse(f"{where}.id", f"must be a non-empty string when given, not {json_kind(call_id)}")
    return name, call_id


def _field(obj: dict, names: tuple[str, str]) -> tuple[str, object]:
    """(the key the client used, its value): camelCase first, as the decoder reads it."""
    camel, snake = names
    if camel in obj:
        return camel, obj[camel]
    return snake, obj.get(snake)


def _refuse_if(param: str, problem: str | None) -> None:
    if problem is not None:
        _refuse(param, problem)


def _refuse(param: str, problem: str) -> NoReturn:
    raise invalid(f"* GenerateContentRequest.{param}: {problem}.", param)

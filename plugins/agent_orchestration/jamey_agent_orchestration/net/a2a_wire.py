"""The A2A v1.0 wire format: typed objects, what to send, and how to read what comes back.

Pure functions only (no I/O), so every rule here is tested without a socket. The shapes are those
the official SDK serves (``A2A-WIRE.md``); the rules are those of the contract, section 7.

- Parsing: :func:`parse_agent_card`, :func:`parse_task`, :func:`parse_message`. Unknown fields are
  ignored, as A2A requires; what the connector relies on is checked strictly (types, lengths, enum
  values), and a problem is an :class:`InvalidA2A` naming the field
  (``Invalid agent card: supportedInterfaces[0].url is missing``). Every document is first walked
  without recursion to bound its depth and size, so no hostile nesting reaches a recursive step
  (unless its text shows it cannot exceed them: :func:`within_bounds`).
- The card: :func:`choose_interface`, :func:`key_placement`, :func:`default_capabilities`.
- Requests: :func:`build_request` for either binding, over :func:`jsonrpc_request`,
  :func:`send_message_params`, :func:`rest_path` and friends.
- Answers: :func:`parse_response` turns a JSON-RPC or HTTP+JSON answer into an :data:`Outcome`, and
  :func:`send_verdict` applies the success rule of ``send_task``.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal, TypeAlias, final, get_args, get_origin
from urllib.parse import quote, urlsplit

import attrs
import cattrs
from cattrs.errors import AttributeValidationNote, IterableValidationError, IterableValidationNote
from cattrs.gen import make_dict_structure_fn, override

from jamey_agent_orchestration.net.agent_text import (
    MAX_ERROR_CHARS,
    clean_text,
    error_message,
    status_error,
)
from jamey_agent_orchestration.net.json_text import request_body

__all__ = [
    "A2A_VERSION",
    "CARD_PATH",
    "HTTP_JSON",
    "JSONRPC",
    "MAX_DEPTH",
    "MAX_ERROR_CHARS",
    "MAX_ID_CHARS",
    "MAX_ITEMS",
    "MAX_VALUES",
    "AgentCapabilities",
    "AgentCard",
    "AgentError",
    "AgentInterface",
    "AgentSkill",
    "ApiKeyScheme",
    "Artifact",
    "Binding",
    "Call",
    "CancelTaskCall",
    "ErrorStatus",
    "GetTaskCall",
    "HttpAuthScheme",
    "InsecureInterface",
    "InvalidA2A",
    "KeyPlacement",
    "Message",
    "MessageAnswer",
    "Outcome",
    "Part",
    "SecurityRequirement",
    "SecurityScheme",
    "SendMessageCall",
    "StatusHead",
    "Task",
    "TaskAnswer",
    "TaskHead",
    "TaskState",
    "TaskStatus",
    "UnsupportedScheme",
    "Verdict",
    "WireRequest",
    "build_request",
    "cancel_task_params",
    "checked_id",
    "choose_interface",
    "clean_text",
    "default_capabilities",
    "encode_json",
    "get_task_params",
    "jsonrpc_request",
    "key_header",
    "key_placement",
    "parse_agent_card",
    "parse_message",
    "parse_response",
    "parse_task",
    "rest_path",
    "send_message_params",
    "send_verdict",
    "user_message",
]

A2A_VERSION: Final = "1.0"  # the A2A-Version header: without it the SDK server assumes 0.3
CARD_PATH: Final = "/.well-known/agent-card.json"
JSONRPC: Final = "JSONRPC"
HTTP_JSON: Final = "HTTP+JSON"
Binding: TypeAlias = Literal["JSONRPC", "HTTP+JSON"]

MAX_DEPTH: Final = 64  # nesting of objects and lists in one document
MAX_VALUES: Final = 1_000_000  # JSON values in one document
MAX_ITEMS: Final = 10_000  # entries of any list or map the connector reads
MAX_ID_CHARS: Final = 256  # task, context, message and artifact ids
MAX_NAME_CHARS: Final = 256  # names, versions, bindings, media types, skill ids and tags
MAX_URL_CHARS: Final = 2048
_MAX_PATH_KEY_CHARS: Final = 40  # a map key quoted in an error message


class InvalidA2A(ValueError):
    """A document that is not the A2A the connector relies on; the message names the field.

    ``str`` is ``Invalid {subject}: {field} {problem}``, e.g. ``Invalid agent card:
    supportedInterfaces[0].url is missing``. The field path uses the wire's names.
    """

    def __init__(self, subject: str, field: str, problem: str) -> None:
        where = f"{field} " if field else ""
        if not field and problem.startswith(("must ", "is ", "has ", "holds ")):
            where = "the document "  # the whole document is at fault, not one field
        super().__init__(f"Invalid {subject}: {where}{problem}")
        self.subject = subject
        self.field = field
        self.problem = problem


class InsecureInterface(ValueError):
    """The chosen interface's URL is not ``https``. The message starts ``Security violation:``."""

    def __init__(self, scheme: str, index: int) -> None:
        super().__init__(f"Security violation: Agent URLs must use HTTPS. Got: {scheme}")
        self.scheme = scheme
        self.index = index


CARD: Final = "agent card"
RESPONSE: Final = "agent response"


class TaskState(enum.StrEnum):
    """Task states as the wire spells them."""

    SUBMITTED = "TASK_STATE_SUBMITTED"
    WORKING = "TASK_STATE_WORKING"
    COMPLETED = "TASK_STATE_COMPLETED"
    FAILED = "TASK_STATE_FAILED"
    CANCELED = "TASK_STATE_CANCELED"
    REJECTED = "TASK_STATE_REJECTED"
    INPUT_REQUIRED = "TASK_STATE_INPUT_REQUIRED"
    AUTH_REQUIRED = "TASK_STATE_AUTH_REQUIRED"
    UNSPECIFIED = "TASK_STATE_UNSPECIFIED"


_STATES: Final = {state.value: state for state in TaskState}  # a lookup, not an enum call
_RUNNING: Final = frozenset({TaskState.SUBMITTED, TaskState.WORKING})
_INTERRUPTED: Final = frozenset({TaskState.INPUT_REQUIRED, TaskState.AUTH_REQUIRED})


# --- field checks ------------------------------------------------------------------------------
# Each check gets the raw JSON value and returns it typed, or raises _Problem. They run inside the
# cattrs hooks, so a problem carries the path of the field it was found in.


class _Problem(ValueError):
    """What is wrong with one value; ``field`` is a path below the value cattrs is structuring."""

    def __init__(self, problem: str, *field: str | int) -> None:
        super().__init__(problem)
        self.problem = problem
        self.field = field


def _string(value: object, limit: int | None = None) -> str:
    if type(value) is not str:
        raise _Problem("must be a string")
    if limit is not None and len(value) > limit:
        raise _Problem(f"is longer than {limit} characters")
    return value


def _text(value: object, _: object = None) -> str:
    return _string(value)


def _name(value: object, _: object = None) -> str:
    return _string(value, MAX_NAME_CHARS)


def _url(value: object, _: object = None) -> str:
    return _string(value, MAX_URL_CHARS)


def _identifier(value: object, _: object = None) -> str:
    text = _string(value, MAX_ID_CHARS)
    if not text:
        raise _Problem("is empty")
    if not text.isprintable():
        raise _Problem("contains non-printable characters")
    return text


def _optional(check: Callable[[object], str]) -> Callable[[object, object], str | None]:
    def optional(value: object, _: object = None) -> str | None:
        return None if value is None else check(value)

    return optional


def _boolean(value: object, _: object = None) -> bool:
    if type(value) is not bool:
        raise _Problem("must be true or false")
    return value


def _json_object(value: object, _: object = None) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Problem("must be an object")
    return value


def _any_json(value: object, _: object = None) -> Any:
    return value  # bounded already by _check_bounds


def _task_state(value: object, _: object = None) -> TaskState:
    text = _string(value)
    state = _STATES.get(text)
    if state is None:
        hint = " (v0.3 spellings such as 'completed' are not A2A v1.0)" if text.islower() else ""
        raise _Problem(f"is not a known task state: {clean_text(text, 64)!r}{hint}")
    return state


# attrs field metadata naming the check a field's wire value goes through (see _class_hook).
_CHECK: Final = "a2a_wire_check"
_ID: Final = {_CHECK: _identifier}
_OPT_ID: Final = {_CHECK: _optional(_identifier)}
_NAME: Final = {_CHECK: _name}
_OPT_NAME: Final = {_CHECK: _optional(_name)}
_TEXT: Final = {_CHECK: _text}
_OPT_TEXT: Final = {_CHECK: _optional(_text)}
_URL: Final = {_CHECK: _url}
_OPT_URL: Final = {_CHECK: _optional(_url)}
_BOOL: Final = {_CHECK: _boolean}
_OBJECT: Final = {_CHECK: _json_object}
_JSON: Final = {_CHECK: _any_json}
_STATE: Final = {_CHECK: _task_state}


# --- the objects -------------------------------------------------------------------------------
# Field names are the wire's camelCase names in snake_case; _class_hook renames them. Fields that
# the connector does not rely on have defaults, so their absence is no error.


@final
@attrs.frozen
class AgentInterface:
    url: str = attrs.field(metadata=_URL)
    protocol_binding: str = attrs.field(metadata=_NAME)
    protocol_version: str | None = attrs.field(metadata=_OPT_NAME, default=None)
    tenant: str | None = attrs.field(metadata=_OPT_NAME, default=None)


@final
@attrs.frozen
class HttpAuthScheme:
    """``httpAuthSecurityScheme``: ``scheme`` is ``Bearer`` for a bearer token."""

    scheme: str = attrs.field(metadata=_NAME)
    bearer_format: str | None = attrs.field(metadata=_OPT_NAME, default=None)
    description: str | None = attrs.field(metadata=_OPT_TEXT, default=None)


@final
@attrs.frozen
class ApiKeyScheme:
    """``apiKeySecurityScheme``: the key is sent as ``name`` in ``location`` (header, ...)."""

    location: str = attrs.field(metadata=_NAME)
    name: str = attrs.field(metadata=_NAME)
    description: str | None = attrs.field(metadata=_OPT_TEXT, default=None)


@final
@attrs.frozen
class UnsupportedScheme:
    """A scheme the connector cannot satisfy with an API key, e.g. ``mtlsSecurityScheme``."""

    kind: str


SecurityScheme: TypeAlias = HttpAuthScheme | ApiKeyScheme | UnsupportedScheme
_SchemeMap: TypeAlias = Mapping[str, SecurityScheme]


@final
@attrs.frozen
class SecurityRequirement:
    """One alternative of ``securityRequirements``: scheme name to its scopes (all needed)."""

    schemes: Mapping[str, tuple[str, ...]]


@final
@attrs.frozen
class AgentSkill:
    id: str = attrs.field(metadata=_ID)  # becomes a capability: no empty or unprintable id
    name: str = attrs.field(metadata=_TEXT, default="")
    description: str = attrs.field(metadata=_TEXT, default="")
    tags: tuple[str, ...] = attrs.field(default=())
    examples: tuple[str, ...] = attrs.field(default=())
    input_modes: tuple[str, ...] = attrs.field(default=())
    output_modes: tuple[str, ...] = attrs.field(default=())


@final
@attrs.frozen
class AgentCapabilities:
    streaming: bool = attrs.field(metadata=_BOOL, default=False)
    push_notifications: bool = attrs.field(metadata=_BOOL, default=False)
    extended_agent_card: bool = attrs.field(metadata=_BOOL, default=False)


@final
@attrs.frozen
class AgentCard:
    name: str = attrs.field(metadata=_NAME)
    supported_interfaces: tuple[AgentInterface, ...] = attrs.field()
    description: str = attrs.field(metadata=_TEXT, default="")
    version: str = attrs.field(metadata=_NAME, default="")
    capabilities: AgentCapabilities = attrs.field(factory=AgentCapabilities)
    security_schemes: Mapping[str, SecurityScheme] = attrs.field(factory=dict)
    security_requirements: tuple[SecurityRequirement, ...] = attrs.field(default=())
    default_input_modes: tuple[str, ...] = attrs.field(default=())
    default_output_modes: tuple[str, ...] = attrs.field(default=())
    skills: tuple[AgentSkill, ...] = attrs.field(default=())


_PART_KINDS: Final = ("text", "raw", "url", "data")


@final
@attrs.frozen
class Part:
    """Exactly one of ``text``, ``raw`` (base64), ``url`` or ``data`` (any JSON value)."""

    text: str | None = attrs.field(metadata=_OPT_TEXT, default=None)
    raw: str | None = attrs.field(metadata=_OPT_TEXT, default=None)
    url: str | None = attrs.field(metadata=_OPT_URL, default=None)
    data: Any = attrs.field(metadata=_JSON, default=None)
    media_type: str | None = attrs.field(metadata=_OPT_NAME, default=None)
    filename: str | None = attrs.field(metadata=_OPT_NAME, default=None)
    metadata: Mapping[str, Any] | None = attrs.field(metadata=_OBJECT, default=None)

    @property
    def kind(self) -> Literal["text", "raw", "url", "data"]:
        if self.text is not None:
            return "text"
        if self.raw is not None:
            return "raw"
        if self.url is not None:
            return "url"
        return "data"  # a parsed Part holds exactly one kind: data, possibly JSON null


@final
@attrs.frozen
class Message:
    message_id: str = attrs.field(metadata=_ID)
    role: str = attrs.field(metadata=_NAME)
    parts: tuple[Part, ...] = attrs.field(default=())
    context_id: str | None = attrs.field(metadata=_OPT_ID, default=None)
    task_id: str | None = attrs.field(metadata=_OPT_ID, default=None)
    metadata: Mapping[str, Any] | None = attrs.field(metadata=_OBJECT, default=None)
    extensions: tuple[str, ...] = attrs.field(default=())
    reference_task_ids: tuple[str, ...] = attrs.field(default=())

    def text(self) -> str:
        """The text parts joined by newlines (empty if there are none)."""
        return "\n".join(part.text for part in self.parts if part.text is not None)


@final
@attrs.frozen
class TaskStatus:
    state: TaskState = attrs.field(metadata=_STATE)
    message: Message | None = attrs.field(default=None)
    timestamp: str | None = attrs.field(metadata=_OPT_NAME, default=None)


@final
@attrs.frozen
class Artifact:
    artifact_id: str = attrs.field(metadata=_ID)
    parts: tuple[Part, ...] = attrs.field(default=())
    name: str | None = attrs.field(metadata=_OPT_TEXT, default=None)
    description: str | None = attrs.field(metadata=_OPT_TEXT, default=None)
    metadata: Mapping[str, Any] | None = attrs.field(metadata=_OBJECT, default=None)
    extensions: tuple[str, ...] = attrs.field(default=())


@final
@attrs.frozen
class Task:
    id: str = attrs.field(metadata=_ID)
    context_id: str = attrs.field(metadata=_ID)
    status: TaskStatus = attrs.field()
    artifacts: tuple[Artifact, ...] = attrs.field(default=())
    history: tuple[Message, ...] = attrs.field(default=())
    metadata: Mapping[str, Any] | None = attrs.field(metadata=_OBJECT, default=None)


# StatusHead and TaskHead are made from every Task answered: mutable slotted attrs classes, whose
# __init__ does not pay the object.__setattr__ per field of a frozen one. Nothing changes them.
@final
@attrs.define
class StatusHead:
    """A Task's status as the connector relies on it: its state. The status message is kept as
    the agent sent it, and read only for the text of a warning or an error."""

    state: TaskState = attrs.field(metadata=_STATE)
    message: Mapping[str, Any] | None = attrs.field(metadata=_OBJECT, default=None)

    def text(self) -> str:
        """The status message's text parts, cleaned; empty if it has none it can show."""
        if self.message is None:
            return ""
        try:
            message = parse_message(self.message)
        except InvalidA2A:  # only words for a person: a message it cannot read says nothing
            return ""
        return clean_text(message.text())


@final
@attrs.define
class TaskHead:
    """What the connector relies on of a Task in an answer: its ids and its state.

    The rest (history, artifacts, metadata, the status message) goes out with the Task JSON as the
    agent sent it, bounded in size and depth like the whole answer, but not judged: a history
    entry the connector would not understand is no reason to refuse the task it describes.
    """

    id: str = attrs.field(metadata=_ID)
    context_id: str = attrs.field(metadata=_ID)
    status: StatusHead = attrs.field()


# --- the converter -----------------------------------------------------------------------------


def _wire_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _class_hook(converter: cattrs.Converter, cls: type[Any]) -> Callable[[object, object], Any]:
    overrides = {}
    for attribute in attrs.fields(cls):
        check = attribute.metadata.get(_CHECK)
        rename = _wire_name(attribute.name)
        overrides[attribute.name] = override(rename=rename, struct_hook=check)
    # cattrs types **overrides together with its named flags; every value here is an override.
    structure = make_dict_structure_fn(cls, converter, **overrides)  # type: ignore[arg-type]

    def hook(value: object, _: object) -> Any:
        if not isinstance(value, dict):
            raise _Problem("must be an object")
        return structure(value, cls)

    return hook


def _part_hook(converter: cattrs.Converter) -> Callable[[object, object], Part]:
    structure = _class_hook(converter, Part)

    def hook(value: object, _: object) -> Part:
        if isinstance(value, dict):
            kinds = ("text" in value) + ("raw" in value) + ("url" in value) + ("data" in value)
            if kinds != 1:
                present = [kind for kind in _PART_KINDS if kind in value]
                found = f" (has {', '.join(present)})" if present else ""
                raise _Problem(f"must have exactly one of text, raw, url or data{found}")
        part: Part = structure(value, Part)
        return part

    return hook


def _tuple_hook_factory(converter: cattrs.Converter, *, detailed: bool) -> Callable[[Any], Any]:
    def factory(type_: Any) -> Callable[[object, object], tuple[Any, ...]]:
        (item_type, _) = get_args(type_)
        item_hook = _name if item_type is str else converter.get_structure_hook(item_type)

        def hook(value: object, _: object) -> tuple[Any, ...]:
            if not isinstance(value, list):
                raise _Problem("must be a list")
            if len(value) > MAX_ITEMS:
                raise _Problem(f"has more than {MAX_ITEMS} entries")
            if not detailed:
                return tuple([item_hook(item, item_type) for item in value])
            items = []
            for index, item in enumerate(value):
                try:
                    items.append(item_hook(item, item_type))
                except Exception as exc:
                    _at(exc, index, type_)
                    raise IterableValidationError("list item", [exc], type_) from None
            return tuple(items)

        return hook

    return factory


def _at(exc: Exception, key: int | str, type_: Any) -> None:
    exc.add_note(IterableValidationNote(f"Structuring {type_} @ {key!r}", key, type_))


def _map_of(check: Callable[[str, object], Any], type_: Any) -> Callable[[object, object], Any]:
    def hook(value: object, _: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _Problem("must be an object")
        if len(value) > MAX_ITEMS:
            raise _Problem(f"has more than {MAX_ITEMS} entries")
        structured = {}
        for key, item in value.items():
            try:
                structured[_name(key)] = check(key, item)
            except Exception as exc:
                _at(exc, key, type_)
                raise IterableValidationError("map entry", [exc], type_) from None
        return structured

    return hook


def _scheme_hook(converter: cattrs.Converter) -> Callable[[str, object], SecurityScheme]:
    def structure(_: str, value: object) -> SecurityScheme:
        if not isinstance(value, dict) or len(value) != 1:
            raise _Problem("must hold exactly one scheme, e.g. httpAuthSecurityScheme")
        ((kind, body),) = value.items()
        try:
            if kind == "httpAuthSecurityScheme":
                return converter.structure(body, HttpAuthScheme)
            if kind == "apiKeySecurityScheme":
                return converter.structure(body, ApiKeyScheme)
        except Exception as exc:
            _at(exc, kind, dict)
            raise IterableValidationError("scheme", [exc], dict) from None
        return UnsupportedScheme(kind=clean_text(_name(kind), 64))

    return structure


def _requirement_hook(value: object, _: object) -> SecurityRequirement:
    if not isinstance(value, dict):
        raise _Problem("must be an object")
    schemes = value.get("schemes", {})

    def scopes(_: str, entry: object) -> tuple[str, ...]:
        if not isinstance(entry, dict):
            raise _Problem("must be an object")
        listed = entry.get("list", [])
        if not isinstance(listed, list) or len(listed) > MAX_ITEMS:
            raise _Problem(f"must be a list of at most {MAX_ITEMS} scopes", "list")
        return tuple(_name(scope) for scope in listed)

    try:
        mapped = _map_of(scopes, Mapping[str, tuple[str, ...]])(schemes, None)
    except Exception as exc:
        exc.add_note(AttributeValidationNote("schemes", "schemes", dict))
        raise IterableValidationError("requirement", [exc], SecurityRequirement) from None
    return SecurityRequirement(schemes=mapped)


def _is_tuple(type_: Any) -> bool:
    origin: object = get_origin(type_)
    return origin is tuple


def _make_converter(*, detailed: bool) -> cattrs.Converter:
    converter = cattrs.Converter(detailed_validation=detailed, forbid_extra_keys=False)
    converter.register_structure_hook(str, _name)
    tuples = _tuple_hook_factory(converter, detailed=detailed)
    converter.register_structure_hook_factory(_is_tuple, tuples)
    converter.register_structure_hook(SecurityRequirement, _requirement_hook)
    leaves: tuple[type[Any], ...] = (
        AgentInterface,
        HttpAuthScheme,
        ApiKeyScheme,
        AgentSkill,
        AgentCapabilities,
    )
    for cls in leaves:  # registered before the classes that contain them
        converter.register_structure_hook(cls, _class_hook(converter, cls))
    converter.register_structure_hook_func(
        lambda type_: type_ == _SchemeMap, _map_of(_scheme_hook(converter), _SchemeMap)
    )
    converter.register_structure_hook(Part, _part_hook(converter))
    containers: tuple[type[Any], ...] = (
        Message,
        TaskStatus,
        StatusHead,
        Artifact,
        Task,
        TaskHead,
        AgentCard,
    )
    for cls in containers:
        converter.register_structure_hook(cls, _class_hook(converter, cls))
    return converter


# The fast converter parses every good document; only a failure is parsed again by the detailed
# one, which records where in the document each problem sits.
_FAST: Final = _make_converter(detailed=False)
_DETAILED: Final = _make_converter(detailed=True)
# The fast converter's hooks, looked up once rather than dispatched on every answer.
_FAST_HOOKS: Final = {
    cls: _FAST.get_structure_hook(cls) for cls in (Message, Task, TaskHead, AgentCard)
}


def _structure(
    document: object, cls: type[Any], subject: str, root: str = "", *, bounded: bool = False
) -> Any:
    if not bounded:
        _check_bounds(document, subject, root)
    try:
        return _FAST_HOOKS[cls](document, cls)
    except Exception:  # noqa: S110 - explained by the detailed pass below
        pass
    try:
        _DETAILED.structure(document, cls)
    except Exception as exc:
        field, problem = _explain(exc)
        raise InvalidA2A(subject, _join(root, field), problem) from None
    raise InvalidA2A(subject, root, "is not valid")  # pragma: no cover - both passes agree


def _explain(exc: BaseException) -> tuple[str, str]:
    """The path (wire names) and the problem of the first error inside a cattrs error tree."""
    path: list[str | int] = []
    current = exc
    while True:
        for note in getattr(current, "__notes__", ()):
            if isinstance(note, AttributeValidationNote):
                path.append(_wire_name(note.name))
            elif isinstance(note, IterableValidationNote):
                path.append(note.index)
        group = getattr(current, "exceptions", None)
        if not group:
            break
        current = group[0]
    if isinstance(current, _Problem):
        path.extend(current.field)
        problem = current.problem
    elif isinstance(current, KeyError):
        problem = "is missing"
    else:
        problem = "is not valid"
    return _render(path), problem


def _render(path: list[str | int]) -> str:
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            key = clean_text(step, _MAX_PATH_KEY_CHARS)
            plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key) is not None
            text += (f".{key}" if text else key) if plain else f"[{key!r}]"
    return text


def _join(root: str, field: str) -> str:
    if not root:
        return field
    return f"{root}{field}" if not field or field.startswith("[") else f"{root}.{field}"


def _check_bounds(document: object, subject: str, root: str) -> None:
    """Refuse documents deeper than MAX_DEPTH or larger than MAX_VALUES, without recursion.

    Only the types a JSON decoder makes are JSON here, and no number that is not finite: the
    connector's decoder refuses ``1e400``, but the standard library's reads it as infinity, which
    would go out as ``Infinity``, which is not JSON.
    """
    level: list[Any] = [document]
    depth = count = 0
    while level:
        if depth > MAX_DEPTH:
            raise InvalidA2A(subject, root, f"is nested deeper than {MAX_DEPTH} levels")
        count += len(level)
        if count > MAX_VALUES:
            raise InvalidA2A(subject, root, f"holds more than {MAX_VALUES} values")
        below: list[Any] = []
        for value in level:
            kind = type(value)
            if kind is dict:
                below.extend(value.values())
            elif kind is list:
                below.extend(value)
            elif kind is float:
                if not math.isfinite(value):
                    raise InvalidA2A(subject, root, "holds a number that is not finite")
            elif kind is not str and kind is not int and kind is not bool and value is not None:
                raise InvalidA2A(subject, root, "holds a value that is not JSON")
        level = below
        depth += 1


def within_bounds(text: str) -> bool:
    """Whether any document parsed from ``text`` is within MAX_DEPTH and MAX_VALUES, by its text.

    Every level of nesting opens a bracket and every value takes at least one character, so a
    text with few brackets and characters needs no walk. (True is a proof; False only means that
    the document must be walked.)
    """
    return len(text) <= MAX_VALUES and text.count("{") + text.count("[") <= MAX_DEPTH


def parse_agent_card(document: object) -> AgentCard:
    """The card, or :class:`InvalidA2A` (``Invalid agent card: ...``)."""
    if isinstance(document, dict) and "supportedInterfaces" not in document:
        hint = " (an A2A v0.3 card?)" if "url" in document else ""
        raise InvalidA2A(CARD, "supportedInterfaces", f"is missing{hint}")
    card: AgentCard = _structure(document, AgentCard, CARD)
    return card


def parse_task(document: object, *, field: str = "") -> Task:
    """A Task, or :class:`InvalidA2A` (``Invalid agent response: ...``).

    ``field`` is where the Task sits in the answer (``result.task``), for the error's path.
    """
    task: Task = _structure(document, Task, RESPONSE, field)
    return task


def parse_message(document: object, *, field: str = "") -> Message:
    message: Message = _structure(document, Message, RESPONSE, field)
    return message


# --- the card ----------------------------------------------------------------------------------

_VERSION_1: Final = re.compile(r"1(\.\d{1,9}){0,2}")


def choose_interface(card: AgentCard) -> AgentInterface:
    """The first interface, in card order, with a JSONRPC or HTTP+JSON binding of version 1.x.

    Its URL must be ``https`` (:class:`InsecureInterface` otherwise; the next interface is not
    tried). The address policy is the caller's to check.
    """
    for index, interface in enumerate(card.supported_interfaces):
        version = interface.protocol_version or ""
        if interface.protocol_binding in (JSONRPC, HTTP_JSON) and _VERSION_1.fullmatch(version):
            try:
                parts = urlsplit(interface.url)
            except ValueError:
                raise InvalidA2A(
                    CARD, f"supportedInterfaces[{index}].url", "is not a URL"
                ) from None
            if parts.scheme.lower() != "https":
                raise InsecureInterface(clean_text(parts.scheme, 16) or "(none)", index)
            return interface
    raise InvalidA2A(CARD, "", "no supported interface (JSONRPC or HTTP+JSON, version 1.x)")


_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")
# Headers the connector sets itself or that frame the request: a key must not replace them.
_RESERVED_HEADERS: Final = frozenset(
    {
        "a2a-version",
        "a2a-extensions",
        "accept",
        "accept-encoding",
        "connection",
        "content-encoding",
        "content-length",
        "content-type",
        "cookie",
        "expect",
        "host",
        "idempotency-key",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
    }
)


@final
@attrs.frozen
class KeyPlacement:
    """How the key is sent: ``Authorization: Bearer KEY`` (``header=None``) or ``header: KEY``."""

    header: str | None = None

    def header_for(self, api_key: str) -> tuple[str, str]:
        """The header name and value that carry ``api_key``."""
        return key_header(self.header, api_key)

    def to_text(self) -> str:
        """``bearer`` or ``header:NAME``: for storing in the registry."""
        return "bearer" if self.header is None else f"header:{self.header}"

    @classmethod
    def from_text(cls, text: str) -> KeyPlacement:
        if text == "bearer":
            return cls()
        kind, _, name = text.partition(":")
        if kind != "header" or not _usable_header(name):
            raise ValueError(f"not a key placement: {clean_text(text, 64)!r}")
        return cls(header=name)


def key_header(header: str | None, api_key: str) -> tuple[str, str]:
    """The header that carries ``api_key`` when the key goes in ``header`` (``None``: Bearer).

    :meth:`KeyPlacement.header_for` without the object, for an agent that keeps the name only.
    """
    if header is None:
        return "Authorization", f"Bearer {api_key}"
    return header, api_key


def _usable_header(name: str) -> bool:
    return _TOKEN.fullmatch(name) is not None and name.lower() not in _RESERVED_HEADERS


def key_placement(card: AgentCard) -> KeyPlacement:
    """Bearer, unless the card's scheme is an ``apiKeySecurityScheme`` in a header.

    The schemes are taken in the order of ``securityRequirements`` (then of ``securitySchemes``
    if the card names no requirement), as the SDK's own client does: the first that an API key can
    satisfy decides. ``http`` Bearer, ``oauth2`` and ``openIdConnect`` mean a Bearer token; other
    schemes (mutual TLS, an API key in a query or cookie, HTTP Basic) are passed over.
    """
    named = [name for requirement in card.security_requirements for name in requirement.schemes]
    for name in dict.fromkeys(named or card.security_schemes):
        scheme = card.security_schemes.get(name)
        if isinstance(scheme, ApiKeyScheme) and scheme.location.lower() == "header":
            if not _usable_header(scheme.name):
                field = _join("securitySchemes", _render([name])) + ".apiKeySecurityScheme.name"
                raise InvalidA2A(CARD, field, "is not a header name the key can be sent in")
            return KeyPlacement(header=scheme.name)
        if isinstance(scheme, HttpAuthScheme) and scheme.scheme.lower() == "bearer":
            return KeyPlacement()
        if isinstance(scheme, UnsupportedScheme) and scheme.kind in (
            "oauth2SecurityScheme",
            "openIdConnectSecurityScheme",
        ):
            return KeyPlacement()
    return KeyPlacement()


def default_capabilities(card: AgentCard) -> tuple[str, ...]:
    """Each skill's id then its tags, in card order, keeping the first of any duplicate.

    Empty and unprintable tags are left out (skill ids are checked when the card is parsed).
    """
    names = (name for skill in card.skills for name in (skill.id, *skill.tags))
    return tuple(dict.fromkeys(name for name in names if name and name.isprintable()))


# --- requests ----------------------------------------------------------------------------------
# The calls and the request below, and TaskAnswer, are built for every request: mutable slotted
# attrs classes (as the heads above), whose __init__ does not pay the object.__setattr__ per field
# of a frozen one. Nothing changes them once built.


@final
@attrs.define(kw_only=True)
class SendMessageCall:
    """``send_task``: the task text, its ``param_`` params, and the ids it may continue."""

    text: str
    data: Mapping[str, str] = attrs.field(factory=dict)
    message_id: str
    context_id: str | None = None
    task_id: str | None = None
    wait: bool = True


@final
@attrs.define(kw_only=True)
class GetTaskCall:
    task_id: str
    history_length: int | None = None


@final
@attrs.define(kw_only=True)
class CancelTaskCall:
    task_id: str


Call: TypeAlias = SendMessageCall | GetTaskCall | CancelTaskCall


@final
@attrs.define(kw_only=True)
class WireRequest:
    """One HTTP request: send ``body`` (if any) as JSON with ``Content-Type: application/json``."""

    method: Literal["GET", "POST"]
    url: str
    body: Mapping[str, Any] | None


def checked_id(value: str, param: str) -> str:
    """``value`` if it can be an A2A id (1 to 256 printable characters); else ``ValueError``."""
    try:
        return _identifier(value)
    except _Problem:
        raise ValueError(f"Invalid {param}: use 1 to {MAX_ID_CHARS} printable characters") from None


def user_message(
    *,
    text: str,
    data: Mapping[str, str],
    message_id: str,
    context_id: str | None = None,
    task_id: str | None = None,
) -> dict[str, Any]:
    """``{"messageId", "role": "ROLE_USER", "parts": [text, data?]}``; the data part only if any."""
    if not isinstance(text, str) or not text:
        raise ValueError("Invalid task: the message text must not be empty")
    parts: list[dict[str, Any]] = [{"text": text}]
    if data:
        parts.append({"data": dict(data), "mediaType": "application/json"})
    message: dict[str, Any] = {
        "messageId": checked_id(message_id, "message_id"),
        "role": "ROLE_USER",
        "parts": parts,
    }
    if context_id is not None:
        message["contextId"] = checked_id(context_id, "context_id")
    if task_id is not None:
        message["taskId"] = checked_id(task_id, "task_id")
    return message


def send_message_params(call: SendMessageCall) -> dict[str, Any]:
    """The SendMessage params (also the HTTP+JSON body); ``wait=False`` asks to return at once."""
    params: dict[str, Any] = {
        "message": user_message(
            text=call.text,
            data=call.data,
            message_id=call.message_id,
            context_id=call.context_id,
            task_id=call.task_id,
        )
    }
    if not call.wait:
        params["configuration"] = {"returnImmediately": True}
    return params


def _history_length(value: int | None) -> int | None:
    if value is not None and (type(value) is not int or not 0 <= value <= MAX_ITEMS):
        raise ValueError(f"Invalid history_length: use a whole number from 0 to {MAX_ITEMS}")
    return value


def get_task_params(call: GetTaskCall) -> dict[str, Any]:
    params: dict[str, Any] = {"id": checked_id(call.task_id, "task_id")}
    if _history_length(call.history_length) is not None:
        params["historyLength"] = call.history_length
    return params


def cancel_task_params(call: CancelTaskCall) -> dict[str, Any]:
    return {"id": checked_id(call.task_id, "task_id")}


_METHODS: Final = {
    SendMessageCall: "SendMessage",
    GetTaskCall: "GetTask",
    CancelTaskCall: "CancelTask",
}


def _params(call: Call) -> dict[str, Any]:
    if isinstance(call, SendMessageCall):
        return send_message_params(call)
    if isinstance(call, GetTaskCall):
        return get_task_params(call)
    return cancel_task_params(call)


def jsonrpc_request(call: Call, *, request_id: int | str) -> dict[str, Any]:
    """The JSON-RPC 2.0 body, with the v1.0 method name (``SendMessage``, ...)."""
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": _METHODS[type(call)],
        "params": _params(call),
    }


def rest_path(call: Call) -> str:
    """The HTTP+JSON path below the interface URL; ids are percent-encoded, ``/`` and ``:`` too.

    (An ASGI server such as the SDK's decodes the path before routing, so an id holding ``/``
    finds no route there: a plain 404, never another resource.)
    """
    if isinstance(call, SendMessageCall):
        return "/message:send"
    task_id = quote(checked_id(call.task_id, "task_id"), safe="")
    if task_id in (".", ".."):  # dot segments: URL libraries resolve them, %2E-encoded or not
        raise ValueError("Invalid task_id: '.' and '..' cannot be sent in a URL path")
    if isinstance(call, GetTaskCall):
        length = _history_length(call.history_length)
        return f"/tasks/{task_id}" + ("" if length is None else f"?historyLength={length}")
    return f"/tasks/{task_id}:cancel"


def build_request(
    binding: Binding, interface_url: str, call: Call, *, request_id: int | str = 1
) -> WireRequest:
    """The request for ``call`` on ``binding`` at the chosen interface's URL."""
    if binding == JSONRPC:
        return WireRequest(
            method="POST", url=interface_url, body=jsonrpc_request(call, request_id=request_id)
        )
    if binding != HTTP_JSON:
        raise ValueError(f"not an A2A binding the connector speaks: {clean_text(binding, 32)!r}")
    url = interface_url.rstrip("/") + rest_path(call)
    if isinstance(call, GetTaskCall):
        return WireRequest(method="GET", url=url, body=None)
    # The SDK client sends {"id": ...} to :cancel; its server ignores the body.
    body = send_message_params(call) if isinstance(call, SendMessageCall) else _params(call)
    return WireRequest(method="POST", url=url, body=body)


# --- answers -----------------------------------------------------------------------------------


@final
@attrs.define(kw_only=True)
class TaskAnswer:
    """A Task: its :class:`TaskHead`, and ``json``, the Task object as received (unknown fields
    kept), for the output. :attr:`task` is the whole Task, typed, parsed when asked for."""

    head: TaskHead
    json: Mapping[str, Any] = attrs.field(repr=False, eq=False)
    field: str = attrs.field(default="", repr=False, eq=False)  # where it sat in the answer

    @property
    def task(self) -> Task:
        """The whole Task, typed (its history and artifacts too); :class:`InvalidA2A` if not."""
        return parse_task(self.json, field=self.field)

    def metadata(self) -> dict[str, str]:
        return {
            "protocol": "a2a",
            "task_id": self.head.id,
            "context_id": self.head.context_id,
            "state": str(self.head.status.state),  # the wire's spelling (a StrEnum)
        }


@final
@attrs.frozen(kw_only=True)
class MessageAnswer:
    message: Message
    json: Mapping[str, Any] = attrs.field(repr=False, eq=False)

    def metadata(self) -> dict[str, str]:
        return {"protocol": "a2a"}


@final
@attrs.frozen(kw_only=True)
class AgentError:
    """An error object: JSON-RPC ``error``, or an HTTP+JSON error body (``code`` = HTTP status).

    ``message`` is already cleaned (control characters out, at most 200 characters); ``reason``
    is the A2A reason of its details (``TASK_NOT_FOUND``, ...), if it gave one.
    """

    code: int
    message: str
    reason: str | None = None

    def describe(self) -> str:
        return f"Agent returned error: {self.code} {self.message}".rstrip()


@final
@attrs.frozen(kw_only=True)
class ErrorStatus:
    """A non-2xx answer without an A2A error object; ``message`` is the agent's own, if it said."""

    status: int
    message: str | None = None

    def describe(self) -> str:
        return status_error(self.status, self.message)


Outcome: TypeAlias = TaskAnswer | MessageAnswer | AgentError | ErrorStatus


def parse_response(
    binding: Binding, call: Call, *, status: int, document: object, bounded: bool = False
) -> Outcome:
    """What the agent answered to ``call``: ``document`` is the parsed JSON body (``None`` if none).

    ``bounded`` says that the caller vouches for the document's bounds, so it is not walked: it
    was parsed from strict JSON text (no number that is not finite) for which
    :func:`within_bounds` holds.

    JSON-RPC errors come with HTTP 200; any non-2xx JSON-RPC answer is an :class:`ErrorStatus`
    unless it holds a JSON-RPC error object. An HTTP+JSON non-2xx answer with an error object
    ``{"error": {"message", ...}}`` is an :class:`AgentError` whose code is the HTTP status.
    A 2xx answer that is not A2A raises :class:`InvalidA2A`.
    """
    ok = 200 <= status < 300
    if binding == JSONRPC:
        envelope = document if isinstance(document, dict) else None
        is_rpc = envelope is not None and envelope.get("jsonrpc") == "2.0"
        if envelope is not None and is_rpc and "error" in envelope:
            if not bounded:
                _check_bounds(envelope, RESPONSE, "")
            return _agent_error(envelope["error"], code=None, details_key="data", root="error")
        if not ok:
            return ErrorStatus(status=status, message=error_message(document))
        if envelope is None:
            raise InvalidA2A(RESPONSE, "", "is not a JSON object")
        if not is_rpc:
            raise InvalidA2A(RESPONSE, "jsonrpc", 'is not "2.0"')
        if "result" not in envelope:
            raise InvalidA2A(RESPONSE, "", "has neither result nor error")
        return _result(call, envelope["result"], root="result", bounded=bounded)
    if binding != HTTP_JSON:
        raise ValueError(f"not an A2A binding the connector speaks: {clean_text(binding, 32)!r}")
    if not ok:
        error = document.get("error") if isinstance(document, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            if not bounded:
                _check_bounds(error, RESPONSE, "error")
            return _agent_error(error, code=status, details_key="details", root="error")
        return ErrorStatus(status=status, message=error_message(document))
    return _result(call, document, root="", bounded=bounded)


def _result(call: Call, result: object, *, root: str, bounded: bool) -> TaskAnswer | MessageAnswer:
    if not isinstance(call, SendMessageCall):  # GetTask and CancelTask answer a bare Task
        return _task_answer(result, root, bounded)
    wrapper = _object(result, root)
    is_task = "task" in wrapper
    if is_task == ("message" in wrapper):
        found = "both" if is_task else "neither"
        raise InvalidA2A(RESPONSE, root, f"must hold exactly one of task or message, not {found}")
    if is_task:
        return _task_answer(wrapper["task"], _join(root, "task"), bounded)
    message_json = wrapper["message"]
    field = _join(root, "message")
    message: Message = _structure(message_json, Message, RESPONSE, field, bounded=bounded)
    return MessageAnswer(message=message, json=message_json)


def _task_answer(document: object, field: str, bounded: bool) -> TaskAnswer:
    head: TaskHead = _structure(document, TaskHead, RESPONSE, field, bounded=bounded)
    return TaskAnswer(head=head, json=_object(document, field), field=field)


def _object(value: object, root: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidA2A(RESPONSE, root, "must be an object")
    return value


def _agent_error(error: object, *, code: int | None, details_key: str, root: str) -> AgentError:
    if not isinstance(error, dict):
        raise InvalidA2A(RESPONSE, root, "must be an object")
    if code is None:
        code = error.get("code")
        if type(code) is not int:
            raise InvalidA2A(RESPONSE, f"{root}.code", "must be an integer")
    message = error.get("message", "")
    if not isinstance(message, str):
        raise InvalidA2A(RESPONSE, f"{root}.message", "must be a string")
    reason = None
    details = error.get(details_key)
    if isinstance(details, list):
        for detail in details[:MAX_ITEMS]:
            if isinstance(detail, dict) and isinstance(detail.get("reason"), str):
                reason = clean_text(detail["reason"], 64) or None
                break
    return AgentError(code=code, message=clean_text(message), reason=reason)


# --- the success rule of send_task -------------------------------------------------------------


@final
@attrs.frozen(kw_only=True)
class Verdict:
    success: bool
    error: str | None = None
    warning: str | None = None


def send_verdict(outcome: Outcome, *, wait: bool) -> Verdict:
    """Contract section 7: a Message or a COMPLETED Task succeeds; see the cases below.

    INPUT_REQUIRED and AUTH_REQUIRED succeed with a warning naming the state; SUBMITTED and WORKING
    succeed only when ``wait`` is false; FAILED, REJECTED and CANCELED fail with ``Agent task ended
    in state STATE`` plus the agent's status text. Error answers fail with their description.
    """
    if isinstance(outcome, AgentError | ErrorStatus):
        return Verdict(success=False, error=outcome.describe())
    if isinstance(outcome, MessageAnswer):
        return _SUCCEEDED
    state = outcome.head.status.state
    if state is TaskState.COMPLETED or (state in _RUNNING and not wait):
        return _SUCCEEDED
    said = _status_text(outcome.head)
    if state in _INTERRUPTED:
        return Verdict(success=True, warning=f"Agent task is in state {state.value}{said}")
    if state in _RUNNING:
        return Verdict(success=False, error=f"Agent task is still in state {state.value}{said}")
    # FAILED, REJECTED, CANCELED; and UNSPECIFIED, a task that says nothing of how it went.
    return Verdict(success=False, error=f"Agent task ended in state {state.value}{said}")


_SUCCEEDED: Final = Verdict(success=True)  # the verdict of most answers, with nothing to add


def _status_text(task: TaskHead) -> str:
    text = task.status.text()
    return f": {text}" if text else ""


#: Compact UTF-8 JSON for a request body: :func:`.json_text.request_body` itself.
encode_json: Final = request_body

"""The agent card: parsing (tolerant of the unknown, strict about the relied-upon), the interface
choice of contract section 7, how the key is sent, and the default capabilities."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from a2a_wire import captured
from jamey_agent_orchestration.net.a2a_wire import (
    AgentCard,
    ApiKeyScheme,
    HttpAuthScheme,
    InsecureInterface,
    InvalidA2A,
    KeyPlacement,
    UnsupportedScheme,
    choose_interface,
    default_capabilities,
    key_placement,
    parse_agent_card,
)


def card_with(**fields: Any) -> dict[str, Any]:
    card: dict[str, Any] = {
        "name": "agent",
        "supportedInterfaces": [
            {"url": "https://a.example/rpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
        ],
    }
    card.update(fields)
    return card


def interface(
    binding: str, version: str | None, url: str = "https://a.example/x"
) -> dict[str, Any]:
    entry = {"url": url, "protocolBinding": binding}
    if version is not None:
        entry["protocolVersion"] = version
    return entry


def test_the_captured_sdk_card_parses() -> None:
    card = parse_agent_card(captured.CARD)
    assert card.name == "A2A Test Peer"
    assert card.version == "1.0.0"
    assert card.capabilities.streaming is True
    (only,) = card.supported_interfaces
    assert (only.url, only.protocol_binding, only.protocol_version) == (
        "https://127.0.0.1:45335/a2a/rest",
        "HTTP+JSON",
        "1.0",
    )
    assert card.security_schemes == {
        "bearerAuth": HttpAuthScheme(
            scheme="Bearer", bearer_format="opaque", description="Authorization: Bearer <api key>"
        )
    }
    assert [dict(r.schemes) for r in card.security_requirements] == [{"bearerAuth": ()}]
    assert [skill.id for skill in card.skills] == ["echo", "task-lifecycle"]
    assert card.skills[0].input_modes == ("text/plain", "application/json")


def test_unknown_fields_are_ignored_everywhere() -> None:
    document = copy.deepcopy(captured.CARD)
    document["futureTopLevel"] = {"anything": [1, 2, 3]}
    document["supportedInterfaces"][0]["futureField"] = True
    document["skills"][0]["futureField"] = "x"
    document["securitySchemes"]["bearerAuth"]["httpAuthSecurityScheme"]["future"] = 1
    assert parse_agent_card(document) == parse_agent_card(captured.CARD)


def test_only_name_and_interfaces_are_required() -> None:
    card = parse_agent_card(card_with())
    assert card.description == ""
    assert card.skills == ()
    assert card.security_schemes == {}
    assert key_placement(card) == KeyPlacement()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "Invalid agent card: the document must be an object"),
        ("card", "Invalid agent card: the document must be an object"),
        ({"name": "a"}, "Invalid agent card: supportedInterfaces is missing"),
        (
            {"name": "a", "url": "https://a.example", "preferredTransport": "JSONRPC"},
            "Invalid agent card: supportedInterfaces is missing (an A2A v0.3 card?)",
        ),
        (card_with(name=None), "Invalid agent card: name must be a string"),
        ({"supportedInterfaces": []}, "Invalid agent card: name is missing"),
        (card_with(name="n" * 257), "Invalid agent card: name is longer than 256 characters"),
        (
            card_with(supportedInterfaces={"url": "https://a"}),
            "Invalid agent card: supportedInterfaces must be a list",
        ),
        (
            card_with(supportedInterfaces=[{"protocolBinding": "JSONRPC"}]),
            "Invalid agent card: supportedInterfaces[0].url is missing",
        ),
        (
            card_with(supportedInterfaces=[interface("JSONRPC", "1.0"), {"url": "https://b"}]),
            "Invalid agent card: supportedInterfaces[1].protocolBinding is missing",
        ),
        (
            card_with(supportedInterfaces=[{"url": 42, "protocolBinding": "JSONRPC"}]),
            "Invalid agent card: supportedInterfaces[0].url must be a string",
        ),
        (
            card_with(supportedInterfaces=[interface("JSONRPC", "1.0", "https://" + "a" * 2100)]),
            "Invalid agent card: supportedInterfaces[0].url is longer than 2048 characters",
        ),
        (
            card_with(supportedInterfaces=["https://a.example"]),
            "Invalid agent card: supportedInterfaces[0] must be an object",
        ),
        (
            card_with(capabilities={"streaming": "yes"}),
            "Invalid agent card: capabilities.streaming must be true or false",
        ),
        (
            card_with(capabilities="streaming"),
            "Invalid agent card: capabilities must be an object",
        ),
        (card_with(skills=[{"name": "no id"}]), "Invalid agent card: skills[0].id is missing"),
        (card_with(skills=[{"id": ""}]), "Invalid agent card: skills[0].id is empty"),
        (
            card_with(skills=[{"id": "a\u202eb"}]),
            "Invalid agent card: skills[0].id contains non-printable characters",
        ),
        (
            card_with(skills=[{"id": "a", "tags": ["ok", 7]}]),
            "Invalid agent card: skills[0].tags[1] must be a string",
        ),
        (
            card_with(skills=[{"id": "a", "tags": "one,two"}]),
            "Invalid agent card: skills[0].tags must be a list",
        ),
        (
            card_with(securitySchemes={"k": {"httpAuthSecurityScheme": {}}}),
            "Invalid agent card: securitySchemes.k.httpAuthSecurityScheme.scheme is missing",
        ),
        (
            card_with(securitySchemes={"k": {"apiKeySecurityScheme": {"location": "header"}}}),
            "Invalid agent card: securitySchemes.k.apiKeySecurityScheme.name is missing",
        ),
        (
            card_with(securitySchemes={"k": {}}),
            "Invalid agent card: securitySchemes.k must hold exactly one scheme, "
            "e.g. httpAuthSecurityScheme",
        ),
        (
            card_with(securitySchemes=[{"httpAuthSecurityScheme": {"scheme": "Bearer"}}]),
            "Invalid agent card: securitySchemes must be an object",
        ),
        (
            card_with(securityRequirements=[{"schemes": {"k": {"list": "read"}}}]),
            "Invalid agent card: securityRequirements[0].schemes.k.list must be a list "
            "of at most 10000 scopes",
        ),
        (
            card_with(securityRequirements=[{"schemes": ["k"]}]),
            "Invalid agent card: securityRequirements[0].schemes must be an object",
        ),
    ],
)
def test_problems_name_the_field(document: Any, message: str) -> None:
    with pytest.raises(InvalidA2A) as caught:
        parse_agent_card(document)
    assert str(caught.value) == message


def test_a_hostile_map_key_is_quoted_cleaned_and_cut_in_the_error() -> None:
    key = "evil\nkey\u202e" + "x" * 100
    with pytest.raises(InvalidA2A) as caught:
        parse_agent_card(card_with(securitySchemes={key: {"httpAuthSecurityScheme": {}}}))
    message = str(caught.value)
    assert message.startswith("Invalid agent card: securitySchemes['evil key")
    assert "\n" not in message
    assert "\u202e" not in message
    assert "x" * 50 not in message


def test_other_scheme_kinds_are_parsed_as_unsupported() -> None:
    card = parse_agent_card(
        card_with(
            securitySchemes={
                "tls": {"mtlsSecurityScheme": {"description": "client cert"}},
                "oauth": {"oauth2SecurityScheme": {"flows": {}}},
                "future": {"someFutureScheme": {"x": 1}},
            }
        )
    )
    assert card.security_schemes == {
        "tls": UnsupportedScheme(kind="mtlsSecurityScheme"),
        "oauth": UnsupportedScheme(kind="oauth2SecurityScheme"),
        "future": UnsupportedScheme(kind="someFutureScheme"),
    }


# --- choose_interface ---


def parsed(*interfaces: dict[str, Any]) -> AgentCard:
    return parse_agent_card(card_with(supportedInterfaces=list(interfaces)))


def test_the_first_supported_interface_in_card_order_wins() -> None:
    card = parsed(
        interface("GRPC", "1.0", "https://a.example/grpc"),
        interface("HTTP+JSON", "1.0", "https://a.example/rest"),
        interface("JSONRPC", "1.0", "https://a.example/rpc"),
    )
    assert choose_interface(card).url == "https://a.example/rest"


@pytest.mark.parametrize("version", ["1", "1.0", "1.3", "1.0.0"])
def test_any_major_version_1_is_supported(version: str) -> None:
    assert choose_interface(parsed(interface("JSONRPC", version))).protocol_version == version


@pytest.mark.parametrize("version", ["0.3", "0.3.0", "2.0", "1.x", "v1", "10", "", None])
def test_other_versions_are_passed_over(version: str | None) -> None:
    card = parsed(interface("JSONRPC", version, "https://a.example/old"), interface("JSONRPC", "1"))
    assert choose_interface(card).url == "https://a.example/x"


def test_no_supported_interface() -> None:
    card = parsed(interface("GRPC", "1.0"), interface("JSONRPC", "0.3"), interface("jsonrpc", "1"))
    with pytest.raises(InvalidA2A) as caught:
        choose_interface(card)
    assert str(caught.value) == (
        "Invalid agent card: no supported interface (JSONRPC or HTTP+JSON, version 1.x)"
    )


@pytest.mark.parametrize(
    ("url", "scheme"),
    [("http://a.example/rpc", "http"), ("ftp://a.example", "ftp"), ("a.example/rpc", "(none)")],
)
def test_the_chosen_url_must_be_https_and_the_next_is_not_tried(url: str, scheme: str) -> None:
    card = parsed(interface("JSONRPC", "1.0", url), interface("HTTP+JSON", "1.0"))
    with pytest.raises(InsecureInterface) as caught:
        choose_interface(card)
    assert str(caught.value) == f"Security violation: Agent URLs must use HTTPS. Got: {scheme}"
    assert caught.value.index == 0


def test_an_unusable_interface_before_the_chosen_one_is_not_checked() -> None:
    card = parsed(interface("GRPC", "1.0", "http://plain"), interface("JSONRPC", "1.0"))
    assert choose_interface(card).url == "https://a.example/x"


def test_upper_case_https_is_https() -> None:
    assert choose_interface(parsed(interface("JSONRPC", "1", "HTTPS://A.example/x")))


# --- key_placement ---


def scheme_card(schemes: dict[str, Any], requirements: list[str] | None = None) -> AgentCard:
    fields: dict[str, Any] = {"securitySchemes": schemes}
    if requirements is not None:
        fields["securityRequirements"] = [{"schemes": {name: {}}} for name in requirements]
    return parse_agent_card(card_with(**fields))


BEARER = {"httpAuthSecurityScheme": {"scheme": "Bearer"}}
HEADER = {"apiKeySecurityScheme": {"location": "header", "name": "X-Agent-Key"}}


def test_bearer_by_default_and_for_http_bearer() -> None:
    assert key_placement(scheme_card({"b": BEARER}, ["b"])) == KeyPlacement()
    assert key_placement(scheme_card({"b": {"httpAuthSecurityScheme": {"scheme": "bearer"}}})) == (
        KeyPlacement()
    )


def test_api_key_header_scheme() -> None:
    placement = key_placement(scheme_card({"k": HEADER}, ["k"]))
    assert placement == KeyPlacement(header="X-Agent-Key")
    assert placement.header_for("KEY") == ("X-Agent-Key", "KEY")
    assert KeyPlacement().header_for("KEY") == ("Authorization", "Bearer KEY")


def test_requirement_order_decides_then_scheme_order() -> None:
    schemes = {"b": BEARER, "k": HEADER}
    assert key_placement(scheme_card(schemes, ["k", "b"])).header == "X-Agent-Key"
    assert key_placement(scheme_card(schemes, ["b", "k"])).header is None
    assert key_placement(scheme_card(schemes)).header is None  # no requirements: scheme order
    assert key_placement(scheme_card({"k": HEADER, "b": BEARER})).header == "X-Agent-Key"


@pytest.mark.parametrize(
    "unusable",
    [
        {"apiKeySecurityScheme": {"location": "query", "name": "key"}},
        {"apiKeySecurityScheme": {"location": "cookie", "name": "key"}},
        {"httpAuthSecurityScheme": {"scheme": "Basic"}},
        {"mtlsSecurityScheme": {}},
    ],
)
def test_schemes_a_key_cannot_satisfy_are_passed_over(unusable: dict[str, Any]) -> None:
    assert key_placement(scheme_card({"u": unusable, "k": HEADER}, ["u", "k"])).header == (
        "X-Agent-Key"
    )
    assert key_placement(scheme_card({"u": unusable}, ["u"])) == KeyPlacement()


@pytest.mark.parametrize("kind", ["oauth2SecurityScheme", "openIdConnectSecurityScheme"])
def test_oauth_and_oidc_mean_a_bearer_token(kind: str) -> None:
    assert key_placement(scheme_card({"o": {kind: {}}, "k": HEADER}, ["o", "k"])) == KeyPlacement()


@pytest.mark.parametrize(
    "name", ["Content-Type", "host", "Idempotency-Key", "A2A-Version", "X Key", "X-Key\r\nEvil", ""]
)
def test_a_header_name_that_cannot_carry_the_key_is_refused(name: str) -> None:
    card = scheme_card({"k": {"apiKeySecurityScheme": {"location": "header", "name": name}}})
    with pytest.raises(InvalidA2A) as caught:
        key_placement(card)
    assert str(caught.value) == (
        "Invalid agent card: securitySchemes.k.apiKeySecurityScheme.name "
        "is not a header name the key can be sent in"
    )


def test_key_placement_round_trips_through_text() -> None:
    for placement in (KeyPlacement(), KeyPlacement(header="X-Agent-Key")):
        assert KeyPlacement.from_text(placement.to_text()) == placement
    assert KeyPlacement().to_text() == "bearer"
    assert KeyPlacement(header="X-Agent-Key").to_text() == "header:X-Agent-Key"
    for bad in ("", "Bearer", "header:", "header:Host", "query:key"):
        with pytest.raises(ValueError, match="not a key placement"):
            KeyPlacement.from_text(bad)


def test_a_parsed_api_key_scheme_keeps_its_fields() -> None:
    card = scheme_card({"k": HEADER})
    assert card.security_schemes["k"] == ApiKeyScheme(location="header", name="X-Agent-Key")


# --- default_capabilities ---


def test_default_capabilities_of_the_captured_card() -> None:
    assert default_capabilities(parse_agent_card(captured.CARD)) == (
        "echo",
        "test",
        "text",
        "task-lifecycle",
        "lifecycle",
        "polling",
        "cancel",
    )


def test_default_capabilities_keep_the_first_of_duplicates_in_card_order() -> None:
    card = parse_agent_card(
        card_with(
            skills=[
                {"id": "b", "tags": ["x", "b", "a"]},
                {"id": "a", "tags": ["x", "y", "", "bad\ntag"]},
                {"id": "y"},
            ]
        )
    )
    assert default_capabilities(card) == ("b", "x", "a", "y")

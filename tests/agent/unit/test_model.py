"""The model: an API key that never shows itself and can always be sent; the agent record."""

from __future__ import annotations

import unicodedata

import pytest
import yarl

from jamey_agent_orchestration.model import (
    Agent,
    ApiKey,
    SecurityViolation,
    new_key_problem,
    text_problem,
)

SURROGATE_KEY = "sk-live-\udcff-secret"  # what Python makes of the byte 0xff in argv
NOT_TEXT = "Security violation: API key is not valid text (it holds a byte that is not UTF-8)"
CONTROL = "Security violation: API key contains a control character (a newline, a tab, ...)"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (SURROGATE_KEY, NOT_TEXT),
        ("\ud800", NOT_TEXT),
        ("sk-secret\n", CONTROL),
        ("sk-se\r\ncret", CONTROL),
        ("sk\tsecret", CONTROL),
        ("sk\x00secret", CONTROL),
        ("sk\x7fsecret", CONTROL),
        ("sk\x85secret", CONTROL),  # a C1 control (NEL)
    ],
)
def test_a_key_that_cannot_go_in_a_header_is_refused_naming_the_problem(
    key: str, message: str
) -> None:
    with pytest.raises(SecurityViolation) as caught:
        ApiKey(key)
    assert str(caught.value) == message
    secret = key.strip("\n")[:9]
    assert secret not in str(caught.value)
    assert secret not in repr(caught.value)
    # Nothing chained that could carry the key (a UnicodeEncodeError holds the whole string).
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


def test_exactly_the_control_characters_and_lone_surrogates_are_unsendable() -> None:
    refused = [chr(n) for n in range(0x10000) if text_problem(f"k{chr(n)}k") is not None]
    expected = [chr(n) for n in range(0x10000) if unicodedata.category(chr(n)) in ("Cc", "Cs")]
    assert refused == expected
    assert text_problem("k\U0001f511k") is None  # beyond the BMP: an emoji is text


@pytest.mark.parametrize("key", ["sk-abc_123.DEF~+/==", "ключ-123", "clé de l'agent", "k" * 4096])
def test_any_other_text_is_a_key(key: str) -> None:
    assert ApiKey(key).reveal() == key


@pytest.mark.parametrize("key", ["", "   ", "\t"])
def test_an_empty_key_is_refused(key: str) -> None:
    with pytest.raises(SecurityViolation, match=r"^Security violation: API key cannot be empty$"):
        ApiKey(key)


@pytest.mark.parametrize("char", [" ", '"', "\\", "{", "}", "[", "]", ",", ":", "*", "\u00a0"])
def test_a_new_key_may_not_hold_what_json_could_spell_out_of_reach_of_the_scrub(
    char: str,
) -> None:
    assert new_key_problem(f"sk-live{char}0123") == 'holds a space or one of " \\ { } [ ] , : *'


@pytest.mark.parametrize(
    "key",
    ["sk-proj-AbC_123.xyz", "ghp_0123456789", "AIza/+b64==", "eyJh.eyJz.sig-_", "clé-secrète"],
)
def test_a_token_is_a_new_key(key: str) -> None:
    assert new_key_problem(key) is None


def test_a_security_violation_is_a_value_error_with_its_reason() -> None:
    violation = SecurityViolation("API key cannot be empty")
    assert isinstance(violation, ValueError)
    assert violation.reason == "API key cannot be empty"


def test_an_agent_parses_its_url_once_and_shows_no_key() -> None:
    agent = Agent(
        id="a1",
        name="A",
        url="https://agent.example:8443/base",
        api_key=ApiKey("sk-hidden"),
        capabilities=("x",),
    )
    assert isinstance(agent.url, yarl.URL)
    assert agent.origin == "https://agent.example:8443"
    assert agent.public() == {
        "id": "a1",
        "name": "A",
        "url": "https://agent.example:8443/base",
        "capabilities": ["x"],
        "protocol": "jamey",
    }
    assert "sk-hidden" not in repr(agent)
    assert agent.offers("x")
    assert not agent.offers("y")
    same_url = yarl.URL("https://agent.example:8443/base")
    assert Agent(id="a1", name="A", url=same_url, api_key=ApiKey("k")).url is same_url

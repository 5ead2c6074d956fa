"""KeyScrubber: the key sent, out of every string of an agent's answer."""

from __future__ import annotations

import json

import pytest

from jamey_agent_orchestration.net.scrub import KeyScrubber, KeySpelledOut

KEY = "k3y-SECRET"


def test_text() -> None:
    scrubber = KeyScrubber(KEY)
    assert scrubber.text("nothing here") == "nothing here"
    assert not scrubber.scrubbed
    assert scrubber.text(f"Bearer {KEY} and {KEY}") == "Bearer *** and ***"
    assert scrubber.scrubbed
    assert KEY not in repr(scrubber)


def test_a_document_without_the_key_is_returned_as_it_is() -> None:
    scrubber = KeyScrubber(KEY)
    raw = '{"a": [1, {"b": "c"}]}'
    document = json.loads(raw)
    assert scrubber.document(document, raw) == (document, raw)
    escaped = '{"a": "\\u00e9"}'  # a backslash: walked, nothing found, left alone
    parsed = json.loads(escaped)
    cleaned, text = scrubber.document(parsed, escaped)
    assert cleaned is parsed
    assert text == escaped
    assert not scrubber.scrubbed


def test_every_string_of_a_document_is_scrubbed_keys_too() -> None:
    scrubber = KeyScrubber(KEY)
    document = {KEY: [f"x{KEY}", {"deep": [[KEY]]}], "n": 1, "ok": True, "none": None}
    cleaned, text = scrubber.document(document, json.dumps(document))
    assert cleaned == {"***": ["x***", {"deep": [["***"]]}], "n": 1, "ok": True, "none": None}
    assert json.loads(text) == cleaned
    assert document[KEY] == [f"x{KEY}", {"deep": [[KEY]]}]  # the original is not changed
    assert scrubber.scrubbed


def test_a_key_hidden_in_escapes_is_found() -> None:
    scrubber = KeyScrubber(KEY)
    raw = '["' + "".join(f"\\u{ord(c):04x}" for c in KEY) + '"]'
    assert KEY not in raw
    cleaned, text = scrubber.document(json.loads(raw), raw)
    assert cleaned == ["***"]
    assert KEY not in text


# Deeper than orjson writes (254 levels): the standard library writes it instead.
DEPTH = 500


def test_a_deep_document_is_walked_without_recursion() -> None:
    scrubber = KeyScrubber(KEY)
    document: object = KEY
    for _ in range(DEPTH):
        document = [document]
    cleaned, text = scrubber.document(document, KEY)
    assert text == "[" * DEPTH + '"***"' + "]" * DEPTH
    for _ in range(DEPTH):
        assert isinstance(cleaned, list)
        cleaned = cleaned[0]
    assert cleaned == "***"


def test_scrubbed_stays_true_once_set() -> None:
    scrubber = KeyScrubber(KEY)
    scrubber.text(KEY)
    scrubber.document({"a": "b"}, '{"a": "\\u0062"}')
    assert scrubber.scrubbed


def test_a_key_in_a_value_that_a_repeated_name_replaced_is_not_passed_on() -> None:
    # Both the parser and the walk see only the last "a"; the text still holds the first.
    scrubber = KeyScrubber(KEY)
    raw = f'{{"a":"{KEY}","a":"x"}}'
    cleaned, text = scrubber.document(json.loads(raw), raw)
    assert (cleaned, text) == ({"a": "x"}, '{"a":"x"}')
    assert scrubber.scrubbed


def test_a_key_spelled_across_the_punctuation_is_refused() -> None:
    key = 'SPELLED":"OUT'
    scrubber = KeyScrubber(key)
    document = {"echo": key, "x SPELLED": "OUT y"}  # written compact: ..."x SPELLED":"OUT y"...
    with pytest.raises(KeySpelledOut) as raised:
        scrubber.document(document, json.dumps(document))
    assert key not in str(raised.value)
    assert key not in repr(raised.value)
    assert scrubber.scrubbed


def test_a_key_made_again_around_the_mask_leaves_only_the_mask() -> None:
    # "abc*" in "abcabc**": one replace gives "abc****", which holds the key again.
    scrubber = KeyScrubber("abc*")
    assert scrubber.text("abcabc**") == "***"

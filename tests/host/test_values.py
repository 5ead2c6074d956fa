"""parse_flag and split_list: the one reading of flags and comma-separated lists."""

from __future__ import annotations

import pytest

from jamey_host import parse_flag, split_list
from jamey_host.values import FLAG_SPELLINGS


@pytest.mark.parametrize("raw", ["1", "true", "True", "YES", "on", " yes "])
def test_true_spellings(raw: str) -> None:
    assert parse_flag(raw) is True


@pytest.mark.parametrize("raw", ["0", "false", "No", "OFF"])
def test_false_spellings(raw: str) -> None:
    assert parse_flag(raw) is False


def test_an_empty_flag_is_unset() -> None:
    assert parse_flag("") is False
    assert parse_flag("  ", default=True) is True


def test_a_bad_flag_says_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="maybe") as raised:
        parse_flag("maybe")
    assert FLAG_SPELLINGS in str(raised.value)
    assert FLAG_SPELLINGS == "1, true, yes, on, 0, false, no, off"


def test_split_list() -> None:
    assert split_list(" a, b ") == ["a", "b"]
    assert split_list("") == []
    assert split_list("  ") == []
    assert split_list("one") == ["one"]


@pytest.mark.parametrize("raw", ["a,,b", "a,", ",a", "a, ,b"])
def test_an_empty_item_is_an_error(raw: str) -> None:
    with pytest.raises(ValueError, match="empty item"):
        split_list(raw)

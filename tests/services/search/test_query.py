import pytest

from services.search import InvalidQuery, clean_query
from services.search.query import normalize_query, normalize_title


@pytest.mark.parametrize("raw", ["", "   ", "\n\t", "\u200b\u200b", "\u202e \ufeff"])
def test_nothing_searchable_is_refused(raw: str) -> None:
    with pytest.raises(InvalidQuery, match="Type something"):
        clean_query(raw, 100)


def test_too_long_is_refused_after_cleaning() -> None:
    assert clean_query("  " + "a" * 10 + "\u200b  ", 10) == "a" * 10  # invisible and outer spaces do not count
    with pytest.raises(InvalidQuery, match="11 characters long; the limit is 10"):
        clean_query("a" * 11, 10)


def test_controls_become_spaces_and_invisible_characters_vanish() -> None:
    assert clean_query("py\u200bthon\u00ad \x00 is\r\n\tfun\u2060", 100) == "python is fun"
    assert clean_query("evil\u202etxt.exe", 100) == "eviltxt.exe"  # bidi override removed


def test_unicode_is_kept_and_composed() -> None:
    assert clean_query("Cafe\u0301 Zürich 東京", 100) == "Café Zürich 東京"
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert clean_query(f"{family} emoji", 100) == f"{family} emoji"  # ZWJ inside emoji kept
    england = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
    assert clean_query(england, 100) == england


def test_cache_key_forms() -> None:
    assert normalize_query("  Hello   WORLD ") == normalize_query("hello world") == "hello world"
    assert normalize_query("STRASSE") == normalize_query("straße")
    assert normalize_title("python_(programming language)") == "Python (programming language)"
    assert normalize_title("US") != normalize_title("Us")

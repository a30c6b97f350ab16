"""/ask's request and footer: numbered sources, the same numbers as links, honest notes."""

from __future__ import annotations

from services.chat.ask import AskContext, Source


def test_sources_are_numbered_alike_in_request_and_footer():
    context = AskContext("what is x?", (Source(1, "X [intro]", "https://a.example/x", "X is a letter."),
                                        Source(2, "X (Wikipedia)", "https://en.wikipedia.org/wiki/X", "X...")))
    system, user = context.messages("Be brief.", "Carol")
    assert system.role == "system" and system.content.startswith("Be brief.\n\n")
    assert "[1] X [intro] (https://a.example/x)\nX is a letter." in system.content
    assert "[2] X (Wikipedia) (https://en.wikipedia.org/wiki/X)" in system.content
    assert (user.role, user.content, user.name) == ("user", "what is x?", "Carol")
    assert context.footer() == ("**Sources**\n1. [X (intro)](<https://a.example/x>)\n"
                                "2. [X (Wikipedia)](<https://en.wikipedia.org/wiki/X>)")


def test_footer_says_when_search_failed_or_found_nothing():
    failed = AskContext("q", (), ("Web search",))
    assert failed.footer() == "*Web search failed, so this answer may lack fresh facts.*"
    assert "(no sources could be fetched)" in failed.messages("", None)[0].content
    assert AskContext("q", ()).footer() == "*No search results; this answer is from the model alone.*"

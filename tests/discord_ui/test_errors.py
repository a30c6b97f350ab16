"""What a user is told for each kind of service failure: chosen by the error's class, never its text."""

from __future__ import annotations

import pytest

from discord_ui.errors import describe_failure
from services.errors import PermanentError, ServiceDisabled, TransientError, error_for_status
from services.http import connection_error
from services.llm.errors import ProviderBusy, RateLimited, StreamTimeout
from services.search.errors import SearchBusy, SearchRateLimited, SearchTimeout


@pytest.mark.parametrize(("error", "expected"), [
    (ServiceDisabled("search:web", "WEB_SEARCH_ENABLED is false"), "Web search is turned off on this bot."),
    (SearchBusy("search:web", 10.2), "Web search is busy right now. Try again in 11 s."),
    (ProviderBusy("llm:ollama", "all slots taken"), "Web search is busy right now. Try again later."),
    (SearchRateLimited("search:web", "slow down", retry_after=3), "Web search is rate-limiting us. Try again in 3 s."),
    (RateLimited("llm:openai", "429", status=429), "Web search is rate-limiting us. Try again later."),
    (error_for_status("search:web", 429, "Too Many Requests", retry_after=2.5),
     "Web search is rate-limiting us. Try again in 3 s."),
    (SearchTimeout("search:web", "no answer within 5 s"), "Web search did not answer in time. Try again later."),
    (StreamTimeout("llm:ollama", "first_token", 5), "Web search did not answer in time. Try again later."),
    (connection_error("search:web", TimeoutError()), "Web search did not answer in time. Try again later."),
    (TransientError("search:web", "server closed the connection"), "Web search is unavailable right now. Try again later."),
    (PermanentError("search:web", "bad request", status=400), "Web search could not handle that request."),
])
def test_each_kind_of_failure_has_its_own_line(error, expected) -> None:
    assert describe_failure(error, "Web search") == expected


def test_a_cause_that_merely_mentions_a_timeout_is_not_called_one() -> None:
    """The old mapping matched "timed out" in the text; a server's own message must not steer the answer."""
    error = PermanentError("search:web", "your query timed out our patience", status=400)
    assert describe_failure(error, "Web search") == "Web search could not handle that request."

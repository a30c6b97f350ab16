"""Tools the model may call in chat (no Discord here): the registry, the policy, the loop."""

from __future__ import annotations

from services.reminders import ReminderService
from services.search import SearchServices
from services.tools.base import SourceBook, Tool, ToolContext, ToolResult
from services.tools.lookup import ReadUrlTool, WebSearchTool, WikipediaTool
from services.tools.loop import AnswerDone, LoopEvent, ToolFinished, ToolLoop, ToolStarted
from services.tools.personal import CurrentTimeTool, ListRemindersTool, SetReminderTool
from services.tools.registry import ToolOutcome, ToolRegistry
from services.web import PageFetcher

__all__ = ["AnswerDone", "LoopEvent", "SourceBook", "Tool", "ToolContext", "ToolFinished", "ToolLoop", "ToolOutcome",
           "ToolRegistry", "ToolResult", "ToolStarted", "build_tools"]


def build_tools(*, search: SearchServices, reminders: ReminderService, fetcher: PageFetcher,
                timeout: float = 20.0, result_chars: int = 6000) -> ToolRegistry:
    """Every tool, in the order they are offered."""
    return ToolRegistry([WebSearchTool(search), WikipediaTool(search), ReadUrlTool(fetcher),
                         SetReminderTool(reminders), ListRemindersTool(reminders), CurrentTimeTool(reminders)],
                        timeout=timeout, result_chars=result_chars)

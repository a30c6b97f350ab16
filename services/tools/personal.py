"""Tools about the member: set_reminder, list_reminders, current_time. They act as the member, in this
channel, through the same ReminderService the /remind commands use (same parsing, limits and quota)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from services.reminders import ReminderService
from services.tools.base import Tool, ToolContext, ToolResult, schema
from services.tools.policy import QUOTE_PARAMETER


class SetReminderTool(Tool):
    name = "set_reminder"
    description = ("Set a reminder for the member who is talking to you, in this channel. Only when that member "
                   "asks for it in their current message.")
    parameters = schema({
        "when": {"type": "string", "maxLength": 100,
                 "description": "When, as the member said it: 'in 10 minutes', 'tomorrow 9am', 'every monday 8:30'."},
        "what": {"type": "string", "maxLength": 1000, "description": "What to remind them about."},
        "request_quote": QUOTE_PARAMETER,
    })
    changes_state = True

    def __init__(self, reminders: ReminderService) -> None:
        self._reminders = reminders

    async def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        reminder = await self._reminders.create(owner_id=ctx.member_id, guild_id=ctx.guild_id,
                                                channel_id=ctx.channel_id, when=args["when"], text=args["what"])
        local = datetime.fromtimestamp(reminder.due_at, UTC).astimezone(reminder.zone)
        repeat = f", repeating {reminder.recurrence.describe()}" if reminder.recurrence else ""
        return ToolResult(f"Reminder #{reminder.id} set for {local:%A %Y-%m-%d %H:%M} ({reminder.tz}){repeat}: "
                          f"{reminder.text}", effect=reminder)


class ListRemindersTool(Tool):
    name = "list_reminders"
    description = "List the pending reminders of the member who is talking to you."
    parameters = schema({})

    def __init__(self, reminders: ReminderService) -> None:
        self._reminders = reminders

    async def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        page = await self._reminders.list_pending(ctx.member_id)
        if not page.items:
            return ToolResult(f"{ctx.member_name} has no pending reminders.")
        lines = []
        for r in page.items:
            local = datetime.fromtimestamp(r.due_at, UTC).astimezone(r.zone)
            lines.append(f"#{r.id} {local:%Y-%m-%d %H:%M} ({r.tz}): {r.text}")
        more = f"\n(and {page.total - len(page.items)} more)" if page.total > len(page.items) else ""
        return ToolResult("\n".join(lines) + more)


class CurrentTimeTool(Tool):
    name = "current_time"
    description = "The current date and time in the member's time zone (set with /timezone)."
    parameters = schema({})

    def __init__(self, reminders: ReminderService) -> None:
        self._reminders = reminders

    async def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        zone = await self._reminders.timezone_of(ctx.member_id)
        now = datetime.fromtimestamp(ctx.clock(), UTC).astimezone(zone)
        return ToolResult(f"{now:%A %Y-%m-%d %H:%M:%S} in {zone.key} (UTC{now:%z})")

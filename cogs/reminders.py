"""/remind, /reminders, /reminder-cancel and /timezone, and the delivery of reminders when they come due.

Thin over services.reminders, which parses, validates, stores and schedules; this cog turns its
answers into Discord messages and supplies the `deliver` callable the scheduler calls. A reminder's
text is user input, so a delivery pings its owner and nobody else, whatever the text says, and shows
the text as typed (no masked links, headings or invites). A channel reminder goes to the channel only
while its owner is a member who may post there (checked at delivery); a member who leaves or is banned
has their reminders in that server cancelled.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot import Bot
from discord_ui.escape import inert
from discord_ui.permissions import answers_publicly, may_post
from discord_ui.prune import pruning_loop
from discord_ui.ui import OwnerPager, reply
from services.reminders import DeliveryResult, DueReminder, Reminder, ReminderError, ReminderPage, lateness_note

log = logging.getLogger(__name__)

PREVIEW_CHARS = 100
# Discord error codes that mean the owner cannot be reached at all (no user, not a valid DM recipient).
_UNKNOWN_USER = 10013
_INVALID_RECIPIENT = 50033


def stamp(epoch: float) -> str:
    """A Discord timestamp: every reader sees the full date and time in their own zone, plus 'in 5 minutes'."""
    seconds = int(epoch)
    return f"<t:{seconds}:F> (<t:{seconds}:R>)"


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """One line of the reminder's text, markdown shown as typed, for confirmations and lists."""
    line = " ".join(text.split())
    line = line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
    return inert(line)


def owner_only(owner_id: int) -> discord.AllowedMentions:
    return discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(owner_id)],
                                   replied_user=False)


def confirmation(reminder: Reminder, *, moved_to_dm: str | None = None) -> str:
    lines = [f"⏰ Reminder #{reminder.id} set for {stamp(reminder.due_at)}."]
    if reminder.recurrence is not None:
        lines.append(f"🔁 Repeats {reminder.recurrence.describe()} ({reminder.tz}).")
    if moved_to_dm:
        lines.append(f"{moved_to_dm} can't post in this channel, so I'll send it to you by DM.")
    elif reminder.dm:
        lines.append("I'll send it to you by DM.")
    lines.append(f"> {preview(reminder.text, 300)}")
    return "\n".join(lines)


def delivery_text(reminder: Reminder, *, now: float, late_note: str | None, in_channel: bool,
                  fallback_reason: str | None = None) -> str:
    """The reminder as delivered: owner mention (in a channel), the text, then a small footer."""
    text = inert(reminder.text)
    head = f"⏰ <@{reminder.owner_id}> {text}" if in_channel else f"⏰ {text}"
    footer = [f"reminder #{reminder.id}, set <t:{int(reminder.created_at)}:R>"]
    upcoming = reminder.next_occurrence(now)
    if upcoming is not None and reminder.recurrence is not None:
        footer.append(f"repeats {reminder.recurrence.describe()}, next <t:{int(upcoming)}:R>; "
                      f"`/reminder-cancel id:{reminder.id}` stops it")
    lines = [head]
    if late_note:
        lines.append(late_note)
    if fallback_reason:
        lines.append(f"(I could not post it in <#{reminder.channel_id}> ({fallback_reason}), so here it is by DM.)")
    lines.append("-# " + " · ".join(footer))
    return "\n".join(lines)


def list_embed(page: ReminderPage) -> discord.Embed:
    if not page.items:
        return discord.Embed(title="Your reminders", description="You have no pending reminders. Set one with /remind.",
                             colour=discord.Colour.blurple())
    lines = []
    for r in page.items:
        where = "by DM" if r.dm or r.guild_id is None else f"in <#{r.channel_id}>"
        line = f"**#{r.id}** · {stamp(r.due_at)} · {where}"
        if r.recurrence is not None:
            line += f"\n🔁 {r.recurrence.describe()} ({r.tz})"
        if r.attempts:
            line += f"\n⚠️ retrying after {r.attempts} failed attempt{'s' if r.attempts > 1 else ''}: {preview(r.last_error or '?', 120)}"
        lines.append(f"{line}\n> {preview(r.text)}")
    embed = discord.Embed(title=f"Your reminders ({page.total} pending)", description="\n\n".join(lines)[:4096],
                          colour=discord.Colour.blurple())
    embed.set_footer(text=f"Page {page.page}/{page.pages} · cancel one with /reminder-cancel")
    return embed


class ReminderPager(OwnerPager):
    """Previous/next through /reminders; the list is re-read on each click, so it stays current."""

    def __init__(self, cog: Reminders, owner_id: int, page: ReminderPage) -> None:
        super().__init__(owner_id)
        self.cog = cog
        self.page = page
        self.sync()

    def at_start(self) -> bool:
        return self.page.page <= 1

    def at_end(self) -> bool:
        return self.page.page >= self.page.pages

    async def turn(self, step: int) -> discord.Embed:
        self.page = await self.cog.service.list_pending(self.owner_id, page=self.page.page + step)
        return list_embed(self.page)


def _can_post_here(interaction: discord.Interaction) -> bool:
    """Whether the bot may post in the channel the command came from (DMs: always)."""
    if interaction.guild is None:
        return True
    granted = interaction.app_permissions
    if isinstance(interaction.channel, discord.Thread):
        return granted.send_messages_in_threads
    return granted.send_messages


class Reminders(commands.Cog):
    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.service = bot.services.reminders
        self.late_note_after = bot.settings.reminder_late_note_after
        coordinator = bot.services.coordinator
        self.prune_history = pruning_loop("finished reminders", self.service.history_days, self.service.prune_finished,
                                          leader=lambda: coordinator.is_leader)

    async def cog_load(self) -> None:
        # Overdue reminders from before a restart go out now; REST works before the gateway connects.
        self.service.start(self.deliver)
        self.prune_history.start()

    async def cog_unload(self) -> None:
        self.prune_history.cancel()
        await self.service.stop()

    # --- delivery ----------------------------------------------------------------------------

    async def deliver(self, due: DueReminder) -> DeliveryResult:
        """Post in the reminder's channel, else by DM; Discord's refusals become a DeliveryResult.

        The nonce is the same for every attempt at one occurrence: with discord.py's enforce_nonce,
        Discord answers a repeat (after a crash between its answer and our commit, or from another
        process taking over the claim) with the message it already created."""
        reminder = due.reminder
        now = datetime.now(UTC).timestamp()
        note = lateness_note(due.late_by, threshold=self.late_note_after)
        channel_problem: str | None = None
        check = await self._owner_check(reminder)
        if isinstance(check, DeliveryResult):
            return check
        channel_problem = check
        if not reminder.dm and reminder.channel_id is not None and channel_problem is None:
            channel = self.bot.get_partial_messageable(reminder.channel_id, guild_id=reminder.guild_id)
            # Set in a DM channel (no guild): a mention there adds nothing.
            text = delivery_text(reminder, now=now, late_note=note, in_channel=reminder.guild_id is not None)
            try:
                await channel.send(text, allowed_mentions=owner_only(reminder.owner_id), nonce=reminder.nonce)
                return DeliveryResult.sent("channel")
            except (discord.NotFound, discord.Forbidden) as exc:
                # Channel deleted, or the bot lost access: the owner still gets it by DM.
                channel_problem = _describe(exc)
                log.info("Reminder %d: channel %d refused (%s); trying a DM", reminder.id, reminder.channel_id,
                         channel_problem)
            except discord.HTTPException as exc:
                return DeliveryResult.failed(f"posting in channel {reminder.channel_id}: {_describe(exc)}")
            except (aiohttp.ClientError, OSError) as exc:
                return DeliveryResult.failed(f"could not reach Discord: {exc}")
        text = delivery_text(reminder, now=now, late_note=note, in_channel=False, fallback_reason=channel_problem)
        prefix = f"channel: {channel_problem}; DM: " if channel_problem else "DM: "
        try:
            dm = await self.bot.create_dm(discord.Object(reminder.owner_id))
            await dm.send(text, allowed_mentions=owner_only(reminder.owner_id), nonce=reminder.nonce)
        except discord.HTTPException as exc:
            unreachable = isinstance(exc, discord.NotFound) or exc.code in (_UNKNOWN_USER, _INVALID_RECIPIENT)
            return DeliveryResult.failed(prefix + _describe(exc), permanent=unreachable)
        except (aiohttp.ClientError, OSError) as exc:
            return DeliveryResult.failed(f"could not reach Discord: {exc}")
        return DeliveryResult.sent("dm")

    async def _owner_check(self, reminder: Reminder) -> DeliveryResult | str | None:
        """Re-checked at every delivery of a reminder set in a server: its owner is still a member (else it
        is withdrawn, with their others there), and for a channel reminder may still post in the channel
        (else why not, and it goes by DM). None: go ahead."""
        if reminder.guild_id is None:
            return None
        guild = self.bot.get_guild(reminder.guild_id)
        if guild is None:
            return None  # the bot is not in that server (any more): the channel refuses, the DM fallback follows
        try:
            member = guild.get_member(reminder.owner_id) or await guild.fetch_member(reminder.owner_id)
        except discord.NotFound:
            reason = "its owner is no longer a member of the server"
            await self.service.cancel_in_guild(reminder.owner_id, guild.id, reason)
            return DeliveryResult.withdraw(reason)
        except discord.HTTPException as exc:
            return DeliveryResult.failed(f"checking the owner's membership: {_describe(exc)}")
        except (aiohttp.ClientError, OSError) as exc:
            return DeliveryResult.failed(f"could not reach Discord: {exc}")
        if reminder.dm or reminder.channel_id is None:
            return None
        channel = guild.get_channel_or_thread(reminder.channel_id)
        if channel is not None and not may_post(channel.permissions_for(member), channel):
            log.info("Reminder %d: its owner may no longer post in channel %d; sending it by DM", reminder.id,
                     reminder.channel_id)
            return "you can no longer post there"
        return None

    # --- members leaving ---------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_member_ban(self, guild: discord.Guild, user: discord.abc.User) -> None:
        await self.service.cancel_in_guild(user.id, guild.id, "its owner was banned from the server")

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """Needs the Server Members intent (DISCORD_MEMBERS_INTENT); without it, the next delivery finds out."""
        await self.service.cancel_in_guild(payload.user.id, payload.guild_id, "its owner left the server")

    # --- commands ----------------------------------------------------------------------------

    @app_commands.command(name="remind", description="Set a reminder (once or repeating)")
    @app_commands.describe(
        when="e.g. in 10 minutes · tomorrow 9am · friday 17:00 · 2026-12-24 18:00 · every monday 8:30",
        what="What to remind you of (up to 1,000 characters)",
        dm="Send it to you by DM instead of posting it in this channel",
    )
    async def remind(self, interaction: discord.Interaction, when: str, what: str, dm: bool = False) -> None:
        # A channel reminder posts in the channel: only where both the member and the bot may post.
        moved_to_dm = None if dm else ("You" if not answers_publicly(interaction)
                                       else "I" if not _can_post_here(interaction) else None)
        try:
            reminder = await self.service.create(
                owner_id=interaction.user.id, guild_id=interaction.guild_id, channel_id=interaction.channel_id,
                when=when, text=what, dm=dm or moved_to_dm is not None)
        except ReminderError as exc:
            await reply(interaction, str(exc), ephemeral=True)
            return
        # A DM reminder is private: so is its confirmation.
        await reply(interaction, confirmation(reminder, moved_to_dm=moved_to_dm), ephemeral=reminder.dm)

    @app_commands.command(name="reminders", description="List your pending reminders")
    @app_commands.describe(page="Which page (10 reminders per page)")
    async def reminders(self, interaction: discord.Interaction, page: app_commands.Range[int, 1] = 1) -> None:
        listing = await self.service.list_pending(interaction.user.id, page=page)
        if listing.pages <= 1:
            await reply(interaction, embed=list_embed(listing), ephemeral=True)
            return
        pager = ReminderPager(self, interaction.user.id, listing)
        await reply(interaction, embed=list_embed(listing), view=pager, ephemeral=True)
        pager.message = await interaction.original_response()

    @app_commands.command(name="reminder-cancel", description="Cancel one of your reminders")
    @app_commands.rename(reminder_id="id")
    @app_commands.describe(reminder_id="The reminder's number (see /reminders)")
    async def reminder_cancel(self, interaction: discord.Interaction, reminder_id: app_commands.Range[int, 1]) -> None:
        can_manage = interaction.guild is not None and interaction.permissions.manage_guild
        try:
            cancelled = await self.service.cancel(reminder_id, requester_id=interaction.user.id,
                                                  guild_id=interaction.guild_id, can_manage_guild=can_manage)
        except ReminderError as exc:
            await reply(interaction, str(exc), ephemeral=True)
            return
        whose = "" if cancelled.owner_id == interaction.user.id else f"<@{cancelled.owner_id}>'s "
        await reply(interaction, f"Cancelled {whose}reminder #{cancelled.id}: {preview(cancelled.text)}",
                    ephemeral=True)

    @reminder_cancel.autocomplete("reminder_id")
    async def _own_reminders(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        listing = await self.service.list_pending(interaction.user.id, per_page=25)
        tz = await self.service.timezone_of(interaction.user.id)
        typed = current.strip().lstrip("#").lower()
        choices = []
        for r in listing.items:
            label = _choice_label(r, tz)
            if not typed or typed in label.lower():
                choices.append(app_commands.Choice(name=label, value=r.id))
        return choices[:25]

    @app_commands.command(name="timezone", description="Set the time zone your reminder times are read in")
    @app_commands.describe(zone="An IANA name such as Europe/Berlin or America/New_York; empty shows yours")
    async def timezone(self, interaction: discord.Interaction, zone: str | None = None) -> None:
        if zone is None or not zone.strip():
            current = await self.service.timezone_of(interaction.user.id)
            await reply(interaction, f"Your time zone is {current.key} (it is {_local_now(current)} there now). "
                                     "Change it with /timezone zone:<name>.", ephemeral=True)
            return
        try:
            chosen = await self.service.set_timezone(interaction.user.id, zone)
        except ReminderError as exc:
            await reply(interaction, str(exc), ephemeral=True)
            return
        await reply(interaction, f"Your time zone is now {chosen.key} (it is {_local_now(chosen)} there now). "
                                 "/remind reads times in it; reminders you already set keep their times.",
                    ephemeral=True)

    @timezone.autocomplete("zone")
    async def _zones(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=n) for n in self.service.timezone_choices(current)]


def _describe(exc: discord.HTTPException) -> str:
    """A Discord refusal in a few words for logs and last_error ('404 Unknown Channel (10003)')."""
    text = exc.text or exc.response.reason or "no message"
    return f"{exc.status} {text} ({exc.code})" if exc.code else f"{exc.status} {text}"


def _local_now(zone: ZoneInfo) -> str:
    return datetime.now(UTC).astimezone(zone).strftime("%H:%M")


def _choice_label(r: Reminder, tz: ZoneInfo) -> str:
    """An autocomplete entry (Discord allows 100 characters): id, due time in the user's zone, text."""
    local = datetime.fromtimestamp(r.due_at, UTC).astimezone(tz)
    label = f"#{r.id} · {local:%a %d %b %H:%M} · {' '.join(r.text.split())}"
    return label if len(label) <= 100 else label[:99] + "…"


async def setup(bot: Bot) -> None:
    await bot.add_cog(Reminders(bot))

"""Telegram handlers: parse the arguments, call one sync use case through `sync_to_async`, reply.

Group -1 holds the allow-list gate, so no handler ever sees a chat outside TELEGRAM_ALLOWED_CHAT_IDS.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connections
from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    TypeHandler,
)

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.common.redact import redact_text
from apps.telegram_bot import parsing, replies, reports
from apps.telegram_bot.confirmations import (
    close_preview,
    closeall_preview,
    confirmation_decide,
    confirmation_request,
    entries_stop,
)
from apps.telegram_bot.metrics import metric_inc
from apps.telegram_bot.parsing import USAGE, UsageError

logger = logging.getLogger(__name__)

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]
CALLBACK_PREFIX = "cf"


async def run_sync(function: Callable, *args, **kwargs):
    """Run a sync use case in Django's sync thread, with a fresh, healthy database connection."""

    def call():
        close_old_connections()
        try:
            return function(*args, **kwargs)
        finally:
            # Not a request or task thread: close, whatever CONN_MAX_AGE keeps open elsewhere.
            connections.close_all()

    return await sync_to_async(call)()


def _attempt(update: Update) -> str:
    if update.effective_message and update.effective_message.text:
        return update.effective_message.text[:100]
    if update.callback_query:
        return f"button {str(update.callback_query.data)[:60]}"
    return "update"


def _refusal_record(chat_id: int, action: str, attempt: str, user: str) -> None:
    audit_record(
        actor=Actor.telegram(chat_id),
        action=action,
        object_type="telegram.chat",
        object_id=str(chat_id),
        message=f"{attempt} (user {user})",
    )


async def allow_list_gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Let allowed chats through; stop and audit everything else without answering."""
    chat = update.effective_chat
    if chat is not None and chat.id in settings.TELEGRAM_ALLOWED_CHAT_IDS:
        return
    if chat is not None:
        user = update.effective_user
        logger.warning("telegram: refused chat %s", chat.id)
        await run_sync(
            _refusal_record,
            chat.id,
            "telegram.refused",
            _attempt(update),
            user.username or str(user.id) if user else "?",
        )
    raise ApplicationHandlerStop


def _args(context: ContextTypes.DEFAULT_TYPE) -> list[str]:
    """A command's arguments (python-telegram-bot leaves them None outside commands)."""
    return list(context.args or [])


def _chat_id(update: Update) -> int:
    """The chat of a command or button (every update these handlers are registered for has one)."""
    if update.effective_chat is None:
        raise ValueError("a Telegram update without a chat")
    return update.effective_chat.id


def _message(update: Update) -> Message:
    if update.effective_message is None:
        raise ValueError("a Telegram command without a message")
    return update.effective_message


async def _reply(update: Update, text: str, **kwargs: Any) -> None:
    await _message(update).reply_text(text, disable_web_page_preview=True, **kwargs)


def command(name: str) -> Callable[[Handler], Handler]:
    """Turn UsageError into the usage line; the rest goes to on_error."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            outcome = "ok"
            try:
                await handler(update, context)
            except UsageError as exc:
                outcome = "usage"
                await _reply(update, f"Usage: {USAGE[name]} ({exc})")
            except Exception:
                outcome = "error"
                raise  # answered by on_error
            finally:
                metric_inc("telegram_commands_total", command=name, outcome=outcome)

        return wrapped

    return decorate


async def _trading_refused(update: Update, name: str) -> bool:
    chat_id = _chat_id(update)
    if chat_id in settings.TELEGRAM_TRADING_CHAT_IDS:
        return False
    user = update.effective_user
    await run_sync(
        _refusal_record,
        chat_id,
        "telegram.trading_refused",
        _attempt(update),
        user.username or str(user.id) if user else "?",
    )
    await _reply(update, f"/{name} refused: this chat is not allowed to trade (TELEGRAM_TRADING_CHAT_IDS).")
    return True


@command("help")
async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _reply(update, replies.help_text())


@command("status")
async def status_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    parsing.no_args(_args(context))
    await _reply(update, await run_sync(replies.status_text))


@command("health")
async def health_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    parsing.no_args(_args(context))
    await _reply(update, await run_sync(replies.health_text))


@command("eval")
async def eval_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    symbol, timeframe, limit = parsing.eval_args(_args(context))
    await _reply(update, await _signal_call(replies.eval_text, symbol, timeframe, limit))


@command("why")
async def why_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    symbol, timeframe, limit = parsing.eval_args(_args(context))
    await _reply(update, await _signal_call(replies.why_text, symbol, timeframe, limit))


async def _signal_call(function: Callable[..., str], *args) -> str:
    """Bad input to evaluate (SignalInputError) or unusable candles (FeatureInputError) are answers, not failures."""
    try:
        return await run_sync(function, *args)
    except ValueError as exc:
        if type(exc).__name__ in ("SignalInputError", "FeatureInputError"):
            return f"Cannot evaluate: {redact_text(str(exc))[:300]}"
        raise


@command("profit")
async def profit_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    symbol = parsing.optional_symbol(_args(context))
    caption, png = await run_sync(replies.profit_report, symbol)
    await _message(update).reply_photo(photo=png, caption=caption, filename="pnl.png")


@command("positions")
async def positions_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    symbol = parsing.optional_symbol(_args(context))
    await _reply(update, await run_sync(replies.positions_text, symbol))


@command("exits")
async def exits_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The protective exits now, then Freqtrade's /exits: closed trades per exit reason."""
    parsing.no_args(_args(context))
    exits, reasons = await run_sync(replies.exits_text), await run_sync(reports.exit_reasons_text)
    await _reply(update, f"{exits}\n\n{reasons}")


@command("metrics")
async def metrics_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    parsing.no_args(_args(context))
    await _reply(update, await run_sync(replies.metrics_text))


@command("test")
async def test_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    parsing.no_args(_args(context))
    await _reply(update, await run_sync(replies.smoke_test_text))


async def _ask(update: Update, action: str, argument: str, question: str) -> None:
    user = update.effective_user
    confirmation = await run_sync(
        confirmation_request,
        action=action,
        argument=argument,
        chat_id=_chat_id(update),
        user_id=user.id if user else None,
    )
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("✅ Confirm", callback_data=f"{CALLBACK_PREFIX}:{confirmation.nonce}:y"),
                InlineKeyboardButton("✖️ Cancel", callback_data=f"{CALLBACK_PREFIX}:{confirmation.nonce}:n"),
            ]
        ]
    )
    await _reply(update, question, reply_markup=keyboard)


@command("pause")
async def pause_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if await _trading_refused(update, "pause"):
        return
    reason = parsing.reason(_args(context), "paused from Telegram")
    await _ask(update, "pause", reason, f"Pause trading (kill switch on)? Reason: {reason}")


@command("resume")
async def resume_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if await _trading_refused(update, "resume"):
        return
    reason = parsing.reason(_args(context), "resumed from Telegram")
    await _ask(update, "resume", reason, f"Resume trading (kill switch off)? Reason: {reason}")


@command("close")
async def close_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if await _trading_refused(update, "close"):
        return
    position_id = parsing.position_id(_args(context))
    question = await run_sync(close_preview, position_id)
    await _ask(update, "close", str(position_id), question)


@command("closeall")
async def closeall_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if await _trading_refused(update, "closeall"):
        return
    parsing.no_args(_args(context))
    question = await run_sync(closeall_preview)
    if question is None:
        await _reply(update, "No open positions to close.")
        return
    await _ask(update, "closeall", "", question)


@command("balance")
async def balance_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    parsing.no_args(_args(context))
    await _reply(update, await run_sync(reports.balance_text))


def _period_command(name: str, period: str) -> Handler:
    @command(name)
    async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        count, zone = parsing.period_args(_args(context), name)
        await _reply(update, await run_sync(reports.period_text, period, count, zone))

    handler.__name__ = f"{name}_command"
    return handler


daily_command = _period_command("daily", "day")
weekly_command = _period_command("weekly", "week")
monthly_command = _period_command("monthly", "month")


@command("performance")
async def performance_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    parsing.no_args(_args(context))
    await _reply(update, await run_sync(reports.performance_text))


@command("entries")
async def entries_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    parsing.no_args(_args(context))
    await _reply(update, await run_sync(reports.entries_text))


@command("stopentry")
async def stopentry_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop opening positions now (the kill switch); exits keep managing the open ones. No confirmation: it
    never sends an order, and undoing it (/resume) asks for one."""
    if await _trading_refused(update, "stopentry"):
        return
    reason = parsing.reason(_args(context), "entries stopped from Telegram")
    await _reply(update, await run_sync(entries_stop, chat_id=_chat_id(update), reason=reason))


@command("trades")
async def trades_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    count = parsing.trades_count(_args(context))
    await _reply(update, await run_sync(reports.trades_text, count))


@command("version")
async def version_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    parsing.no_args(_args(context))
    await _reply(update, reports.version_text())


async def confirmation_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query: CallbackQuery | None = update.callback_query
    if query is None:
        return
    parts = str(query.data or "").split(":")
    if len(parts) != 3 or parts[2] not in ("y", "n"):
        await query.answer("Unknown button.")
        return
    confirm = parts[2] == "y"
    if confirm and _chat_id(update) not in settings.TELEGRAM_TRADING_CHAT_IDS:
        await run_sync(
            _refusal_record,
            _chat_id(update),
            "telegram.trading_refused",
            _attempt(update),
            str(query.from_user.id),
        )
        await query.answer("This chat is not allowed to trade.", show_alert=True)
        return
    outcome = await run_sync(
        confirmation_decide,
        nonce=parts[1],
        chat_id=_chat_id(update),
        user_id=query.from_user.id,
        confirm=confirm,
    )
    await query.answer(outcome.toast)
    if outcome.message is not None:
        await query.edit_message_text(outcome.message)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log every failure; tell an allowed chat in one line, never with a traceback."""
    logger.error("telegram handler failed", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if update.effective_chat.id not in settings.TELEGRAM_ALLOWED_CHAT_IDS:
        return
    error = context.error
    text = f"Sorry, that failed ({type(error).__name__}); the details are in the bot's log."
    try:
        if update.callback_query:
            await update.callback_query.answer(text[:200])
        elif update.effective_message:
            await update.effective_message.reply_text(text)
    except Exception:  # the error handler must never raise in turn
        logger.warning("telegram: could not report the failure", exc_info=True)


COMMANDS: dict[str, Handler] = {
    "start": help_command,
    "help": help_command,
    "status": status_command,
    "health": health_command,
    "eval": eval_command,
    "why": why_command,
    "profit": profit_command,
    "positions": positions_command,
    "exits": exits_command,
    "metrics": metrics_command,
    "test": test_command,
    "pause": pause_command,
    "resume": resume_command,
    "close": close_command,
    "closeall": closeall_command,
    "balance": balance_command,
    "daily": daily_command,
    "weekly": weekly_command,
    "monthly": monthly_command,
    "performance": performance_command,
    "entries": entries_command,
    "stopentry": stopentry_command,
    "trades": trades_command,
    "version": version_command,
}


def handlers_register(application: Application) -> None:
    application.add_handler(TypeHandler(Update, allow_list_gate), group=-1)
    for name, handler in COMMANDS.items():
        application.add_handler(CommandHandler(name, handler))
    application.add_handler(CallbackQueryHandler(confirmation_button, pattern=rf"^{CALLBACK_PREFIX}:"))
    application.add_error_handler(on_error)

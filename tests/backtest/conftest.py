"""The API's token fixtures (reader, trader, ...) for the backtest endpoint tests."""

from tests.api.conftest import _hosts, read_token, reader, revoked_token, trade_token, trader  # noqa: F401

"""The API's token fixtures (reader, trader, ...) for the backtest endpoint tests, and a DATA_DIR of each
test's own (the exchange-history cache and the shared features live there)."""

import pytest

from tests.api.conftest import _hosts, read_token, reader, revoked_token, trade_token, trader  # noqa: F401


@pytest.fixture(autouse=True)
def _own_data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    return settings.DATA_DIR

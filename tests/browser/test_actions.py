"""The lists and every confirmation flow in chromium (issue 14, items 3-5): what the operator reads before
the harm, that "No" changes nothing, that "Yes" (then the password and code where security asks) does it, and
the message in words afterwards."""

from __future__ import annotations

import re

import pytest

from apps.exits.models import ProtectiveExit
from apps.risk.models import TradingSwitch
from apps.trading.models import Order, Position

pytestmark = pytest.mark.slow

TIME = r"\d\d:\d\d:\d\d UTC"
# 16 decimals, or a number in scientific notation (3.4E-8); ids such as t-tb-9e3621… are not numbers
NOT_MONEY = re.compile(r"\d\.\d{12,}|\b\d+(\.\d+)?[eE][-+]?\d+\b")


def run_action(console, changelist: str, pks: list[int], action: str) -> None:
    page = console.page
    console.go(changelist)
    for pk in pks:
        page.check(f"input[name=_selected_action][value='{pk}']")
    page.select_option("select[name=action]", action)
    page.locator("button[name=index]").first.click()
    page.wait_for_selector("#confirmation")


def test_lists_show_operator_columns_at_market_precision_and_fit_the_screen(history, console_page):
    page = console_page.page
    console_page.go("/admin/trading/order/")
    headers = [h.strip().lower() for h in page.locator("#result_list thead th").all_inner_texts() if h.strip()]
    expected = ["time", "symbol", "side", "type", "status", "amount", "price", "filled", "avg price", "fee"]
    assert headers[: len(expected)] == expected and headers[-1] == "origin"
    text = page.locator("#result_list").inner_text()
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text), "times with seconds and the zone"
    assert re.search(r"0\.\d{6} BTC", text) and "USDT" in text
    assert not re.search(NOT_MONEY, text), "no 16 decimals, no scientific notation"
    console_page.shot("orders")
    if console_page.viewport == "desktop":  # every column visible, none behind a sideways scroll
        hidden = page.evaluate("(r => r.scrollWidth - r.clientWidth)(document.querySelector('#changelist .results'))")
        assert hidden <= 1, f"{hidden}px of the orders list hide behind a scroll at 1280px"
    console_page.no_horizontal_scroll()
    for path in ("/admin/trading/fill/", "/admin/trading/position/", "/admin/exits/protectiveexit/"):
        console_page.go(path)
        assert not re.search(NOT_MONEY, page.locator("#result_list").inner_text())
        console_page.no_horizontal_scroll()


def test_exchange_rows_and_finished_exits_open_read_only_armed_exits_edit_through_the_service(history, console_page):
    page = console_page.page
    order = Order.objects.filter(status="filled").first()
    console_page.go(f"/admin/trading/order/{order.pk}/change/")
    assert page.locator("h1").inner_text().startswith("View order")
    assert page.locator("input[type=submit][name=_save]").count() == 0
    assert order.client_order_id in page.locator("#content").inner_text()  # the ids live in the detail
    filled = ProtectiveExit.objects.filter(status="filled").first()
    console_page.go(f"/admin/exits/protectiveexit/{filled.pk}/change/")
    assert page.locator("h1").inner_text().startswith("View protective exit")
    assert page.locator("input[name=_save]").count() == 0
    armed = ProtectiveExit.objects.get(status="armed", symbol="BTC/USDT")
    console_page.go(f"/admin/exits/protectiveexit/{armed.pk}/change/")
    assert page.locator("h1").inner_text().startswith("Change protective exit")
    stop = armed.stop_loss_price - 100
    page.fill("#id_stop_loss_price", str(stop))
    page.click("input[name=_save]")
    assert re.search(r"stop-loss now [\d.]+, take-profit", page.locator("ul.messagelist").inner_text())
    armed.refresh_from_db()
    assert armed.stop_loss_price == stop
    console_page.shot("exit-edit")


def test_pause_and_resume_say_what_happens_and_report_in_words(history, console_page):
    page = console_page.page
    page.click("#pause-button")
    page.wait_for_selector("#confirmation")
    assert "no new entry order is sent" in page.locator("#confirmation").inner_text()
    console_page.shot("confirm-pause")
    page.click("#confirm-cancel")  # "No, take me back" changes nothing
    assert not TradingSwitch.get().halted
    page.click("#pause-button")
    page.click("#confirm-submit")
    assert re.search(rf"Trading paused by operator at {TIME}", page.locator("ul.messagelist").inner_text())
    assert TradingSwitch.get().halted
    page.click("#resume-button")
    assert "LIVE" in page.locator("#confirmation").inner_text()
    page.click("#confirm-submit")
    console_page.reauth_if_asked()  # live: the password and a code again (security, issue 12)
    assert re.search(rf"Trading resumed by operator at {TIME}", page.locator("ul.messagelist").inner_text())
    assert not TradingSwitch.get().halted


def test_close_position_confirms_reauthenticates_and_sells(history, console_page):
    page = console_page.page
    position = Position.objects.get(status="open", symbol="ETH/USDT")
    run_action(console_page, "/admin/trading/position/", [position.pk], "close_selected")
    text = page.locator("#confirmation").inner_text()
    assert "market sell order is sent now" in text and f"#{position.pk} ETH/USDT: sell" in text
    console_page.shot("confirm-close")
    page.click("#confirm-submit")
    console_page.reauth_if_asked()
    message = page.locator("ul.messagelist").inner_text()
    assert re.search(rf"Market sell of [\d.]+ ETH sent to close position #{position.pk} ETH/USDT", message)
    position.refresh_from_db()
    assert position.status == "closed"


def test_cancel_order_confirms_and_cancels_on_the_exchange(history, console_page):
    page = console_page.page
    resting = Order.objects.get(intent="scenario:resting")
    run_action(console_page, "/admin/trading/order/?status__exact=open", [resting.pk], "cancel_selected")
    text = page.locator("#confirmation").inner_text()
    assert "cancel request is sent to the exchange for 1 open order" in text and "BTC/USDT buy limit" in text
    page.click("#confirm-cancel")
    resting.refresh_from_db()
    assert resting.status == "open"
    run_action(console_page, "/admin/trading/order/?status__exact=open", [resting.pk], "cancel_selected")
    page.click("#confirm-submit")
    assert re.search(rf"Cancel of BTC/USDT buy order {resting.client_order_id} sent", page.inner_text("ul.messagelist"))
    resting.refresh_from_db()
    assert resting.status == "cancelled"

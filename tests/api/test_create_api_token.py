from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.api.models import ApiToken, hash_token

pytestmark = pytest.mark.django_db


def test_prints_the_token_once_and_stores_only_its_hash():
    out = StringIO()
    call_command("create_api_token", "ci", "--scope", "trade", stdout=out)
    raw = out.getvalue().strip().splitlines()[-1]
    token = ApiToken.objects.get(name="ci")
    assert token.scope == "trade" and token.token_hash == hash_token(raw) and raw not in token.token_hash


def test_json_output():
    out = StringIO()
    call_command("create_api_token", "bot", "--json", stdout=out)
    body = json.loads(out.getvalue())
    assert body["name"] == "bot" and body["scope"] == "read" and body["token"].startswith("tb_")


def test_a_duplicate_name_exits_2():
    call_command("create_api_token", "dup", stdout=StringIO())
    with pytest.raises(CommandError) as info:
        call_command("create_api_token", "dup", stdout=StringIO())
    assert info.value.returncode == 2


def test_a_bad_scope_is_a_usage_error():
    with pytest.raises(CommandError):
        call_command("create_api_token", "x", "--scope", "admin", stdout=StringIO())

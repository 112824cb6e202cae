"""Every validated setting is a plain name in tradebot/settings.py (issue 13, item 5), read in one place."""

import ast
from dataclasses import fields
from pathlib import Path

from django.conf import settings

from tradebot.config import SPEC, Config

ROOT = Path(__file__).resolve().parents[2]


def test_every_config_field_is_a_django_setting_with_the_config_value():
    from tradebot import settings as module

    for f in fields(Config):
        assert hasattr(module, f.name), f"tradebot/settings.py does not name {f.name}"
        assert getattr(module, f.name) == getattr(module.CONFIG, f.name), f.name
        assert hasattr(settings, f.name), f.name  # Django's test set-up changes a few (ALLOWED_HOSTS, DEBUG)


def test_settings_are_assigned_by_name_not_injected():
    tree = ast.parse((ROOT / "tradebot" / "settings.py").read_text())
    assigned = {
        t.id for node in ast.walk(tree) if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)
    }
    assert set(SPEC) <= assigned, sorted(set(SPEC) - assigned)
    assert "globals()" not in (ROOT / "tradebot" / "settings.py").read_text()

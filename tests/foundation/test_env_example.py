"""Every setting tradebot reads is documented in .env.example, and the file itself is valid."""

from pathlib import Path

from tradebot.config import SPEC, load_config, read_dotenv

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_in_env_example():
    documented = set(read_dotenv(ROOT / ".env.example"))
    assert not set(SPEC) - documented, f"missing from .env.example: {sorted(set(SPEC) - documented)}"


def test_env_example_loads_as_a_valid_configuration():
    values = read_dotenv(ROOT / ".env.example")
    config = load_config({k: v for k, v in values.items() if v != ""} | {"SECRET_KEY": "x" * 50})
    assert config.MODE == "paper"

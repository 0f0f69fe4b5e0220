"""Settings: flags win over the environment, defaults follow XDG, bad values name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import ConfigError, load_settings, parser


def test_the_default_database_lives_in_the_xdg_data_folder(tmp_path: Path) -> None:
    settings = load_settings(None, {"XDG_DATA_HOME": str(tmp_path)})
    assert settings.db == tmp_path / "roundtable" / "roundtable.db"
    settings.ensure_db_folder()
    assert (tmp_path / "roundtable").stat().st_mode & 0o777 == 0o700


def test_without_xdg_the_database_is_under_local_share(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_settings(None, {}).db == tmp_path / ".local" / "share" / "roundtable" / "roundtable.db"


def test_flags_win_over_the_environment(tmp_path: Path) -> None:
    args = parser("roundtable-test", "", "0").parse_args(["--db", str(tmp_path / "a.db"), "--agent", "ana"])
    env = {"ROUNDTABLE_DB": str(tmp_path / "b.db"), "ROUNDTABLE_AGENT": "bo", "ROUNDTABLE_ROLE": "admin"}
    settings = load_settings(args, env)
    assert (settings.db.name, settings.agent, settings.role) == ("a.db", "ana", "admin")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ROUNDTABLE_ROLE": "boss"}, "ROUNDTABLE_ROLE='boss' is not a role"),
        ({"ROUNDTABLE_PRESENCE_TIMEOUT": "soon"}, "ROUNDTABLE_PRESENCE_TIMEOUT='soon' is not a number"),
        ({"ROUNDTABLE_LEASE_SECONDS": "0"}, "below the minimum"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(None, env)


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(None, {"ROUNDTABLE_DB": str(tmp_path / "x.db")})
    with pytest.raises(AttributeError):
        settings.role = "admin"  # type: ignore[misc]


@pytest.mark.parametrize("name", ["system", "ana\u202egnp", "\u0430na", "bad name", "-dash"])
def test_an_agent_name_in_the_environment_obeys_agent_register_s_rules(name: str) -> None:
    with pytest.raises(ConfigError, match="ROUNDTABLE_AGENT="):
        load_settings(env={"ROUNDTABLE_AGENT": name})

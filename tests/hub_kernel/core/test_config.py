from pathlib import Path

import pytest

from hub_kernel.core import config
from hub_kernel.core.config import RewardWeights, Settings, load_settings
from hub_kernel.exceptions import ConfigError


def test_defaults_put_state_under_dot_hub(monkeypatch, tmp_path):
    monkeypatch.delenv("HUB_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.home == (tmp_path / ".hub").resolve()
    assert s.tracking_uri == f"sqlite:///{tmp_path.resolve() / '.hub' / 'mlflow.db'}"
    assert s.serve_ip == "127.0.0.1"
    assert s.serve_port == 8866
    assert s.autonomy_mode == "assisted"


def test_environment_overrides_with_hub_prefix(monkeypatch, tmp_path):
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("HUB_AUTONOMY_MODE", "supervised")
    monkeypatch.setenv("HUB_REWARD_WEIGHTS__ENGAGEMENT", "0.5")
    s = Settings()
    assert s.home == tmp_path / "state"
    assert s.autonomy_mode == "supervised"
    assert s.reward_weights.engagement == 0.5
    assert s.reward_weights.accuracy == 0.25


def test_dot_env_file_is_read(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HUB_SERVE_PORT", raising=False)
    Path(".env").write_text("HUB_SERVE_PORT=9123\nHUB_LOG_LEVEL=DEBUG\n")
    s = Settings()
    assert s.serve_port == 9123
    assert s.log_level == "DEBUG"


def test_secrets_never_show_in_repr(monkeypatch):
    monkeypatch.setenv("HUB_SERVE_TOKEN", "a-very-secret-token-value")
    s = Settings()
    assert "a-very-secret-token-value" not in repr(s)
    assert s.serve_token.get_secret_value() == "a-very-secret-token-value"


def test_bad_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("HUB_AUTONOMY_MODE", "reckless")
    with pytest.raises(ConfigError, match="HUB_AUTONOMY_MODE"):
        load_settings()


def test_reward_weights_default_to_the_product_design_and_normalize():
    weights = RewardWeights()
    assert weights.model_dump() == {
        "engagement": 0.30, "accuracy": 0.25, "task_completion": 0.20,
        "satisfaction": 0.15, "efficiency": 0.10,
    }
    doubled = RewardWeights(engagement=0.6, accuracy=0.5, task_completion=0.4,
                            satisfaction=0.3, efficiency=0.2).normalized()
    assert doubled["engagement"] == pytest.approx(0.30)
    with pytest.raises(ValueError):
        RewardWeights(engagement=0, accuracy=0, task_completion=0, satisfaction=0, efficiency=0)


def test_reload_settings_replaces_module_instance(hub_home):
    assert config.get_settings().home == hub_home
    assert config.settings is config.get_settings()


# -- a home that is safe to load from ------------------------------------------------------------
def _foreign(path: Path, monkeypatch) -> None:
    """Make ``path`` belong to another account: chown when root, else pretend to be another
    user (the ownership check reads ``config._current_uid``)."""
    import os

    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
    else:
        monkeypatch.setattr(config, "_current_uid", lambda: os.getuid() + 1)


def test_a_world_writable_home_is_refused_with_the_fix(monkeypatch, tmp_path):
    import os

    home = tmp_path / "state"
    home.mkdir()
    os.chmod(home, 0o777)
    monkeypatch.setenv("HUB_HOME", str(home))
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert str(home) in message and "mode 777" in message and f"chmod go-w {home}" in message
    os.chmod(home, 0o755)
    assert load_settings().home == home


def test_a_home_of_another_account_is_refused(monkeypatch, tmp_path):
    home = tmp_path / "state"
    home.mkdir()
    _foreign(home, monkeypatch)
    monkeypatch.setenv("HUB_HOME", str(home))
    with pytest.raises(ConfigError, match=r"HUB_HOME: .*state is not safe to use: it belongs "
                                          r"to user id \d+, not to you"):
        load_settings()


def test_ensure_home_creates_a_private_folder_and_checks_it(monkeypatch, tmp_path):
    import os
    import stat

    monkeypatch.setenv("HUB_HOME", str(tmp_path / "new" / "home"))
    settings = load_settings()
    settings.ensure_home()
    assert stat.S_IMODE(os.stat(settings.home).st_mode) == 0o700
    os.chmod(settings.home, 0o775)
    with pytest.raises(ConfigError, match="writable by group or others"):
        settings.ensure_home()


def test_a_foreign_dot_hub_above_the_working_folder_is_not_adopted(monkeypatch, tmp_path, caplog):
    planted = tmp_path / ".hub"  # as /tmp/.hub planted by another account
    planted.mkdir()
    work = tmp_path / "x"
    work.mkdir()
    _foreign(planted, monkeypatch)
    monkeypatch.delenv("HUB_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "elsewhere"))
    monkeypatch.chdir(work)
    with caplog.at_level("WARNING", logger="hub_kernel"):
        settings = load_settings()
    assert settings.home == work.resolve() / ".hub"
    assert f"not using {planted.resolve()}" in caplog.text


def test_the_search_for_dot_hub_stops_at_the_users_home(monkeypatch, tmp_path):
    above = tmp_path / ".hub"  # mine, but above my home folder
    above.mkdir()
    user_home = tmp_path / "home" / "alice"
    work = user_home / "project" / "notebooks"
    work.mkdir(parents=True)
    monkeypatch.delenv("HUB_HOME", raising=False)
    monkeypatch.setenv("HOME", str(user_home))
    monkeypatch.chdir(work)
    assert load_settings().home == work.resolve() / ".hub"  # not tmp_path/.hub
    (user_home / "project" / ".hub").mkdir()
    assert load_settings().home == (user_home / "project" / ".hub").resolve()


def test_dot_env_may_not_name_a_program_to_run(monkeypatch, tmp_path, caplog):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HUB_BROWSER_PATH", raising=False)
    monkeypatch.delenv("HUB_SERVE_PORT", raising=False)
    evil = tmp_path / "evil.sh"
    Path(".env").write_text(f"HUB_BROWSER_PATH={evil}\nHUB_SERVE_PORT=9123\n")
    with caplog.at_level("WARNING", logger="hub_kernel"):
        settings = load_settings()
    assert settings.browser_path == Path("/usr/bin/chromium")  # not obeyed
    assert settings.serve_port == 9123  # the rest of .env still is
    assert "HUB_BROWSER_PATH in .env is ignored" in caplog.text
    monkeypatch.setenv("HUB_BROWSER_PATH", str(evil))  # the real environment is obeyed
    assert load_settings().browser_path == evil


def test_doctor_reports_a_home_others_can_write(monkeypatch, tmp_path):
    import os

    from hub_kernel.doctor import check_home

    home = tmp_path / "later"
    monkeypatch.setenv("HUB_HOME", str(home))
    settings = load_settings()
    home.mkdir()
    os.chmod(home, 0o777)  # made writable by others after the settings were read
    check = check_home(settings)
    assert check.status == "fail" and f"chmod go-w {home}" in check.detail

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

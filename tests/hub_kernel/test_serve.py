import json
import os
import socket
import stat
from pathlib import Path

import pytest

from hub_kernel.exceptions import ServeError
from hub_kernel.serve import is_loopback, plan_serve, prepare_bokehjs


@pytest.fixture
def notebook(repo):
    return repo / "notebooks" / "dashboard.ipynb"


def test_loopback_addresses():
    assert is_loopback("127.0.0.1") and is_loopback("127.3.4.5")
    assert is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")
    assert not is_loopback("example.org")


def test_loopback_serving_gets_a_fresh_one_time_login_link(notebook, hub_home):
    plan = plan_serve(notebook, port=0)
    assert plan.auth == "token" and plan.token and len(plan.token) >= 16
    assert "--Voila.ip=127.0.0.1" in plan.argv and "--HubVoila.auth=token" in plan.argv
    assert plan.url == "http://127.0.0.1:0/"  # the dashboard's address carries no token
    assert plan.login_url == f"http://127.0.0.1:0/hub/login?token={plan.token}"
    assert plan_serve(notebook, port=0).token != plan.token  # fresh per start
    assert plan.env["HUB_SERVED"] == "token"


def voila_config(plan):
    folder = Path(plan.env["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0])
    return folder / "voila.json"


def test_any_other_address_gets_a_generated_token(notebook, hub_home):
    plan = plan_serve(notebook, ip="0.0.0.0", port=0)
    assert plan.token and len(plan.token) >= 16
    assert plan.login_url.endswith(f"/hub/login?token={plan.token}")
    assert plan.token not in plan.url
    # handed to Voila in a file only this user can read, never on the command line
    assert not any(plan.token in arg for arg in plan.argv)
    config = voila_config(plan)
    assert json.loads(config.read_text()) == {"HubVoila": {"login_token": plan.token}}
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    assert plan_serve(notebook, ip="0.0.0.0", port=0).token != plan.token


def test_given_token_is_used_and_short_ones_refused(notebook, hub_home, monkeypatch):
    monkeypatch.setenv("HUB_SERVE_TOKEN", "y" * 20)
    plan = plan_serve(notebook, ip="0.0.0.0", port=0, token="x" * 20)
    assert plan.token == "x" * 20
    assert "HUB_SERVE_TOKEN" not in plan.env  # kernels never inherit it
    with pytest.raises(ServeError, match="at least 16"):
        plan_serve(notebook, ip="0.0.0.0", port=0, token="short")


def test_the_other_auth_modes_have_no_server_token(notebook, hub_home):
    users = plan_serve(notebook, ip="0.0.0.0", port=0, auth="users", token="x" * 20)
    assert users.token is None and users.login_url is None
    assert "--HubVoila.auth=users" in users.argv
    header = plan_serve(notebook, ip="0.0.0.0", port=0, auth="header",
                        auth_header="X-Remote-User")
    assert "--HubVoila.auth_header=X-Remote-User" in header.argv
    none = plan_serve(notebook, port=0, auth="none")
    assert none.token is None and "--HubVoila.auth=none" in none.argv


def test_auth_none_off_loopback_and_bad_options_are_refused(notebook, hub_home):
    with pytest.raises(ServeError, match="--auth none serves without any login and is "
                                         "allowed on a loopback address only"):
        plan_serve(notebook, ip="0.0.0.0", port=0, auth="none")
    with pytest.raises(ServeError, match="--auth 'open' is unknown"):
        plan_serve(notebook, port=0, auth="open")
    with pytest.raises(ServeError, match="not a header name"):
        plan_serve(notebook, port=0, auth="header", auth_header="X-User\r\nSet-Cookie")
    with pytest.raises(ServeError, match="--auth-header is for --auth header"):
        plan_serve(notebook, port=0, auth="users", auth_header="X-User")


def test_busy_port_and_missing_notebook_are_clear_errors(notebook, hub_home, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ServeError, match=f"port {port} .* in use"):
            plan_serve(notebook, port=port)
    with pytest.raises(ServeError, match="notebook not found"):
        plan_serve(tmp_path / "nope.ipynb")
    with pytest.raises(ServeError, match="dataset not found"):
        plan_serve(notebook, port=0, dataset=tmp_path / "nope.csv")


def test_kernels_get_the_resolved_dataset_and_env_file(notebook, hub_home, tmp_path,
                                                       monkeypatch):
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    (tmp_path / ".env").write_text(f"HUB_DATASET={data.name}\n")
    monkeypatch.chdir(tmp_path)
    from hub_kernel.core import config

    plan = plan_serve(notebook, port=0, settings=config.reload_settings())
    assert plan.env["HUB_DATASET"] == str(data)
    assert plan.env["HUB_ENV_FILE"] == str(tmp_path / ".env")
    assert plan.env["HUB_HOME"] == str(hub_home)


def test_bokehjs_is_served_from_hub_home(notebook, hub_home):
    plan = plan_serve(notebook, port=0)
    js = hub_home / "static" / "hub-bokehjs" / "js" / "bokeh.min.js"
    assert js.is_file() and not js.is_symlink()
    assert js.stat().st_size > 500_000
    assert plan.env["HUB_BOKEHJS_IN_PAGE"] == "1"
    assert f"--VoilaConfiguration.extra_labextensions_path={hub_home / 'static'}" in plan.argv
    assert "--template=hub" in plan.argv
    template_root = plan.env["JUPYTER_PATH"].split(":")[0]
    assert (Path(template_root) / "voila/templates/hub/index.html.j2").is_file()
    before = js.stat().st_mtime_ns
    from hub_kernel.core import config

    prepare_bokehjs(config.get_settings())  # unchanged bokeh: no rewrite
    assert js.stat().st_mtime_ns == before


def test_a_redis_stream_is_handed_to_the_kernels_and_a_bad_one_refused_without_its_password(
        notebook, hub_home):
    url = "redis://:hunter2-secret@127.0.0.1:6379/0/events?group=dash"
    plan = plan_serve(notebook, port=0, stream=url)
    assert plan.env["HUB_STREAM"] == url  # the kernels need the password to connect
    assert "hunter2-secret" not in " ".join(plan.argv)  # not on the command line (ps)
    with pytest.raises(ServeError, match="not a stream URL") as caught:
        plan_serve(notebook, port=0, stream="http://:hunter2-secret@127.0.0.1/events")
    assert "hunter2-secret" not in str(caught.value) and "***@127.0.0.1" in str(caught.value)

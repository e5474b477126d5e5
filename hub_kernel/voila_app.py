"""hub's Voilà server: Voilà with the ``Host`` header checked and a login of hub's own.

**Host.** Voilà turns Jupyter Server's host check off (``allow_remote_access=True``), so a page
on another site could reach a loopback dashboard by DNS rebinding: its script's requests carry
``Host: evil.example:PORT`` and got the dashboard. Here a request is served only when its host
is an address literal (a rebinding attack needs a name) that fits the bound address, or a name
the operator allowed: ``localhost`` on a loopback address, and the names given with
``--allow-host`` (``HubVoila.allow_hosts``). Everything else gets 403 and a log line naming the
host.

**Who is viewing** (``HubVoila.auth``, ``hub serve --auth``):

- ``token`` (the default): a fresh server token per start (or ``HUB_SERVE_TOKEN``). The printed
  link ``/hub/login?token=...`` works once: it sets a login cookie and redirects to the plain
  dashboard URL. The viewer is the server's ``HUB_USER``.
- ``users``: only the tokens ``hub users add`` issued (``hub_kernel.safety.users``), presented
  once at ``/hub/login`` (the link or the form); the viewer is that user, and a revoked user
  is refused on their next request.
- ``header``: the name in a request header (``HubVoila.auth_header``, default
  ``X-Forwarded-User``) set by an authenticating proxy; a request without it is refused.
- ``none``: no login, on a loopback address only; the viewer is ``HUB_USER``.

The login cookie is signed with tornado's cookie secret (random per start), ``HttpOnly`` and
``SameSite=Strict``. A request without a valid one gets a 401 page saying how to log in; a bad,
used or revoked token a 403 page. Tokens are accepted at ``/hub/login`` only, never on the
dashboard's URL, and the access log scrubs them (Jupyter Server's ``log_request``).

**The kernel learns the viewer from the server, never from the page.** Before Voilà copies the
request into a kernel's environment (``QUERY_STRING``, and the headers named in
``VoilaConfiguration.http_header_envs``) the page handler drops any ``user`` and ``token``
parameter from the URL, drops client-sent ``X-Hub-Viewer`` / ``X-Hub-Role`` headers and sets
them to the authenticated name and role; the kernel reads ``HTTP_X_HUB_VIEWER`` and
``HTTP_X_HUB_ROLE`` (``widgets.viewer``). This works for preheated kernels too: Voilà sends them
the same request information when a viewer arrives (``wait_for_request``).

Once configured, the server forgets the token's carriers: ``HUB_SERVE_TOKEN`` leaves its
environment (so no kernel inherits it) and the private config file is deleted. ``/hub/health``
answers load balancers without a login (``health``). ``hub serve`` and ``hub demo`` start Voilà
through this module.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlencode

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.identity import IdentityProvider, User
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.log import log_request
from tornado import web
from tornado.httputil import parse_qs_bytes
from traitlets import Enum, List, Type, Unicode
from voila.app import Voila
from voila.tornado.handler import TornadoVoilaHandler

_HOST = re.compile(r"(.*?)(:\d+)?")
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")
VIEWER_HEADER = "X-Hub-Viewer"  # copied by Voilà into the kernel as HTTP_X_HUB_VIEWER
ROLE_HEADER = "X-Hub-Role"  # HTTP_X_HUB_ROLE: "operator" or "viewer"
AUTH_MODES = ("token", "users", "header", "none")
LOGIN_PATH = "/hub/login"
COOKIE_DAYS = 7


def host_allowed(host_header: str, *, bound: str, names: frozenset[str]) -> bool:
    """Whether a request whose ``Host`` is ``host_header`` may be served by a server bound to
    ``bound``: an address literal (loopback ones only when bound to loopback), ``localhost``
    when bound to loopback, or one of ``names``."""
    match = _HOST.fullmatch(host_header.strip())
    host = (match.group(1) if match else host_header).lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host in names:
        return True
    loopback = is_loopback_address(bound)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return loopback and host == "localhost"
    return address.is_loopback if loopback else True


def is_loopback_address(bound: str) -> bool:
    if bound == "localhost":
        return True
    try:
        return ipaddress.ip_address(bound).is_loopback
    except ValueError:
        return False


def _check_host(self: JupyterHandler) -> bool:
    rule = self.settings.get("hub_host_rule")
    if rule is None:  # not hub's server: Jupyter Server's own check
        return _jupyter_check_host(self)
    if host_allowed(self.request.host, bound=rule[0], names=rule[1]):
        return True
    self.log.warning("Blocking a request for host %r: not this server's address nor a name "
                     "given with --allow-host", self.request.host)
    return False


_jupyter_check_host = JupyterHandler.check_host


def scrub_query(query: str) -> str | None:
    """``query`` without ``user`` and token-like parameters; ``None`` when nothing was
    dropped."""
    pairs = parse_qsl(query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if k.lower() != "user" and "token" not in k.lower()]
    return None if len(kept) == len(pairs) else urlencode(kept)


# -- identity ------------------------------------------------------------------------------------
@dataclass
class HubUser(User):
    """A viewer the server authenticated, with their role."""

    operator: bool = False
    user_id: int = 0  # the row in the user store (--auth users), 0 otherwise


class HubIdentityProvider(IdentityProvider):
    """Who a request comes from, by ``HubVoila.auth`` (module docstring)."""

    mode = "token"
    header = "X-Forwarded-User"
    login_token: str | None = None  # token mode: the one-time login token until used
    default_user = "default"
    cookie_suffix = ""

    @property
    def store(self) -> Any:
        from hub_kernel.safety.users import UserStore

        return UserStore()

    # the base class accepts ?token= on every request and skips origin checks for it: never
    def should_check_origin(self, handler: web.RequestHandler) -> bool:
        return True

    def is_token_authenticated(self, handler: web.RequestHandler) -> bool:
        return False

    def get_cookie_name(self, handler: web.RequestHandler) -> str:
        return f"hub-login-{self.cookie_suffix}"

    def get_handlers(self) -> list[tuple[str, object]]:
        return [(LOGIN_PATH, HubLoginHandler), ("/hub/logout", HubLogoutHandler)]

    def get_user(self, handler: web.RequestHandler) -> HubUser | None:
        if self.mode == "none":
            return HubUser(self.default_user)
        if self.mode == "header":
            return self._header_user(handler)
        raw = handler.get_signed_cookie(self.get_cookie_name(handler),
                                        max_age_days=COOKIE_DAYS)
        if not raw:
            return None
        try:
            data = json.loads(raw)
            name, user_id = str(data["u"]), int(data["id"])
        except (ValueError, KeyError, TypeError):
            return None
        if self.mode == "token":
            return HubUser(name) if user_id == 0 else None
        stored = self.store.active(user_id)  # asked every request: a revocation bites at once
        if stored is None or stored.name != name:
            self.log.warning("refusing a login cookie of %s: revoked or unknown", name)
            handler.clear_cookie(self.get_cookie_name(handler), path="/")
            return None
        return HubUser(stored.name, operator=stored.operator, user_id=stored.id)

    def _header_user(self, handler: web.RequestHandler) -> HubUser | None:
        from hub_kernel.safety.users import NAME

        value = handler.request.headers.get(self.header, "").strip()
        if not NAME.fullmatch(value):
            self.log.warning("refusing a request without a valid %s header", self.header)
            return None
        stored = self.store.find(value)
        return HubUser(value, operator=bool(stored and stored.operator))

    def login(self, token: str) -> HubUser | None:
        """The user ``token`` logs in (a token mode's login token is used up), else None."""
        if not token:
            return None
        if self.mode == "token":
            if self.login_token and hmac.compare_digest(token.encode(),
                                                        self.login_token.encode()):
                self.login_token = None  # a login link works once
                return HubUser(self.default_user)
            return None
        if self.mode == "users":
            stored = self.store.authenticate(token)
            if stored is not None:
                return HubUser(stored.name, operator=stored.operator, user_id=stored.id)
        return None

    def set_login_cookie(self, handler: web.RequestHandler, user: User) -> None:
        user_id = user.user_id if isinstance(user, HubUser) else -1
        handler.set_signed_cookie(
            self.get_cookie_name(handler), json.dumps({"u": user.username, "id": user_id}),
            expires_days=None, httponly=True, samesite="Strict", path="/",
            secure=handler.request.protocol == "https")

    def clear_login_cookie(self, handler: web.RequestHandler) -> None:
        handler.clear_cookie(self.get_cookie_name(handler), path="/")

    @property
    def login_available(self) -> bool:
        return self.mode in ("token", "users")


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>hub: {title}</title>
<meta name="referrer" content="no-referrer">
<style>body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 40em; margin: 4em auto;
padding: 0 1em; color: #222 }} input {{ font: inherit; width: 100%; padding: .4em }}
button {{ font: inherit; margin-top: .6em; padding: .4em 1.2em }}</style></head>
<body class="hub-login"><h1>{title}</h1><p class="hub-login-message">{message}</p>{form}
</body></html>"""


def _form(handler: JupyterHandler) -> str:
    return (f'<form method="post" action="{LOGIN_PATH}">{handler.xsrf_form_html()}'
            '<label>Token <input type="password" name="token" autocomplete="off" autofocus>'
            '</label><button type="submit">Log in</button></form>')


def _how_to_log_in(provider: IdentityProvider) -> str:
    if not isinstance(provider, HubIdentityProvider):
        return ""
    if provider.mode == "token":
        return ("Open the login link the server printed when it started (it works once), or "
                "restart the server for a new one.")
    if provider.mode == "users":
        return ("Log in with the token <code>hub users add NAME</code> printed for you: paste "
                "it below, or open the link you were given. Ask the dashboard's operator if "
                "you have none.")
    if provider.mode == "header":
        return (f"This server trusts the <code>{escape(provider.header)}</code> header of an "
                "authenticating proxy, and this request did not come through it.")
    return ""


def write_auth_page(handler: JupyterHandler, status: int, title: str, message: str) -> None:
    provider = handler.identity_provider
    handler.clear()
    handler.set_status(status)
    handler.set_header("Content-Type", "text/html; charset=utf-8")
    handler.set_header("Cache-Control", "no-store")
    handler.set_header("Referrer-Policy", "no-referrer")
    form = _form(handler) if provider.login_available else ""
    handler.finish(_PAGE.format(title=escape(title), message=message, form=form))


class HubLoginHandler(JupyterHandler):
    """``/hub/login``: a token (``?token=`` of a login link, or the form) becomes a cookie,
    then a redirect to the plain dashboard URL."""

    @allow_unauthenticated
    def get(self) -> None:
        token = self.get_query_argument("token", "")
        if token:
            self._log_in(token)
        else:
            provider = self.identity_provider
            write_auth_page(self, 200, "Log in to this dashboard", _how_to_log_in(provider))

    @allow_unauthenticated
    def post(self) -> None:
        self._log_in(self.get_body_argument("token", ""))

    def _log_in(self, token: str) -> None:
        provider = self.identity_provider
        user = provider.login(token) if isinstance(provider, HubIdentityProvider) else None
        if user is None:
            self.log.warning("refused a login from %s: the token is not valid (used already, "
                             "revoked or mistyped)", self.request.remote_ip)
            write_auth_page(self, 403, "This login is not valid",
                            "The token was used already (a login link works once), was "
                            "revoked, or is mistyped. " + _how_to_log_in(provider))
            return
        provider.set_login_cookie(self, user)
        self.log.info("%s logged in from %s", user.username, self.request.remote_ip)
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")
        self.redirect(self.base_url, status=303)  # the token leaves the address bar


class HubLogoutHandler(JupyterHandler):
    @allow_unauthenticated
    def get(self) -> None:
        self.identity_provider.clear_login_cookie(self)
        write_auth_page(self, 200, "Logged out", "You are logged out of this dashboard.")


class HubPageHandler(TornadoVoilaHandler):
    """The dashboard page: refused without a login, and the viewer handed to the kernel by
    the server (module docstring)."""

    async def prepare(self) -> None:
        request = self.request
        scrubbed = scrub_query(request.query)
        if scrubbed is not None:  # a client's ?user= or ?token= never reaches a kernel
            request.query = scrubbed
            request.uri = request.path + (f"?{scrubbed}" if scrubbed else "")
            request.query_arguments = parse_qs_bytes(scrubbed, keep_blank_values=True)
            request.arguments = {k: list(v) for k, v in request.query_arguments.items()}
        for name in (VIEWER_HEADER, ROLE_HEADER):
            if name in request.headers:
                del request.headers[name]
        await super().prepare()
        user = self.current_user
        if isinstance(user, HubUser):
            request.headers[VIEWER_HEADER] = user.username
            request.headers[ROLE_HEADER] = "operator" if user.operator else "viewer"

    def get_login_url(self) -> str:
        raise web.HTTPError(401)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        provider = self.identity_provider
        if status_code == 401 and isinstance(provider, HubIdentityProvider):
            write_auth_page(self, 401, "Log in to see this dashboard", _how_to_log_in(provider))
            return
        super().write_error(status_code, **kwargs)


# -- the server ----------------------------------------------------------------------------------
class HubVoila(Voila):
    """Voilà, with the host check and hub's login (module docstring)."""

    allow_hosts = List(Unicode(), help="Host names this server answers to, besides its "
                                       "address (and localhost on loopback).").tag(config=True)
    auth = Enum(AUTH_MODES, default_value="token",
                help="Who may view: token, users, header or none.").tag(config=True)
    auth_header = Unicode("X-Forwarded-User", help="The header an authenticating proxy sets "
                                                   "to the user's name (--auth header).",
                          ).tag(config=True)
    login_token = Unicode("", help="The one-time login token of --auth token (from a private "
                                   "config file).").tag(config=True)
    identity_provider_class = Type(default_value=HubIdentityProvider, klass=IdentityProvider,
                                   config=True, help="hub's login.")

    def initialize(self, argv: Any = None) -> None:
        super().initialize(argv)
        # the token is in this process's configuration now: kernels (which inherit the
        # environment) never see it, and the private config file that carried it goes
        os.environ.pop("HUB_SERVE_TOKEN", None)
        run_config = os.environ.pop("HUB_RUN_CONFIG", None)
        if run_config:
            shutil.rmtree(run_config, ignore_errors=True)
            os.environ["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
                p for p in os.environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep)
                if p and p != run_config)
        if self.auth == "none" and not is_loopback_address(self.ip):
            self.log.critical("--auth none serves without any login and is allowed on a "
                              "loopback address only, not %s: use --auth users, or --auth "
                              "header behind an authenticating proxy", self.ip)
            self.exit(1)
        if not _HEADER_NAME.fullmatch(self.auth_header):
            self.log.critical("--auth-header %r is not a header name", self.auth_header)
            self.exit(1)
        envs = self.voila_configuration.http_header_envs
        self.voila_configuration.http_header_envs = [
            *(h for h in envs if h.lower() not in (VIEWER_HEADER.lower(), ROLE_HEADER.lower())),
            VIEWER_HEADER, ROLE_HEADER]

    def init_settings(self) -> dict[str, Any]:
        settings = super().init_settings()
        settings["hub_host_rule"] = (self.ip, frozenset(h.lower() for h in self.allow_hosts))
        # Jupyter Server's access log scrubs tokens from the URLs it logs; tornado's does not
        settings["log_function"] = functools.partial(log_request,
                                                     record_prometheus_metrics=False)
        settings["login_url"] = LOGIN_PATH
        provider = self.identity_provider
        if isinstance(provider, HubIdentityProvider):
            from hub_kernel.core.config import get_settings

            provider.mode = self.auth
            provider.header = self.auth_header
            provider.default_user = get_settings().user
            provider.cookie_suffix = str(self.port)
            if self.auth == "token":
                provider.login_token = self.login_token or None
                if provider.login_token is None:  # started by hand: say how to log in
                    provider.login_token = secrets.token_urlsafe(24)
                    self.log.info("one-time login link: %s%s?token=%s",
                                  self._url(self.ip or "localhost"), LOGIN_PATH.lstrip("/"),
                                  provider.login_token)
        return settings

    def init_handlers(self) -> list:
        from jupyter_server.utils import url_path_join

        from hub_kernel.health import HealthHandler

        handlers = super().init_handlers()
        # health first: Voilà's own patterns would take any path for a notebook
        return [(url_path_join(self.server_url, "/hub/health"), HealthHandler),
                *((spec[0], HubPageHandler, *spec[2:]) if spec[1] is TornadoVoilaHandler
                  else spec for spec in handlers)]


def main() -> None:
    # every handler (pages, kernels' websockets, static files) derives from JupyterHandler,
    # whose prepare() calls check_host: replacing it here covers them all, in this process
    JupyterHandler.check_host = _check_host  # type: ignore[method-assign]
    HubVoila.launch_instance()


if __name__ == "__main__":
    main()

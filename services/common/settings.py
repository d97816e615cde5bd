"""Settings, read once from the environment by the entry points and passed down.

Every IDSYNC_* variable is read here. The few that are read where they are used, not
once at the start, have a function of their own at the end of this module."""

from __future__ import annotations

import getpass
import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from core.errors import BadInput, Unreachable

URL_FILE = "nats.url"
METRICS_URL_FILE = "metrics.url"
"""Where a service process serving its metrics on a free port (IDSYNC_METRICS_PORT=0)
writes that port's URL, for `idsync doctor`."""
HOME_FOLDER = ".idsync"
"""The folder `idsync up` keeps its store in, looked for in the current folder and up."""


def find_home(env: Mapping[str, str], cwd: Path) -> tuple[Path, tuple[Path, ...]]:
    """IDSYNC_HOME, and where it was looked for: the environment's IDSYNC_HOME; else the
    first `.idsync` folder in `cwd` or one of its parents (as git finds `.git`); else the
    per-user default, `$XDG_STATE_HOME/idsync` (`~/.local/state/idsync`). So every
    command finds the instance `idsync up` started, from any folder below it or, with
    the per-user default, from anywhere."""
    if given := env.get("IDSYNC_HOME"):
        return Path(given).expanduser().absolute(), ()
    folders = tuple(folder / HOME_FOLDER for folder in (cwd, *cwd.parents))
    for at, folder in enumerate(folders):
        if folder.is_dir():
            return folder, folders[: at + 1]
    state = env.get("XDG_STATE_HOME", "")
    if not Path(state).is_absolute():  # unset or relative: the XDG default
        user_home = Path(env["HOME"]) if env.get("HOME") else Path.home()
        state = str(user_home / ".local" / "state")
    return Path(state) / "idsync", folders


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    home: Path = Path(HOME_FOLDER)
    """IDSYNC_HOME: the embedded server's store and the file with its URL (`find_home`)."""
    home_searched: tuple[Path, ...] = ()
    """The `.idsync` folders `find_home` looked at (empty: IDSYNC_HOME was set); `home`
    is the last of them, or the per-user default when none exists."""
    nats_url: str | None = None
    """IDSYNC_NATS_URL: a NATS server to use instead of the one `idsync up` started."""
    principal: str = "admin"
    """IDSYNC_PRINCIPAL: who this command acts as (a slug); with credentials, their user."""
    nats_credentials: Path | None = None
    """IDSYNC_NATS_CREDENTIALS: a file with the NATS user and password (services/common/
    credentials.py says where else they are looked for)."""
    nats_user: str | None = None
    """IDSYNC_NATS_USER: the NATS user, when there is no credentials file."""
    nats_password: str | None = None
    """IDSYNC_NATS_PASSWORD: that user's password."""
    nats_ca_file: Path | None = None
    """IDSYNC_NATS_CA_FILE: CA certificates to verify a tls:// NATS server with."""
    merge_window: float = 2.0
    """IDSYNC_MERGE_WINDOW: seconds during which run requests from other systems for one job
    are merged into one run."""
    approval_check: float = 30.0
    """IDSYNC_APPROVAL_CHECK: seconds between the workflow's checks for expired approvals."""
    approval_expiry: float = 86_400.0
    """IDSYNC_APPROVAL_EXPIRY: seconds a run waits for approval when its job does not say."""
    runner_id: str = "runner"
    ack_wait: float = 30.0
    """IDSYNC_ACK_WAIT: seconds before an unacknowledged message is delivered again."""
    max_deliver: int = 10
    """IDSYNC_MAX_DELIVER: deliveries of one message before it is given up."""
    retry_delay: float = 2.0
    """IDSYNC_RETRY_DELAY: the first retry's delay; it doubles with each delivery (capped)."""
    journal_max_bytes: int = 1 << 30
    journal_max_age_days: float = 90.0
    work_max_bytes: int = 1 << 30
    log_max_bytes: int = 256 << 20
    """IDSYNC_LOG_MAX_BYTES: the most the runs' log lines stream holds (the oldest go first)."""
    history_keep_days: float = 365.0
    """IDSYNC_HISTORY_KEEP_DAYS: how long the recorder keeps a run whose job says nothing
    (`history = { keep = "90d" }`) — archived to JSON lines, then removed."""
    """IDSYNC_WORK_MAX_BYTES: the most the work queue holds; a full queue fails the run."""
    history_url: str | None = None
    """IDSYNC_HISTORY_URL: a PostgreSQL database for the history
    (postgresql://user@host:port/database); without it, IDSYNC_HOME/history.sqlite."""
    history_password_file: Path | None = None
    """IDSYNC_HISTORY_PASSWORD_FILE: a file holding that database's password (or put it in
    the URL)."""
    scheduler_tick: float = 1.0
    runner_concurrency: int = 4
    """IDSYNC_RUNNER_CONCURRENCY: batches one runner applies at the same time."""
    replicas: int = 1
    """IDSYNC_REPLICAS: copies of each stream and bucket kept by a NATS cluster (3 in a
    three-node cluster); 1 for a single server."""
    heartbeat_interval: float = 5.0
    """IDSYNC_HEARTBEAT_INTERVAL: seconds between a runner's heartbeats."""
    liveness_interval: float = 10.0
    """IDSYNC_LIVENESS_INTERVAL: seconds between checks that each consumer is pulled."""
    wait_reconnect: float = 60.0
    """IDSYNC_WAIT_RECONNECT: seconds `idsync job run --wait` waits for a NATS server that
    went away to come back before it gives up (exit 3; the run goes on)."""
    scim_host: str = "127.0.0.1"
    """IDSYNC_SCIM_HOST: the address the SCIM endpoint listens on (services/scim_endpoint)."""
    scim_port: int | None = None
    """IDSYNC_SCIM_PORT: its port; `idsync up` starts the endpoint only when this is set
    (0: any free port, written to IDSYNC_HOME/scim.url)."""
    scim_wait: float = 60.0
    """IDSYNC_SCIM_WAIT: the most seconds a push with `?wait=` waits for its run's end."""
    metrics_port: int | None = None
    """IDSYNC_METRICS_PORT: the port a service process serves /metrics, /healthz and
    /readyz on (services/common/health.py); unset: none, and nothing is counted (0: any
    free port, written to IDSYNC_HOME/metrics.url)."""
    metrics_host: str = "127.0.0.1"
    """IDSYNC_METRICS_HOST: the address it listens on (0.0.0.0 in a container)."""
    health_urls: tuple[str, ...] = ()
    """IDSYNC_HEALTH_URLS: the services' metrics ports (http://host:port, comma-separated)
    that `idsync doctor` asks /readyz; unset: IDSYNC_HOME/metrics.url, if there is one."""
    otlp_endpoint: str | None = None
    """IDSYNC_OTLP_ENDPOINT: an OpenTelemetry collector's OTLP/HTTP address
    (http://host:4318); set, the services send traces there; unset, they make none."""
    # Mail (services/notifier). Secrets are references: the name of the variable or the
    # file holding the password, so no dump of the settings ever shows it.
    smtp_host: str | None = None
    """IDSYNC_SMTP_HOST: the mail server; without it the notifier logs what it would send."""
    smtp_port: int | None = None
    """IDSYNC_SMTP_PORT: by default 587 with starttls, 465 with tls, 25 with none."""
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    """IDSYNC_SMTP_SECURITY: starttls, tls (TLS from the first byte) or none."""
    smtp_user: str | None = None
    smtp_password_env: str | None = None
    """IDSYNC_SMTP_PASSWORD_ENV: the name of the environment variable holding the password."""
    smtp_password_file: Path | None = None
    """IDSYNC_SMTP_PASSWORD_FILE: a file holding the password."""
    smtp_ca_file: Path | None = None
    """IDSYNC_SMTP_CA_FILE: CA certificates to verify the server with (default: the system's)."""
    smtp_verify: bool = True
    """IDSYNC_SMTP_VERIFY: false skips verifying the server's certificate (tests only)."""
    mail_from: str | None = None
    """IDSYNC_MAIL_FROM: the sender address; default idsync@<this host's name>."""
    notifier_key_file: Path | None = None
    """IDSYNC_NOTIFIER_KEY_FILE: the notifier's private key, which opens sealed passwords;
    default IDSYNC_HOME/notifier.key (made at the notifier's first start)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home, searched = find_home(env, Path.cwd())
        try:
            return cls(
                home=home,
                home_searched=searched,
                nats_url=env.get("IDSYNC_NATS_URL") or None,
                principal=env.get("IDSYNC_PRINCIPAL") or _default_principal(),
                nats_credentials=_path(env.get("IDSYNC_NATS_CREDENTIALS")),
                nats_user=env.get("IDSYNC_NATS_USER") or None,
                nats_password=env.get("IDSYNC_NATS_PASSWORD"),
                nats_ca_file=_path(env.get("IDSYNC_NATS_CA_FILE")),
                merge_window=float(env.get("IDSYNC_MERGE_WINDOW", 2)),
                approval_check=float(env.get("IDSYNC_APPROVAL_CHECK", 30)),
                approval_expiry=float(env.get("IDSYNC_APPROVAL_EXPIRY", 86_400)),
                runner_id=env.get("IDSYNC_RUNNER_ID") or f"{socket.gethostname()}-{os.getpid()}",
                ack_wait=float(env.get("IDSYNC_ACK_WAIT", 30)),
                max_deliver=int(env.get("IDSYNC_MAX_DELIVER", 10)),
                retry_delay=float(env.get("IDSYNC_RETRY_DELAY", 2)),
                journal_max_bytes=int(env.get("IDSYNC_JOURNAL_MAX_BYTES", 1 << 30)),
                journal_max_age_days=float(env.get("IDSYNC_JOURNAL_MAX_AGE_DAYS", 90)),
                work_max_bytes=int(env.get("IDSYNC_WORK_MAX_BYTES", 1 << 30)),
                log_max_bytes=int(env.get("IDSYNC_LOG_MAX_BYTES", 256 << 20)),
                history_keep_days=float(env.get("IDSYNC_HISTORY_KEEP_DAYS", 365)),
                history_url=env.get("IDSYNC_HISTORY_URL") or None,
                history_password_file=_path(env.get("IDSYNC_HISTORY_PASSWORD_FILE")),
                scheduler_tick=float(env.get("IDSYNC_SCHEDULER_TICK", 1)),
                runner_concurrency=int(env.get("IDSYNC_RUNNER_CONCURRENCY", 4)),
                liveness_interval=float(env.get("IDSYNC_LIVENESS_INTERVAL", 10)),
                wait_reconnect=float(env.get("IDSYNC_WAIT_RECONNECT", 60)),
                heartbeat_interval=float(env.get("IDSYNC_HEARTBEAT_INTERVAL", 5)),
                replicas=int(env.get("IDSYNC_REPLICAS", 1)),
                scim_host=env.get("IDSYNC_SCIM_HOST") or "127.0.0.1",
                scim_port=int(port) if (port := env.get("IDSYNC_SCIM_PORT")) else None,
                scim_wait=float(env.get("IDSYNC_SCIM_WAIT", 60)),
                metrics_port=int(mp) if (mp := env.get("IDSYNC_METRICS_PORT")) else None,
                metrics_host=env.get("IDSYNC_METRICS_HOST") or "127.0.0.1",
                health_urls=tuple(server_list(env.get("IDSYNC_HEALTH_URLS", ""))),
                otlp_endpoint=env.get("IDSYNC_OTLP_ENDPOINT") or None,
                **_mail_settings(env),
            )
        except ValueError as error:
            raise BadInput(f"an IDSYNC_* environment variable is not a number: {error}") from None

    def resolve_nats_url(self) -> str:
        """IDSYNC_NATS_URL, else the URL `idsync up` wrote; never a silent localhost:4222."""
        if self.nats_url:
            return self.nats_url
        url_file = self.home / URL_FILE
        if url_file.is_file():
            return url_file.read_text().strip()
        raise Unreachable(
            f"no NATS server known: nothing in IDSYNC_NATS_URL and no {url_file}.\n"
            f"{self._where_looked()}"
            "Start everything on this machine with `idsync up` (in another terminal),\n"
            "or point at a server: export IDSYNC_NATS_URL=nats://host:4222"
        )

    def _where_looked(self) -> str:
        """How IDSYNC_HOME was found, for a message saying nothing is running there."""
        if not self.home_searched:
            return f"IDSYNC_HOME is set to {self.home}.\n"
        if self.home in self.home_searched:
            return f"IDSYNC_HOME is not set; {self.home} is the nearest {HOME_FOLDER} folder.\n"
        looked = "".join(f"  {folder}\n" for folder in self.home_searched)
        return (
            f"IDSYNC_HOME is not set, and no folder was found where it was looked for:\n"
            f"{looked}  {self.home} (the per-user default)\n"
        )

    def retry_delay_for(self, deliveries: int) -> float:
        """The delay before the next attempt, doubling with each delivery, at most 5 minutes."""
        return float(min(self.retry_delay * (2 ** max(deliveries - 1, 0)), 300.0))


_SECURITY = ("none", "starttls", "tls")
_YES, _NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _mail_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The notifier's variables: IDSYNC_SMTP_*, IDSYNC_MAIL_FROM, IDSYNC_NOTIFIER_KEY_FILE."""
    security = env.get("IDSYNC_SMTP_SECURITY", "starttls").strip().lower()
    if security not in _SECURITY:
        raise BadInput(f"IDSYNC_SMTP_SECURITY is {security!r}; expected none, starttls or tls")
    verify = env.get("IDSYNC_SMTP_VERIFY", "true").strip().lower()
    if verify not in _YES + _NO:
        raise BadInput(f"IDSYNC_SMTP_VERIFY is {verify!r}; expected true or false")
    port = env.get("IDSYNC_SMTP_PORT")
    paths = {
        name: Path(value).expanduser().absolute() if (value := env.get(var)) else None
        for name, var in (
            ("smtp_password_file", "IDSYNC_SMTP_PASSWORD_FILE"),
            ("smtp_ca_file", "IDSYNC_SMTP_CA_FILE"),
            ("notifier_key_file", "IDSYNC_NOTIFIER_KEY_FILE"),
        )
    }
    return {
        "smtp_host": env.get("IDSYNC_SMTP_HOST") or None,
        "smtp_port": int(port) if port else None,
        "smtp_security": security,
        "smtp_user": env.get("IDSYNC_SMTP_USER") or None,
        "smtp_password_env": env.get("IDSYNC_SMTP_PASSWORD_ENV") or None,
        "smtp_verify": verify in _YES,
        "mail_from": env.get("IDSYNC_MAIL_FROM") or None,
        **paths,
    }


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser().absolute() if value else None


def server_list(url: str) -> list[str]:
    """A URL or several, comma-separated (the servers of a cluster, tried in turn)."""
    return [part.strip() for part in url.split(",") if part.strip()]


def _default_principal() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        return "admin"
    slug = re.sub(r"[^a-z0-9_-]", "-", name.lower()).strip("-")
    return slug or "admin"


# Read where they are used: a SQLite provider is opened without the Settings, and a
# failpoint is armed when the process imports it.

DEFAULT_SQLITE_BUSY_TIMEOUT = 5.0
"""Seconds to wait for another writer's lock before the batch counts as Transient."""


def sqlite_busy_timeout(env: Mapping[str, str] | None = None) -> float:
    """IDSYNC_SQLITE_BUSY_TIMEOUT (seconds), or DEFAULT_SQLITE_BUSY_TIMEOUT."""
    environ = os.environ if env is None else env
    text = environ.get("IDSYNC_SQLITE_BUSY_TIMEOUT")
    if text is None:
        return DEFAULT_SQLITE_BUSY_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise BadInput(f"IDSYNC_SQLITE_BUSY_TIMEOUT must be a number of seconds, not {text!r}")
    return seconds


def armed_failpoints(env: Mapping[str, str] | None = None) -> dict[str, int]:
    """IDSYNC_FAILPOINTS (crash tests only; services/common/failpoints.py): each armed
    failpoint's name and the pass it kills the process at."""
    armed: dict[str, int] = {}
    environ = os.environ if env is None else env
    spec = environ.get("IDSYNC_FAILPOINTS", "")
    for item in filter(None, spec.split(",")):
        name, _, nth = item.strip().partition(":")
        armed[name] = int(nth or 1)
    return armed

"""What the one-shot commands read of the configuration, without importing pydantic.

``epmpulse status``, ``set``, ``history``, ``export`` and ``render`` are run by scripts
in loops, so their start-up is their cost (SPEC §12). Importing pydantic and validating
the settings and the YAML file takes longer than the command's own work, so a command
validates them fully once (:func:`bot.config.load_config`, every problem reported as
always) and keeps the result in ``DATA_DIR/.config-cache.json``: the board's
:class:`~bot.layout.Layout` and a digest of everything that was validated. The next
command whose inputs give the same digest reads the layout and its few settings
(where the store is, how to log) from there.

The digest covers the package version, every environment variable the settings read,
the YAML file's path and bytes, and every variable the file names as ``${VAR}``: change
any of them and the next command validates everything again. A close calendar that
names a holiday country keeps that country's public holidays of last year, this year
and next year too (importing the ``holidays`` package costs more than a whole
command); the digest then also covers which ``holidays`` release is installed.

The digest is a BLAKE2b keyed with a random salt, so the cache names no secret; the
layout itself holds none (EPM credentials are not part of it). Without a data directory
(a database store and no ``data/``), nothing is kept and every command validates.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from bot import __version__
from bot.layout import Layout
from bot.model import utcnow

try:  # hashlib.blake2b itself; importing hashlib also loads OpenSSL (~6 ms, bench/cli.py)
    from _blake2 import blake2b
except ImportError:  # an interpreter without CPython's built-in module
    from hashlib import blake2b

if TYPE_CHECKING:
    from bot.config import Config

logger = logging.getLogger(__name__)

CACHE_FILE = ".config-cache.json"
CACHE_FORMAT = 2
DEFAULT_CONFIG_FILE = "epmpulse.yml"
DEFAULT_DATA_DIR = "data"
# ${VAR} in the YAML file is replaced from the environment.
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Every variable bot.settings.Settings reads (tests/core/test_oneshot.py keeps them equal).
SETTINGS_ENV_VARS = (
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "SLACK_CANVAS_ID",
    "SLACK_CHANNEL_ID",
    "EPMPULSE_CONFIG",
    "EPMPULSE_DATA_DIR",
    "EPMPULSE_API_KEYS",
    "EPMPULSE_EDITORS",
    "EPMPULSE_HTTP_HOST",
    "EPMPULSE_HTTP_PORT",
    "PORT",
    "EPMPULSE_RATE_LIMITS",
    "EPMPULSE_RATE_LIMIT_STORAGE",
    "EPMPULSE_CANVAS_DEBOUNCE_SECONDS",
    "EPMPULSE_POLL_INTERVAL_SECONDS",
    "EPMPULSE_DATABASE_URL",
    "EPMPULSE_LEADER_TIMEOUT_SECONDS",
    "EPMPULSE_LOG_LEVEL",
    "EPMPULSE_LOG_FORMAT",
    "https_proxy",
    "HTTPS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
    "no_proxy",
    "NO_PROXY",
)


class OneShotConfig(NamedTuple):
    """The layout and the settings a one-shot command uses, already validated."""

    layout: Layout
    data_dir: Path
    database_url: str | None  # a secret: not in the repr
    log_level: str | None  # EPMPULSE_LOG_LEVEL when it is set (one-shot default: WARNING)
    log_format: str
    secrets: tuple[str, ...]  # values to mask in log lines; not in the repr

    def __repr__(self) -> str:
        return (
            f"OneShotConfig(layout={self.layout!r}, data_dir={self.data_dir!r}, "
            f"database={self.database_url is not None}, log_level={self.log_level!r}, "
            f"log_format={self.log_format!r})"
        )

    @classmethod
    def of(cls, config: Config) -> OneShotConfig:
        """The one-shot part of a fully validated configuration."""
        settings = config.settings
        url = settings.database_url
        return cls(
            layout=config.estate.layout,
            data_dir=settings.data_dir,
            database_url=None if url is None else url.get_secret_value(),
            log_level=settings.log_level if "log_level" in settings.model_fields_set else None,
            log_format=settings.log_format,
            secrets=tuple(config.secret_values()),
        )


def load(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> OneShotConfig:
    """The one-shot configuration: kept from an earlier run with the same inputs, else
    fully validated now (raising ConfigError listing every problem) and kept."""
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    inputs = _Inputs.read(env, cwd)
    cache = inputs.data_dir / CACHE_FILE
    kept = _read(cache, inputs, env)
    if kept is not None:
        return kept
    from bot.config import load_config  # pydantic and the YAML parser load only here

    variables: set[str] = set()
    validated = OneShotConfig.of(load_config(env, cwd=cwd, variables=variables))
    config = validated._replace(layout=with_known_holidays(validated.layout, inputs.year))
    again = _Inputs.read(env, cwd)
    edited = (again.config_path, again.config_bytes) != (inputs.config_path, inputs.config_bytes)
    if not edited and _keeps_cache(env):  # a file saved during validation is read next time
        _write(cache, inputs, config, sorted(variables))
    return config


def with_known_holidays(layout: Layout, year: int) -> Layout:
    """``layout`` with its close calendar's public holidays of ``year`` and either side."""
    close = layout.close
    if close is None or close.country is None:
        return layout
    from bot.close.calendar import public_holidays

    known = {
        y: tuple(sorted(public_holidays(close.country, close.subdivision, y)))
        for y in (year - 1, year, year + 1)
    }
    return layout._replace(close=close._replace(known_holidays=known))


class _Inputs(NamedTuple):
    """Everything validation reads: the settings' variables and the YAML file."""

    env: Mapping[str, str]
    config_path: Path | None  # None: the built-in estate
    config_bytes: bytes
    data_dir: Path
    holidays_release: str | None  # when the file may name a holiday country
    year: int  # the known holidays are this year's and either side's

    @classmethod
    def read(cls, env: Mapping[str, str], cwd: Path) -> _Inputs:
        path = estate_file(env, cwd)
        data = b""
        if path is not None:
            try:
                data = path.read_bytes()
            except OSError:
                data = b"\0unreadable"  # validation reports it; never matches a kept digest
        return cls(
            env=env,
            config_path=None if path is None else path.absolute(),
            config_bytes=data,
            data_dir=Path(_text(env, "EPMPULSE_DATA_DIR") or DEFAULT_DATA_DIR),
            holidays_release=_holidays_release() if b"country" in data else None,
            year=utcnow().year,
        )

    def digest(self, salt: bytes, variables: list[str], code: list[str] | None = None) -> str:
        """What was validated, keyed with ``salt``: ``variables`` are those the YAML file
        names (as validation found them), ``code`` the source files that validated."""
        names = set(SETTINGS_ENV_VARS) | set(variables)
        # A ${VAR} is also looked for in the raw file, in case it was edited since.
        names.update(ENV_REFERENCE.findall(self.config_bytes.decode("utf-8", "replace")))
        described = json.dumps(
            {
                "format": CACHE_FORMAT,
                "version": __version__,
                "code": [_file_stamp(path) for path in code or []],
                "env": {name: self.env.get(name) for name in sorted(names)},
                "config": None if self.config_path is None else str(self.config_path),
                "holidays": [self.holidays_release, self.year] if self.holidays_release else None,
            },
            sort_keys=True,
        )
        keyed = blake2b(described.encode(), key=salt, digest_size=32)
        keyed.update(b"\0" + self.config_bytes)
        return keyed.hexdigest()


def estate_file(env: Mapping[str, str], cwd: Path) -> Path | None:
    """The YAML file to read: ``EPMPULSE_CONFIG``, else ``./epmpulse.yml`` when it exists
    (None: the built-in estate)."""
    given = _text(env, "EPMPULSE_CONFIG")
    if given:
        return Path(given)
    default = cwd / DEFAULT_CONFIG_FILE
    return default if default.exists() else None


def _keeps_cache(env: Mapping[str, str]) -> bool:
    """The JSON store's data directory is ours to write; with a database store, only a
    data directory named by EPMPULSE_DATA_DIR is (not whatever ``./data`` is there)."""
    return _text(env, "EPMPULSE_DATABASE_URL") is None or bool(_text(env, "EPMPULSE_DATA_DIR"))


def _holidays_release() -> str | None:
    """Which ``holidays`` package is installed (where, and its files' size and time), found
    without importing it: an upgrade rewrites the files, and the known holidays are
    worked out again."""
    from importlib.util import find_spec

    spec = find_spec("holidays")
    if spec is None or spec.origin is None:
        return None
    return _file_stamp(spec.origin)


def _file_stamp(path: str) -> str:
    """A file's path, size and modification time ("missing" when it is gone)."""
    try:
        found = os.stat(path)
    except OSError:
        return f"{path}:missing"
    return f"{path}:{found.st_size}:{found.st_mtime_ns}"


def _validating_code() -> list[str]:
    """The source files of EPMPulse's modules loaded so far (after a validation: those that
    validated); a new release, or an edit, makes the kept validation stale."""
    return sorted(
        str(module.__file__)
        for name, module in sys.modules.items()
        if (name == "bot" or name.startswith("bot.")) and getattr(module, "__file__", None)
    )


def database_secrets(url: str | None) -> list[str]:
    """The password inside a database URL, and the URL itself, to mask in logs."""
    if url is None:
        return []
    _, _, netloc = url.partition("://")
    userinfo, at, _ = netloc.partition("@")
    password = userinfo.partition(":")[2] if at else ""
    return [url, password] if password else []


def _read(cache: Path, inputs: _Inputs, env: Mapping[str, str]) -> OneShotConfig | None:
    try:
        kept = json.loads(cache.read_bytes())
        salt = bytes.fromhex(kept["salt"])
        if inputs.digest(salt, kept["variables"], kept["code"]) != kept["digest"]:
            return None
        layout = Layout.from_json(kept["layout"])
        settings = kept["settings"]
        secret_variables = [env.get(name, "") for name in kept["secret_variables"]]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        logger.debug("%s not used: %s", cache, exc)
        return None
    url = _text(env, "EPMPULSE_DATABASE_URL")
    secrets = _env_secrets(env) + database_secrets(url) + [v for v in secret_variables if v]
    return OneShotConfig(
        layout=layout,
        data_dir=inputs.data_dir,
        database_url=url,
        log_level=settings["log_level"],
        log_format=settings["log_format"],
        secrets=tuple(secrets),
    )


def _write(cache: Path, inputs: _Inputs, config: OneShotConfig, variables: list[str]) -> None:
    """Keep ``config`` with the digest of ``inputs``; quietly not when it cannot."""
    if not cache.parent.is_dir():
        return
    import tempfile  # only when something is kept

    salt = os.urandom(16)
    code = _validating_code()
    document = {
        "format": CACHE_FORMAT,
        "salt": salt.hex(),
        "digest": inputs.digest(salt, variables, code),
        "variables": variables,
        "code": code,
        # Names (never values) of the variables that hold a secret, to mask them.
        "secret_variables": [
            name for name in variables if _holds_secret(inputs.env.get(name), config.secrets)
        ],
        "settings": {"log_level": config.log_level, "log_format": config.log_format},
        "layout": config.layout.to_json(),
    }
    try:
        fd, temporary = tempfile.mkstemp(prefix=f"{CACHE_FILE}.", dir=cache.parent)
    except OSError as exc:
        logger.debug("cannot keep the validated configuration in %s: %s", cache, exc)
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp: mode 0600
            json.dump(document, handle)
        os.replace(temporary, cache)  # readers see the old file or the new one, whole
    except OSError as exc:
        logger.debug("cannot keep the validated configuration in %s: %s", cache, exc)
        Path(temporary).unlink(missing_ok=True)


def _holds_secret(value: str | None, secrets: tuple[str, ...]) -> bool:
    """Whether ``value`` is (part of) a secret, e.g. a password given as ${EPM_PASSWORD}."""
    return value is not None and value != "" and any(value in secret for secret in secrets)


def _env_secrets(env: Mapping[str, str]) -> list[str]:
    """The Slack tokens and REST API keys in the environment (what one-shot logs could hold)."""
    found = [_text(env, "SLACK_BOT_TOKEN"), _text(env, "SLACK_APP_TOKEN")]
    for pair in (_text(env, "EPMPULSE_API_KEYS") or "").split(","):
        found.append(pair.partition(":")[2].strip())
    return [value for value in found if value]


def _text(env: Mapping[str, str], name: str) -> str | None:
    """A variable's value, stripped; None when unset or blank (as the settings read it)."""
    value = env.get(name, "").strip()
    return value or None

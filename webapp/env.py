"""Typed readers for environment variables. Every bad value fails loudly, naming the variable.

Settings read the environment only through these helpers, so a typo in a deployment
(``DEBUG=ture``, ``DATABASE_URL=postgress://``) stops the process at start-up instead of
quietly falling back to a default.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class EnvError(ValueError):
    """An environment variable is set to a value we cannot use."""


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str | None:
    value = _raw(name)
    if value:
        return value
    if required:
        raise EnvError(f"{name} must be set")
    return default


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise EnvError(f"{name}={value!r} is not a boolean: use one of {sorted(_TRUE | _FALSE - {''})}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise EnvError(f"{name}={value!r} is not an integer") from None
    if minimum is not None and number < minimum:
        raise EnvError(f"{name}={number} is below the minimum {minimum}")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = _raw(name)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise EnvError(f"{name}={value!r} is not a number") from None
    if minimum is not None and number < minimum:
        raise EnvError(f"{name}={number} is below the minimum {minimum}")
    return number


def processes_value(name: str, value: str) -> int | str:
    """``value`` as a count of processes (1 or more) or ``auto``; ``name`` is what the error names."""
    if value.lower() == "auto":
        return "auto"
    try:
        number = int(value)
    except ValueError:
        raise EnvError(f"{name}={value!r} is neither a number of processes nor 'auto'") from None
    if number < 1:
        raise EnvError(f"{name}={number}: at least 1 process")
    return number


def env_processes(name: str, default: int) -> int | str:
    """A count of processes (1 or more) or ``auto``, left for the code that knows the hardware."""
    value = _raw(name)
    return processes_value(name, value) if value else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_url(name: str, default: str, *, schemes: set[str]) -> str:
    """A URL whose scheme must be one of ``schemes`` (e.g. {'sqlite', 'postgres'})."""
    value = _raw(name) or default
    scheme, sep, _ = value.partition("://")
    if not sep or scheme.lower() not in schemes:
        raise EnvError(f"{name}={value!r}: the scheme must be one of {sorted(schemes)}")
    return value


_HEADER = re.compile(r"^[A-Za-z0-9-]+$")


def env_proxy_ssl_header(name: str) -> tuple[str, str] | None:
    """Django's SECURE_PROXY_SSL_HEADER from ``X-Forwarded-Proto`` (the value ``https`` implied)
    or ``X-Forwarded-Proto=https``; unset or empty means no proxy is trusted to say so."""
    value = _raw(name)
    if not value:
        return None
    header, sep, expected = value.partition("=")
    header, expected = header.strip(), expected.strip() if sep else "https"
    if not _HEADER.match(header) or not expected:
        raise EnvError(f"{name}={value!r} is not a header name, optionally with '=VALUE' (e.g. X-Forwarded-Proto=https)")
    return "HTTP_" + header.upper().replace("-", "_"), expected


def env_path(name: str, default: Path) -> str:
    """A filesystem path or an fsspec URL (``s3://bucket/prefix``), returned as a string."""
    value = _raw(name)
    if not value:
        return str(default)
    if "://" in value:
        return value
    return str(Path(value).expanduser().resolve())


def secret_key(var_dir: Path, *, debug: bool) -> str:
    """SECRET_KEY from the environment; in DEBUG, generated once and kept under var/."""
    value = _raw("SECRET_KEY")
    if value:
        if len(value) < 32:
            raise EnvError("SECRET_KEY must be at least 32 characters long")
        return value
    if not debug:
        raise EnvError("SECRET_KEY must be set when DEBUG is off")
    key_file = var_dir / "secret_key"
    if key_file.is_file():
        return key_file.read_text().strip()
    import secrets

    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key

"""Where a CA key passphrase comes from: an environment variable or a file, never argv."""

from __future__ import annotations

import os
from pathlib import Path

from pki.durable import read_bytes
from pki.errors import InvalidArgument, PassphraseError, PKIError

__all__ = ["resolve_passphrase"]


def resolve_passphrase(*, env: str | None = None, file: Path | None = None) -> bytes | None:
    """Return the passphrase from `$env` or from the first line of `file`, or None.

    Giving both is an error; an unset variable, unreadable file or empty passphrase raises
    PassphraseError naming its source.
    """
    if env is not None and file is not None:
        raise InvalidArgument("give either --passphrase-env or --passphrase-file, not both")
    if env is not None:
        value = os.environb.get(env.encode())
        if value is None:
            raise PassphraseError(f"environment variable {env} (--passphrase-env) is not set")
        source = f"environment variable {env}"
    elif file is not None:
        try:
            raw = read_bytes(file, "passphrase file")
        except PKIError as exc:
            raise PassphraseError(str(exc)) from exc
        value = raw.splitlines()[0] if raw else b""
        source = f"passphrase file {file}"
    else:
        return None
    if not value:
        raise PassphraseError(f"{source} holds an empty passphrase")
    return value

"""The errors pfx raises, and the one line each becomes for the user.

    PfxError                 every error pfx means to show as one line
    ├── UsageError           bad arguments, unknown profile, unreadable input file
    ├── BundleError          not a bundle, truncated, tampered, newer format, unknown kind
    ├── GraphError           a dependency cycle or a reference to a record that is not there
    ├── SecretsError         wrong passphrase, tampered ciphertext, unusable secrets file
    ├── ApiError             the Prefect API failed: unreachable, refused credentials, odd answer
    │   ├── Unreachable      no connection to the server, even after retries: the run stops
    │   └── WriteUnknown     a write was sent but its answer was lost: read back, never resend
    ├── ConflictError        --on-conflict fail found records that differ on the destination
    ├── RepositoryError      a backup repository cannot be used: unreachable, credentials refused
    └── ImportStopped        (importing.py) an import ended early; carries its partial report

Per-record results of an import are not errors: they are Outcomes in a Report (report.py).
A server or repository that cannot be used exits 69 (sysexits' EX_UNAVAILABLE) whatever the
command, so that no outage reads as a command's own answer (`diff`'s 1: they differ).
"""

from __future__ import annotations

# sysexits.h: "a service is unavailable", beside its 70 (EX_SOFTWARE) that pfx uses for bugs.
EX_UNAVAILABLE = 69


class PfxError(Exception):
    """An error with a message fit to print as one line; exit code 2 unless a subclass says."""

    exit_code = 2


class UsageError(PfxError):
    """The command cannot run as asked: an unknown profile, an unwritable path, bad options."""


class BundleError(PfxError):
    """The file is not a bundle pfx can trust: unreadable, truncated, tampered, or too new."""


class GraphError(PfxError):
    """The records' references do not form an acyclic graph over records that exist."""


class SecretsError(PfxError):
    """Secret values cannot be produced: wrong passphrase, tampered ciphertext, bad file."""


class ApiError(PfxError):
    """The Prefect API could not be used: unreachable, credentials refused, unexpected answer."""

    exit_code = EX_UNAVAILABLE

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def fatal(self) -> bool:
        """Whether no request of this run can succeed: the server did not answer (no status),
        or it refused the credentials (401, 403). Any other answer concerns one request."""
        return self.status is None or self.status in (401, 403)

    @property
    def absent(self) -> bool:
        """Whether the server does not have the endpoint asked for (404, 405): an older
        release, or a kind it does not offer."""
        return self.status in (404, 405)


class ConflictError(PfxError):
    """`--on-conflict fail` found records that already exist with different content."""

    exit_code = 4


class Unreachable(ApiError):
    """The server cannot be reached (refused, reset, silent) even after retries.

    An import stops at the first one: every other record would fail the same way.
    """


class WriteUnknown(ApiError):
    """A write was sent, but its answer was lost (timeout, dropped connection, gateway error).

    The server may or may not have applied it: the caller reads back by natural key and
    continues from what the server holds; the write is never blindly repeated.
    """


class RepositoryError(PfxError):
    """A backup repository cannot be used: unreachable, credentials refused, a failed write."""

    exit_code = EX_UNAVAILABLE


def plain(error: BaseException) -> str:
    """What a low-level error (a missing key, a wrong type in a server's answer) says, in
    words: never a Python repr such as `KeyError('name')`."""
    if isinstance(error, KeyError) and len(error.args) == 1:
        # str() of a KeyError is the repr of its key: say which field is missing instead.
        return f"missing {error.args[0]}"
    return str(error) or type(error).__name__

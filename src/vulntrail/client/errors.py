"""The client's exit codes and errors, in one place.

Each error carries the exit code the CLI ends with, so a pipeline can tell a
refused credential from a broken report from an unreachable server.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    GATE_FAILED = 1
    USAGE = 2
    BAD_CREDENTIALS = 3
    BAD_REPORT = 4
    UNREACHABLE = 5
    INTERNAL = 70  # a bug in the client: never one of the documented outcomes above


EXIT_CODE_HELP = (
    "0 imported (and the gate passed); 1 the --fail-on gate failed; "
    "2 usage or configuration error; 3 bad credentials (401/403, Vault login refused); "
    "4 bad report (400/413 from the server, or the file is unreadable); "
    "5 server or Vault unreachable or unavailable after retries; 70 internal error."
)


class ClientError(Exception):
    """An expected failure; `message` is safe to print once secrets are masked."""

    exit_code = ExitCode.USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(ClientError):
    exit_code = ExitCode.USAGE


class CredentialsError(ClientError):
    exit_code = ExitCode.BAD_CREDENTIALS


class ReportError(ClientError):
    exit_code = ExitCode.BAD_REPORT


class UnreachableError(ClientError):
    exit_code = ExitCode.UNREACHABLE

"""Keeps secrets out of everything the client prints.

Every token and JWT the client handles is registered here the moment it is read;
all text bound for the terminal, job summaries or JUnit files passes through
:meth:`Masker.mask`. Masking by value (not by pattern) also catches a secret that
a server or library echoes back inside an error message.
"""

from __future__ import annotations

MASK = "****"
# Shorter values would mask ordinary words; no real token or JWT is this short.
_MIN_SECRET_LENGTH = 6


class Masker:
    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def register(self, secret: str) -> str:
        """Remember `secret` (and its trimmed form); return it unchanged for chaining."""
        for value in (secret, secret.strip()):
            if len(value) >= _MIN_SECRET_LENGTH:
                self._secrets.add(value)
        return secret

    def mask(self, text: str) -> str:
        # Longest first, so a secret that contains another is masked whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

"""Find secrets written as plain text in config: by the key's name and by the value's shape.

Stack files and service specs are committed; a password typed into one is leaked the moment it
is pushed, and Pulumi stores it unencrypted in the state. Values set with
`pulumi config set --secret` arrive as `secure:` ciphertext and are never looked at here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from components.config.yaml_source import Path_

# Words that make a key name a secret, compared without case, '-', '_' or '.'.
_SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "clientsecret",
    "connectionstring",
    "credential",
    "cookie",
    "sastoken",
    "signingkey",
    "encryptionkey",
)
# ...unless the key only names or points at a secret held elsewhere (`tlsSecretName`).
_REFERENCE_SUFFIXES = ("name", "names", "ref", "id", "path", "file", "enabled", "length", "ttl")
_VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("an AWS access key", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("a JSON Web Token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")),
    ("an Entra ID client secret", re.compile(r"[A-Za-z0-9_.~-]{3}8Q~[A-Za-z0-9_.~-]{31,34}")),
    (
        "an Azure account or shared access key",
        re.compile(r"(AccountKey|SharedAccessKey|SharedAccessSignature)=", re.IGNORECASE),
    ),
    ("a SAS signature", re.compile(r"[?&]sig=[A-Za-z0-9%+/=]{16,}")),
    ("a password in a connection string", re.compile(r"\b(password|pwd)=[^;\s]+", re.IGNORECASE)),
    ("credentials in a URL", re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")),
)


def secret_key_name(key: str) -> bool:
    normalized = re.sub(r"[-_.]", "", key).lower()
    if normalized.endswith(_REFERENCE_SUFFIXES):
        return False
    return any(word in normalized for word in _SECRET_WORDS)


def secret_shape(value: str) -> str | None:
    """What kind of secret `value` looks like, if any."""
    for kind, pattern in _VALUE_PATTERNS:
        if pattern.search(value):
            return kind
    return None


def find_plain_secret(
    value: Any, path: Path_, is_secret: Callable[[Path_], bool]
) -> tuple[Path_, str] | None:
    """The first plain value under `value` that looks like a secret, with the reason."""
    for leaf_path, leaf in _leaves(value, path):
        if is_secret(leaf_path) or leaf is None or isinstance(leaf, bool) or leaf == "":
            continue
        key = next((part for part in reversed(leaf_path) if isinstance(part, str)), "")
        if isinstance(leaf_path[-1], str) and secret_key_name(key):
            return leaf_path, f"key '{key}' names a secret"
        kind = secret_shape(str(leaf))
        if kind is not None:
            return leaf_path, f"the value looks like {kind}"
    return None


def _leaves(value: Any, path: Path_) -> Iterator[tuple[Path_, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value

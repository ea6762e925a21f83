"""Plaintext secrets: literals that look like credentials where anyone with read access sees them.

A value is secret-looking by its key's last words (DB_PASSWORD, apiKey, erlangCookie: not
tlsSecretName or TOKEN_URL) or by its shape: credentials inside a URL, well-known token formats,
private keys, or a long high-entropy string. Digests, UUIDs, hex hashes and plain URLs are not
secrets, so image references and config checksums pass.

Secret *objects* are meant to hold secrets; there the question is whether the value came from a
Pulumi secret (a generated password, `config.require_secret`) or is a literal typed into the
program. The engine's policy API unwraps secrets before a policy sees them, so the evidence is the
property dependency: a literal has none. A value from the stack's secret config has none either,
so such a Secret is declared in the stack's policy config (`stackSecrets`: namespace, name and the
exact keys), where a reviewer sees it and policy.json echoes it; nothing else is let through.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.proxy import UnknownValueError

from .builder import Finding, Severity, as_list, as_mapping, config_value, schema, stack_policy
from .kinds import manifests, matching_policy
from .pods import pod_sites

_TAGS = ("security", "secrets")
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "credential",
        "credentials",
        "cookie",
        "apikey",
        "dsn",
        "pat",
    }
)
# "key" alone is too common (partition key, cache key); these qualifiers make it a credential.
_KEY_QUALIFIERS = frozenset(
    {"api", "access", "private", "secret", "account", "shared", "signing", "encryption", "master"}
)
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_URL_CREDENTIALS = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@", re.IGNORECASE)
_TOKEN_FORMATS = (
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("an AWS access key", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{30,})")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("a JSON web token", re.compile(r"\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}")),
    (
        "an Azure key or SAS",
        re.compile(r"(AccountKey|SharedAccessKey|SharedAccessSignature)=|[?&]sig=[\w%+/=]{20,}"),
    ),
    ("a connection-string password", re.compile(r"(?i)\b(password|pwd)=[^;\s]+")),
    # Registry credentials (.dockerconfigjson) and JSON documents carrying a credential field.
    (
        "a credential inside JSON",
        re.compile(r'(?i)"(auth|password|token|secret|client_secret)"\s*:\s*"[^"]+"'),
    ),
)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_HEX = re.compile(r"^(sha(256|384|512):)?[0-9a-f]+$", re.I)
_MIN_ENTROPY_LENGTH = 20
_ENTROPY_BITS = 4.2


def key_words(key: str) -> list[str]:
    """`DB_PASSWORD` -> [db, password]; `apiKey` -> [api, key]; `tls.secretName` -> [..., name]."""
    return [w.lower() for w in _WORD.findall(key)]


def key_is_secret(key: str) -> bool:
    words = key_words(key)
    if not words:
        return False
    last = words[-1]
    if last in _SECRET_WORDS:
        return True
    return last == "key" and len(words) > 1 and words[-2] in _KEY_QUALIFIERS


def entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _looks_random(value: str) -> bool:
    if len(value) < _MIN_ENTROPY_LENGTH or any(c.isspace() for c in value):
        return False
    if "://" in value or "sha256:" in value or _UUID.match(value) or _HEX.match(value):
        return False
    classes = sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
        )
    )
    return classes >= 3 and entropy(value) >= _ENTROPY_BITS


def _is_harmless(value: str) -> bool:
    """A value under a secret-sounding key that cannot itself be a secret."""
    text = value.strip()
    if not text or text.lower() in ("true", "false", "none", "null") or text.isdigit():
        return True
    if re.match(r"^[a-z][a-z0-9+.-]*://", text, re.I) and not _URL_CREDENTIALS.match(text):
        return True
    return text.startswith("/")  # a file path (mounted secret), not the secret


def secret_reason(key: str, value: Any) -> str | None:
    """Why `key: value` looks like a plaintext secret, or None."""
    if not isinstance(value, str):
        return None
    if _URL_CREDENTIALS.match(value.strip()):
        return "a URL with an embedded password"
    for what, pattern in _TOKEN_FORMATS:
        if pattern.search(value):
            return f"{what}"
    if key_is_secret(key) and not _is_harmless(value):
        return f"a literal under the secret-looking key '{key}'"
    if _looks_random(value):
        return f"a high-entropy literal ({len(value)} characters)"
    return None


def _show(key: str, reason: str) -> str:
    return f"'{key}' holds {reason}"


def _known_items(node: Any) -> Iterator[tuple[str, Any]]:
    """(key, value) pairs whose value is known: an unknown one is computed, not a literal."""
    mapping = as_mapping(node)
    for key in list(mapping):
        try:
            yield str(key), mapping[key]
        except UnknownValueError:
            continue


def _env_values(resource_type: str, props: Any) -> Iterator[tuple[str, str, Any]]:
    """(where, variable name, value) of every env entry of every container of every pod."""
    for site in pod_sites(resource_type, props):
        for container in site.containers():
            for index, item in enumerate(as_list(container.spec.get("env"))):
                variable = dict(_known_items(item))
                where = f"{site.path} {container.label} env[{index}]"
                yield where, str(variable.get("name", "?")), variable.get("value")


# `--db-password=x`, `--token x`: a command-line flag whose name is secret-looking.
_SECRET_FLAG = re.compile(r"^--?(?P<name>[A-Za-z][\w.-]*)(=(?P<value>.+))?$")


def _known_elements(sequence: Any) -> list[Any]:
    """Elements in order, None for an unknown one (computed at deploy, so not a literal)."""
    found: list[Any] = []
    for index in range(len(sequence)):
        try:
            found.append(sequence[index])
        except UnknownValueError:
            found.append(None)
    return found


def _argument_secrets(arguments: Any) -> Iterator[tuple[int, str]]:
    """(index, reason) for container command/args entries that carry a secret literal."""
    items = _known_elements(as_list(arguments))
    for index, item in enumerate(items):
        if not isinstance(item, str):
            continue
        flag = _SECRET_FLAG.match(item)
        if flag and key_is_secret(flag.group("name")):
            value = flag.group("value")
            if value is None and index + 1 < len(items) and isinstance(items[index + 1], str):
                value = items[index + 1]
            if value is not None and not _is_harmless(value):
                yield index, f"flag {flag.group('name')!r} with a literal value"
                continue
        reason = secret_reason("arg", item)
        if reason:
            yield index, reason


def _argument_findings(resource_type: str, props: Any) -> Iterator[str]:
    for site in pod_sites(resource_type, props):
        for container in site.containers():
            for key in ("command", "args"):
                for index, reason in _argument_secrets(container.spec.get(key)):
                    yield (
                        f"{site.path} {container.label} {key}[{index}] holds {reason}; read it "
                        "from a mounted Secret"
                    )


def check_kubernetes_literals(args: ResourceValidationArgs) -> Iterator[str]:
    for manifest in manifests(args.resource_type, args.props):
        if manifest.is_kind("ConfigMap", ("",)):
            for key, value in _known_items(manifest.body.get("data")):
                reason = secret_reason(key, value)
                if reason:
                    yield f"{manifest.label}: data {_show(key, reason)}"
    yield from _argument_findings(args.resource_type, args.props)
    for where, name, value in _env_values(args.resource_type, args.props):
        reason = secret_reason(name, value)
        if reason:
            yield f"{where} {_show(name, reason)}; use valueFrom.secretKeyRef"


def check_azure_tags(args: ResourceValidationArgs) -> Iterator[str]:
    if not args.resource_type.startswith("azure-native:"):
        return
    for key, value in _known_items(args.props.get("tags")):
        reason = secret_reason(key, value) or secret_reason("tag", key)
        if reason:
            yield f"tag {_show(str(key), reason)}"


def check_plaintext_literals(args: ResourceValidationArgs) -> Iterator[str]:
    yield from check_kubernetes_literals(args)
    yield from check_azure_tags(args)


def _decoded(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return value


STACK_SECRETS_SCHEMA = schema(
    stackSecrets={
        "type": "array",
        "default": [],
        "description": (
            "Secrets whose values come from the stack's secret config (`pulumi config set "
            "--secret`): the engine unwraps secrets before a policy sees them and config has no "
            "property dependency, so each such Secret and its exact keys are declared here."
        ),
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["namespace", "name", "keys"],
            "properties": {
                "namespace": {"type": "string", "minLength": 1},
                "name": {"type": "string", "minLength": 1},
                "keys": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {"type": "string", "minLength": 1},
                },
            },
        },
    },
)


def _declared_stack_secrets(args: StackValidationArgs) -> set[tuple[str, str, str]]:
    declared = set()
    for item in as_list(config_value(args, STACK_SECRETS_SCHEMA, "stackSecrets")):
        entry = as_mapping(item)
        namespace, name = entry.get("namespace"), entry.get("name")
        for key in as_list(entry.get("keys")):
            declared.add((str(namespace), str(name), str(key)))
    return declared


def check_secret_literals(args: StackValidationArgs) -> Iterator[Finding]:
    declared = _declared_stack_secrets(args)
    for resource in args.resources:
        for manifest in manifests(resource.resource_type, resource.props):
            if not manifest.is_kind("Secret", ("",)):
                continue
            for field, decode in (("stringData", False), ("data", True)):
                if resource.property_dependencies.get(field):
                    continue  # computed from another resource: a generated or fetched secret
                for key, raw in _known_items(manifest.body.get(field)):
                    if (manifest.namespace, manifest.name, str(key)) in declared:
                        continue  # declared as fed from the stack's secret config
                    value = _decoded(raw) if decode else raw
                    reason = secret_reason(str(key), value)
                    if reason:
                        yield Finding(
                            resource.urn,
                            f"{manifest.label}: {field} {_show(str(key), reason)} typed into the "
                            "program (if it comes from the stack's secret config, declare it in "
                            "the stack's policy config: stackSecrets)",
                        )


POLICIES: tuple[Policy, ...] = (
    matching_policy(
        name="no-plaintext-secrets",
        description=(
            "No secret-looking literal in ConfigMap data, container env values or Azure tags."
        ),
        applies=lambda t: t.startswith(("kubernetes:", "azure-native:")),
        check=check_plaintext_literals,
        severity=Severity.HIGH,
        remediation=(
            "Keep the value in a Kubernetes Secret fed from a Pulumi secret and reference it with "
            "valueFrom.secretKeyRef (or a mounted file); never in tags."
        ),
        tags=_TAGS,
    ),
    stack_policy(
        name="k8s-secret-values-not-literal",
        description="Secret stringData and data come from Pulumi secrets, not literals in code.",
        check=check_secret_literals,
        severity=Severity.HIGH,
        remediation=(
            "Generate the value (pulumi_random), or keep it in the stack's secret config and "
            "declare the Secret's keys under stackSecrets in policy/config/<stack>.json."
        ),
        tags=_TAGS,
        config_schema=STACK_SECRETS_SCHEMA,
    ),
)

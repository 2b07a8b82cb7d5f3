"""Secret rules: no secret material in git unless SOPS-encrypted; External Secrets on the current API."""

from __future__ import annotations

import re
from collections.abc import Iterator

from greenfield.core.findings import Finding, Severity
from greenfield.core.model import ClusterRender, RenderedObject
from greenfield.core.rules._helpers import (
    as_dict,
    finding,
    group_of,
    helm_releases,
    is_encrypted,
    is_unresolved,
    object_text,
    release_finding,
    walk_items,
    walk_strings,
)
from greenfield.core.rules.base import RuleContext, rule
from greenfield.core.secret_shapes import VENDOR_TOKENS

E, W = Severity.ERROR, Severity.WARNING

TOKEN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a PEM private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    *VENDOR_TOKENS,
    ("a Cloudflare/API bearer token", re.compile(r"(?i:authorization:\s*bearer\s+)[A-Za-z0-9._~+/-]{20,}")),
)

# keys (lower-cased, without - and _) whose literal string value is a credential
CREDENTIAL_KEYS = ("password", "passwd", "passphrase", "token", "apikey", "accesskey", "secretkey",
                   "clientsecret", "secretaccesskey", "privatekey", "adminpassword", "bearertoken")
# values that are references or placeholders, not credentials
REFERENCE = re.compile(r"^(?:\$\{.*\}|\$\(.*\)|\{\{.*\}\}|[A-Z][A-Z0-9_]*|/.*|env:.*|file:.*|secret:.*|"
                       r"op://.*|vault:.*|__(?:file|env)\{.*\}|ref\+.*|<.*>|true|false|null|none|)$", re.S)

ANY_TOKEN = re.compile("|".join(f"(?:{pattern.pattern})" for _, pattern in TOKEN_PATTERNS))
PREFILTER = ("PRIVATE KEY-----", "AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-",
             "xox", "earer", "EARER")  # plain substrings: much cheaper than a regex over every object

EXTERNAL_SECRETS_KINDS = ("ExternalSecret", "ClusterExternalSecret", "SecretStore", "ClusterSecretStore")


def is_sops_encrypted(obj: RenderedObject) -> bool:
    if is_encrypted(obj):
        return True
    body = obj.body
    values = [v for _, v in walk_strings({k: body.get(k) for k in ("data", "stringData")})]
    return bool(values) and all(v.startswith("ENC[") for v in values)


@rule("secrets/plaintext", E, "a Secret with data/stringData is committed unencrypted")
def plaintext(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for obj in render.objects:
        if obj.kind != "Secret" or group_of(obj) != "":
            continue
        keys = sorted({*as_dict(obj.body.get("data")), *as_dict(obj.body.get("stringData"))})
        if not keys or is_sops_encrypted(obj) or obj.install_generated:
            # install_generated: helm makes it in the cluster (genCA, genSignedCert, ...); it is not in git
            continue
        yield finding("secrets/plaintext", context.severity(W), obj,
                      f"Secret {obj.namespace}/{obj.name} carries plaintext data ({', '.join(map(str, keys[:5]))})",
                      "deliver it with an ExternalSecret from the ClusterSecretStore, or encrypt the file with SOPS")


REFERENCE_KEY_PARTS = ("existing", "secretname", "secretref", "keyref", "fromsecret", "file", "path")


def _credential_key(key: str) -> bool:
    """A key whose value is the credential itself (not the name of a Secret or key holding it)."""
    folded = re.sub(r"[-_.]", "", key).lower()
    return folded.endswith(CREDENTIAL_KEYS) and not any(part in folded for part in REFERENCE_KEY_PARTS)


@rule("secrets/inlined", E, "tokens, passwords or private keys inlined in a manifest or HelmRelease values")
def inlined(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for obj in render.objects:
        if obj.kind == "Secret" and group_of(obj) == "" and is_sops_encrypted(obj):
            continue
        yield from _token_findings(obj, context.severity(W))
    for release in helm_releases(render):
        for path, key, value, _ in walk_items(release.values, "values"):
            if not isinstance(value, str) or not _credential_key(key):
                continue
            literal = value.strip()
            if is_unresolved(literal) or REFERENCE.match(literal) or len(literal) < 4:
                continue
            yield release_finding("secrets/inlined", context.severity(W), render, release,
                                  f"{path} is a literal credential in HelmRelease {release.key}",
                                  "reference a Secret from an ExternalSecret instead (existingSecret / valuesFrom "
                                  "/ envFrom)")


def _token_findings(obj: RenderedObject, severity: Severity) -> Iterator[Finding]:
    if obj.kind == "CustomResourceDefinition":
        return  # an API schema (megabytes from charts) holds no credential
    flat = object_text(obj)
    if not any(marker in flat for marker in PREFILTER):
        return
    reported: set[str] = set()
    for path, value in walk_strings(obj.body):
        if len(value) < 16 or not ANY_TOKEN.search(value):
            continue
        for what, pattern in TOKEN_PATTERNS:
            if what in reported or not pattern.search(value):
                continue
            reported.add(what)
            yield finding("secrets/inlined", severity, obj, f"{path} contains {what}",
                          "remove it from git, rotate it, and deliver it with an ExternalSecret")


@rule("secrets/api-version", E, "External Secrets objects not on external-secrets.io/v1", house=True)
def api_version(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for obj in render.objects:
        if obj.kind in EXTERNAL_SECRETS_KINDS and group_of(obj) == "external-secrets.io" and \
                obj.api_version != "external-secrets.io/v1":
            yield finding("secrets/api-version", E, obj,
                          f"{obj.kind} {obj.name} uses {obj.api_version}, removed from current External Secrets",
                          "use apiVersion: external-secrets.io/v1")

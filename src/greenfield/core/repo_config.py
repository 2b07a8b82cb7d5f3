"""The repository config file (`.greenfield.yaml` at the validated repository's root): strict model, pure.

What a repository states once instead of on every command line: cluster entry folders, the Kubernetes
version, rule severities and house-rule opt-in, schema and chart locations, objects that exist only in the
cluster, and local copies of other repositories its Kustomizations read. Reading the file is the caller's
job (adapters/repo_config.py); paths stay as written (relative to the config file) until the caller
resolves them.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

CONFIG_FILE = ".greenfield.yaml"
CLUSTER_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
KUBERNETES_VERSION = re.compile(r"^v?\d+\.\d+(\.\d+)?$")
RULE_SEVERITIES = ("error", "warning", "info", "off")
RuleSeverity = Literal["error", "warning", "info", "off"]


class RepoConfig(BaseModel):
    """`.greenfield.yaml`; every field optional, unknown fields are an error (a typo must not be ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    clusters: dict[str, str] = Field(default_factory=dict)  # cluster name -> entry folder (repository-relative)
    kubernetes_version: str = ""
    house_rules: bool | None = None  # None: on only when platform.yaml exists at the root
    rules: dict[str, RuleSeverity] = Field(default_factory=dict)  # rule id or prefix ending in "/" -> severity
    strict_schemas: bool = False
    schemas: list[str] = Field(default_factory=list)  # folders (relative to the config file) or URL templates
    charts: list[str] = Field(default_factory=list)  # chart folders, relative to the config file
    in_cluster: list[str] = Field(default_factory=list)  # YAML files of objects that exist only in the cluster
    sources: dict[str, str] = Field(default_factory=dict)  # "<url>" or "<url>@<ref>" -> local folder

    @field_validator("clusters")
    @classmethod
    def _cluster_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, path in value.items():
            if not CLUSTER_NAME.match(name):
                raise ValueError(f"cluster name {name!r} must be letters, digits, '-', '_' or '.'")
            if not str(path).strip():
                raise ValueError(f"cluster {name!r} has an empty entry folder")
        return value

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value and not KUBERNETES_VERSION.match(value):
            raise ValueError(f"{value!r} is not a Kubernetes version (e.g. \"1.34\" or \"1.34.1\")")
        return value

    @field_validator("rules", mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `off` as false: the contract's `policy/psa-label: off` means "off"
        if isinstance(value, dict):
            return {key: "off" if item is False else item for key, item in value.items()}
        return value

    @field_validator("rules")
    @classmethod
    def _rule_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for rule_id in value:
            if not re.match(r"^[a-z0-9-]+(/[a-z0-9-]*)?$", rule_id):
                raise ValueError(f"{rule_id!r} is not a rule id (e.g. policy/psa-label) or prefix (e.g. story/)")
        return value

    @field_validator("sources")
    @classmethod
    def _source_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key, folder in value.items():
            url, _ = split_source(key)
            if not url:
                raise ValueError(f"source {key!r} has no URL")
            if not str(folder).strip():
                raise ValueError(f"source {key!r} has an empty folder")
        return value


def split_source(key: str) -> tuple[str, str]:
    """"<url>@<ref>" -> (url, ref); the ref is what follows the last "@" after the host part ("" if none).

    `ssh://git@github.com/org/repo` keeps its user: only an "@" after the last "/" separates a ref.
    """
    text = key.strip()
    head, slash, tail = text.rpartition("/")
    if "@" in tail:
        name, _, ref = tail.rpartition("@")
        return f"{head}{slash}{name}", ref
    return text, ""


def normalise_url(url: str) -> str:
    """A repository URL compared loosely: scheme, user, `.git` and trailing slashes do not matter."""
    text = url.strip().rstrip("/").removesuffix(".git").lower()
    text = re.sub(r"^[a-z+]+://", "", text)
    text = re.sub(r"^[^@/]+@", "", text)  # git@github.com:org/repo, ssh://git@...
    return text.replace(":", "/", 1) if re.match(r"^[^/]+:[^/0-9]", text) else text


def parse_repo_config(data: Any) -> tuple[RepoConfig | None, list[str]]:
    """The config and [], or None and one "field: problem" line per problem."""
    if data is None:
        return RepoConfig(), []
    if not isinstance(data, dict):
        return None, ["the file must be a mapping of settings (clusters:, rules:, ...)"]
    try:
        return RepoConfig.model_validate(data), []
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"]) or "(file)"
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                message = "unknown setting (known: " + ", ".join(RepoConfig.model_fields) + ")"
            problems.append(f"{where}: {message}")
        return None, problems


def rule_severity(overrides: dict[str, str], rule_id: str) -> str | None:
    """The configured severity of a rule: its exact id first, else the longest matching prefix ending in "/"."""
    if rule_id in overrides:
        return overrides[rule_id]
    prefixes = [key for key in overrides if key.endswith("/") and rule_id.startswith(key)]
    return overrides[max(prefixes, key=len)] if prefixes else None

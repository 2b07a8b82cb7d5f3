"""`greenfield validate --format sarif`: SARIF 2.1.0 for code scanning (GitHub, GitLab, Azure DevOps).

One result per finding, the rule's metadata in the driver, file/line locations relative to the repository
root (`%SRCROOT%`), severity -> level (error, warning, note). A finding without a file points at the file
of its Kustomization, else at the cluster's entry folder, because code scanning wants a location on every
result. A partial fingerprint (rule, cluster, object, message) keeps an alert stable when lines move.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenfield import __version__
from greenfield.core.findings import Finding, Severity

if TYPE_CHECKING:
    from greenfield.app.validate import ValidationReport

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"
LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _rule_metadata() -> dict[str, tuple[str, Severity | None]]:
    from greenfield.core.rules.base import all_rules
    from greenfield.core.schema_validation import RULE_INVALID, RULE_NOT_FOUND

    # the schema check is not a registered rule: its two ids are described here (severity varies by setting)
    known: dict[str, tuple[str, Severity | None]] = {
        RULE_INVALID: ("an object the API server would reject: it does not match its kind's schema", None),
        RULE_NOT_FOUND: ("no schema found for the object's kind (built-in, rendered CRDs, configured locations)",
                         None),
    }
    known.update({info.id: (info.summary, info.severity) for info in all_rules()})
    return known


def _fallback_file(report: ValidationReport, finding: Finding) -> str:
    render = report.renders.get(finding.cluster)
    if render is None:
        return ""
    for node in render.kustomizations.values():
        label = "" if node.synthetic else str(node.key)
        if label == finding.kustomization and node.file:
            return node.file
    return render.entry


def _fingerprint(finding: Finding) -> str:
    text = "\0".join((finding.rule, finding.cluster, finding.kustomization, finding.object, finding.message))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def sarif_log(report: ValidationReport) -> dict[str, Any]:
    known = _rule_metadata()
    used = sorted({finding.rule for finding in report.findings})
    rules: list[dict[str, Any]] = []
    for rule_id in used:
        summary, severity = known.get(rule_id, (f"greenfield rule {rule_id}", None))
        entry: dict[str, Any] = {"id": rule_id, "name": rule_id.replace("/", "-"),
                                 "shortDescription": {"text": summary},
                                 "properties": {"tags": [rule_id.split("/", 1)[0]]}}
        if severity is not None:
            entry["defaultConfiguration"] = {"level": LEVEL[severity]}
        rules.append(entry)
    index = {rule_id: position for position, rule_id in enumerate(used)}
    results: list[dict[str, Any]] = []
    for finding in report.findings:
        file = finding.file or _fallback_file(report, finding)
        text = f"{finding.cluster + ': ' if finding.cluster else ''}{finding.object + ': ' if finding.object else ''}"
        text += finding.message + (f" (hint: {finding.hint})" if finding.hint else "")
        result: dict[str, Any] = {"ruleId": finding.rule, "ruleIndex": index[finding.rule],
                                  "level": LEVEL[finding.severity], "message": {"text": text},
                                  "partialFingerprints": {"greenfieldFinding/v1": _fingerprint(finding)},
                                  "properties": {"cluster": finding.cluster, "kustomization": finding.kustomization,
                                                 "object": finding.object}}
        if file:
            physical: dict[str, Any] = {"artifactLocation": {"uri": Path(file).as_posix(), "uriBaseId": SRCROOT}}
            if finding.file and finding.line > 0:
                physical["region"] = {"startLine": finding.line}
            result["locations"] = [{"physicalLocation": physical}]
        results.append(result)
    root = report.repo.resolve().as_uri().rstrip("/") + "/"
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "greenfield", "version": __version__, "semanticVersion": __version__,
                                "rules": rules}},
            "originalUriBaseIds": {SRCROOT: {"uri": root}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }

"""Runtime evidence (stories 42-50): what the cluster commands recorded, and its verdict. See docs/evidence.md.

One JSON document per story and cluster, `.greenfield/evidence/<cluster>/<story-id>.json`. No evidence is
"not-run", never a pass.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

FORMAT = "greenfield.evidence/v1"


class CheckResult(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    PENDING = "pending"  # ran but the subject was not ready (yet)
    SKIPPED = "skipped"  # not run (e.g. --dry-run)
    NOT_APPLICABLE = "not-applicable"  # cannot exist on this target, with the reason in `detail`


class EvidenceCheck(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    result: CheckResult
    subject: str = ""
    detail: str = ""


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str
    story: str
    cluster: str
    target: str = Field(min_length=1)  # what was checked: API server URL, node addresses, ...
    time: dt.datetime
    tool: str = ""
    checks: list[EvidenceCheck]

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value != FORMAT:
            raise ValueError(f"expected {FORMAT!r}")
        return value

    @field_validator("time")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("time needs a timezone (RFC 3339, e.g. 2026-02-10T09:30:00Z)")
        return value


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCOMPLETE = "incomplete"
    NOT_RUN = "not-run"
    INVALID = "invalid"


@dataclass(frozen=True)
class EvidenceVerdict:
    verdict: Verdict
    reason: str
    evidence: Evidence | None = None

    @property
    def failing(self) -> list[EvidenceCheck]:
        return [c for c in self.evidence.checks if c.result is CheckResult.FAIL] if self.evidence else []


def parse_evidence(data: Any) -> tuple[Evidence | None, str]:
    """The evidence, or None and the problem (a bad file is reported on the board, never a crash)."""
    try:
        return Evidence.model_validate(data), ""
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        more = f" (+{len(error.errors()) - 1} more)" if len(error.errors()) > 1 else ""
        return None, f"{where}: {first['msg']}{more}"


def evaluate(evidence: Evidence | None, story: str, cluster: str, problem: str = "") -> EvidenceVerdict:
    if problem:
        return EvidenceVerdict(Verdict.INVALID, f"evidence file is invalid: {problem}")
    if evidence is None:
        return EvidenceVerdict(Verdict.NOT_RUN, "no evidence recorded")
    if evidence.story != story or evidence.cluster != cluster:
        return EvidenceVerdict(Verdict.INVALID, f"evidence is for {evidence.story} on {evidence.cluster}, "
                               f"expected {story} on {cluster}", evidence)
    counts = {result: sum(1 for c in evidence.checks if c.result is result) for result in CheckResult}
    when = evidence.time.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if counts[CheckResult.FAIL]:
        names = ", ".join(c.name for c in evidence.checks if c.result is CheckResult.FAIL)
        return EvidenceVerdict(Verdict.FAIL, f"{counts[CheckResult.FAIL]} check(s) failed on {evidence.target} "
                               f"at {when}: {names}", evidence)
    if not counts[CheckResult.PASS]:
        return EvidenceVerdict(Verdict.NOT_RUN, f"no check passed on {evidence.target} at {when}", evidence)
    open_checks = counts[CheckResult.PENDING] + counts[CheckResult.SKIPPED]
    if open_checks:
        return EvidenceVerdict(Verdict.INCOMPLETE, f"{open_checks} check(s) pending or skipped on "
                               f"{evidence.target} at {when}", evidence)
    return EvidenceVerdict(Verdict.PASS, f"{counts[CheckResult.PASS]} check(s) passed on {evidence.target} "
                           f"at {when}", evidence)


def evidence_document(story: str, cluster: str, target: str, checks: list[dict[str, str]],
                      time: dt.datetime, tool: str = "greenfield") -> dict[str, Any]:
    """A valid evidence document (what the cluster commands write); raises ValueError when it would not be."""
    data = {"format": FORMAT, "story": story, "cluster": cluster, "target": target,
            "time": time.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"), "tool": tool, "checks": checks}
    evidence, problem = parse_evidence(data)
    if evidence is None:
        raise ValueError(problem)
    return data

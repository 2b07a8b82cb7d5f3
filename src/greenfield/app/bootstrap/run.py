"""The bootstrap: the plan, the phases to run (or resume), the run and its evidence."""

from __future__ import annotations

import time
from collections.abc import Callable

from greenfield.app.bootstrap.crds import CrdPhase
from greenfield.app.bootstrap.nodes import NodePhases
from greenfield.app.bootstrap.options import DEFINITIONS, CreateReport, PhaseResult
from greenfield.app.bootstrap.reconcile import ReconcilePhase
from greenfield.app.bootstrap.sync import SyncPhase
from greenfield.app.plan import write_evidence
from greenfield.core.bootstrap import PHASE_STORY, PHASES, PhasePlan, PlanError, build_plan
from greenfield.errors import ClusterError, InputError


class Bootstrap(NodePhases, CrdPhase, SyncPhase, ReconcilePhase):
    """`greenfield cluster create` for one cluster, phase by phase."""

    def plan(self) -> list[PhasePlan]:
        try:
            return build_plan(self.inventory, self.cluster, self.render(), self.definitions, self.options.target,
                              self.crd_counts(), self.crd_source)
        except PlanError as error:
            raise InputError(str(error), path=DEFINITIONS, hint="bootstrap names GitOps objects of this cluster") from error

    def phases(self) -> list[str]:
        # greenfield's own reconcile stands in for Flux on a local target without controllers; with them Flux reconciles
        names = [p for p in PHASES if p != "reconcile" or (self.options.target == "local" and self.local_flux() is None)]
        if self.options.from_phase:
            if self.options.from_phase not in names:
                raise InputError(f"unknown phase {self.options.from_phase!r}", path="--from",
                                 hint="one of: " + ", ".join(names))
            start = names.index(self.options.from_phase)
            earlier = [p for p in names[:start] if p != "preflight"]
            missing = [p for p in earlier if p not in self.completed()]
            if missing:
                raise InputError(f"cannot resume at {self.options.from_phase}: {', '.join(missing)} never completed",
                                 path=str(self.state_file().relative_to(self.repo)),
                                 hint="run without --from; completed phases are detected and skipped")
            names = names[start:]
        return names

    def run(self) -> CreateReport:
        report = CreateReport(self.cluster, self.options.target, [])
        if self.options.dry_run:
            report.plan = self.plan()
            report.phases = [PhaseResult(p.name, p.story, "planned", f"{len(p.actions)} actions") for p in report.plan]
            return report
        handlers: dict[str, Callable[[], PhaseResult]] = {
            "preflight": self.phase_preflight, "talos": self.phase_talos, "api": self.phase_api,
            "crds": self.phase_crds, "core": self.phase_core, "sync": self.phase_sync}
        for name in self.phases():
            started = time.monotonic()
            self.progress(name, "start")
            try:
                if name == "reconcile":
                    result, report.rejected = self.phase_reconcile()
                else:
                    result = handlers[name]()
            except (InputError, ClusterError) as error:
                result = PhaseResult(name, PHASE_STORY[name], "failed", error.render())
            except Exception as error:  # a failure names the phase; the cause stays attached for --debug
                result = PhaseResult(name, PHASE_STORY[name], "failed", f"{type(error).__name__}: {error}")
            result.seconds = time.monotonic() - started
            report.phases.append(result)
            self.progress(name, result.status)
            if result.status == "failed":
                break
            self._record(name)
        self.write_evidence(report)
        return report

    def write_evidence(self, report: CreateReport) -> None:
        target = self.target_description()
        by_story: dict[str, list[dict[str, str]]] = {}
        for phase in report.phases:
            result = "fail" if phase.status == "failed" else "pass"
            by_story.setdefault(phase.story, []).append(
                {"name": f"phase {phase.name}", "result": result, "detail": f"{phase.status}: {phase.detail}"[:500]})
        if self.options.target == "local" and "STORY-BOOT-TALOS" in by_story:
            by_story["STORY-BOOT-TALOS"].append({"name": "Talos nodes configured and etcd bootstrapped",
                                                 "result": "skipped",
                                                 "detail": "the local control plane has no Talos nodes"})
        if any(phase.name == "reconcile" for phase in report.phases) and "STORY-BOOT-CORE" in by_story:
            # greenfield applied the desired state itself: the Flux handover is not proven on this target
            by_story["STORY-BOOT-CORE"].append({"name": "Flux took over from git", "result": "skipped",
                                                "detail": "no Flux controllers on this target (local up --with-flux)"})
        standins = self.standin_releases() if self.options.target == "local" else []
        if standins and "STORY-BOOT-CORE" in by_story:
            by_story["STORY-BOOT-CORE"].append({"name": "upstream charts installed", "result": "skipped",
                                                "detail": "stand-in charts on the local target for "
                                                          f"{', '.join(standins)} (not in a chart folder)"})
        for rejection in report.rejected[:50]:
            by_story.setdefault("STORY-BOOT-CORE", []).append(
                {"name": "server-side dry-run", "result": "fail", "detail": rejection[:500]})
        for story, checks in by_story.items():
            write_evidence(self.repo, story, self.cluster, target, checks)

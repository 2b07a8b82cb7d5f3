"""Phase sync: the flux-system GitRepository and Kustomization, pointed at the git server the cluster reaches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from greenfield.app.bootstrap.apply import clean, flux_labelled
from greenfield.app.bootstrap.options import PhaseResult
from greenfield.app.bootstrap.state import BootstrapState
from greenfield.app.local import default_control_plane, start_fleet, start_flux
from greenfield.core import goyaml
from greenfield.core.bootstrap import PHASE_STORY
from greenfield.core.model import RenderedObject
from greenfield.errors import InputError


def with_git_url(obj: dict[str, Any], url: str | None) -> dict[str, Any]:
    """The sync GitRepository pointed at another URL (a local git server needs no credentials: no secretRef)."""
    if not url or obj.get("kind") != "GitRepository" or not str(obj.get("apiVersion", "")).startswith("source."):
        return obj
    spec = {key: value for key, value in (obj.get("spec") or {}).items() if key != "secretRef"}
    return {**obj, "spec": {**spec, "url": url}}


def point_sync_at(objects: list[dict[str, Any]], url: str | None) -> list[dict[str, Any]]:
    """The sync objects with the GitRepository at `url`, and each Kustomization reconciling from it patching
    the same URL into what it applies: the root Kustomization re-applies flux-system/ from git, which would
    put git's URL back (its spec.patches is not in git, so Flux's own apply leaves the field to greenfield)."""
    if not url:
        return objects
    repositories = [o for o in objects if o.get("kind") == "GitRepository"
                    and str(o.get("apiVersion", "")).startswith("source.toolkit.fluxcd.io/")]
    result = []
    for obj in objects:
        obj = with_git_url(obj, url)
        spec = obj.get("spec") or {}
        source = spec.get("sourceRef") or {}
        if obj.get("kind") == "Kustomization" and source.get("kind") == "GitRepository":
            meta = obj.get("metadata") or {}
            for repository in repositories:
                rmeta = repository.get("metadata") or {}
                if rmeta.get("name") != source.get("name") or rmeta.get("namespace") != source.get(
                        "namespace", meta.get("namespace")):
                    continue
                patch: dict[str, Any] = {"apiVersion": repository["apiVersion"], "kind": "GitRepository",
                                         "metadata": {"name": rmeta.get("name"), "namespace": rmeta.get("namespace")},
                                         "spec": {"url": url}}
                if "secretRef" in (repository.get("spec") or {}):
                    patch["spec"]["secretRef"] = None
                patches = [*(spec.get("patches") or []),
                           {"target": {"kind": "GitRepository", "name": rmeta.get("name"),
                                       "namespace": rmeta.get("namespace")},
                            "patch": goyaml.dump(patch)}]
                obj = {**obj, "spec": {**spec, "patches": patches}}
        result.append(obj)
    return result


def _optional_path(wish: dict[str, object] | None, key: str) -> Path | None:
    value = (wish or {}).get(key)
    return Path(str(value)) if value else None


class SyncPhase(BootstrapState):
    """The sync objects applied (with local Flux controllers and the fleet when wished)."""

    def sync_objects(self) -> list[RenderedObject]:
        path = self.definitions.sync_path(self.cluster)
        return [obj for node in self.render().kustomizations.values() if node.parent is None
                for obj in node.objects if obj.file.startswith(path)]

    def _labelled(self, obj: RenderedObject) -> dict[str, Any]:
        """An object as its Flux Kustomization applies it (same labels whichever phase applies it)."""
        namespace, _, name = obj.kustomization.partition("/")
        return flux_labelled(clean(obj.body), namespace, name) if name else clean(obj.body)

    def phase_sync(self) -> PhaseResult:
        result = PhaseResult("sync", PHASE_STORY["sync"], "unchanged")
        objects = self.sync_objects()
        if not objects:
            raise InputError("no flux-system sync objects rendered", path=self.definitions.sync_path(self.cluster),
                             hint="the cluster entry needs flux-system/ with the GitRepository and Kustomization")
        git_url = self.options.git_url
        wish = self.local_flux()
        mirror: tuple[str, list[str]] | None = None
        if wish is not None:  # Flux controllers run on the local target: start them and the fleet (idempotent)
            plane = default_control_plane(self.repo)
            say = lambda _c, step: self.progress("sync", step)  # noqa: E731
            seeded = start_fleet(plane, self.inventory, self.cluster, wish, on_step=say)
            info = start_flux(self.repo, plane, self.cluster, _optional_path(wish, "charts"), on_step=say)
            git_url = git_url or info.git_url
            if seeded is not None:
                mirror = (seeded.address, seeded.charts)
        bodies = point_sync_at([self._labelled(o) for o in objects], git_url)
        if mirror is not None:
            bodies = self._with_mirror(bodies, *mirror)
        if self._apply_objects("sync", bodies):
            result.status, result.changes = "done", [str(o.id) for o in objects]
        result.detail = "Flux sync applied: " + ", ".join(str(o.id) for o in objects)
        if git_url:
            result.detail += f" (GitRepository url {git_url})"
        return result

    def _with_mirror(self, bodies: list[dict[str, Any]], registry: str, charts: list[str]) -> list[dict[str, Any]]:
        """The root Kustomization with `greenfield mirror`'s patches: the chart sources point at the registry."""
        from greenfield.app.mirror import DEFAULT_PATH
        from greenfield.core.mirror import plan_mirror, with_root_patches

        plan = plan_mirror(self.render(), f"{registry}/{DEFAULT_PATH}", charts)
        self.progress("sync", f"mirror: {len(plan.rewrites)} chart sources point at oci://{registry}/{DEFAULT_PATH}")
        return with_root_patches(bodies, plan)

"""`greenfield cluster create`: bare nodes (or the local control plane) to Flux reconciling from git.

Every phase is idempotent: it compares what the cluster has with what git wants and only acts on a
difference, so a second run reports "unchanged" phase by phase and a run killed anywhere converges
when re-run (or resumed with --from PHASE).

The phases have modules of their own (`nodes`: preflight, talos, api; `crds`; `releases`: core; `sync`;
`reconcile`) over the shared `state`; `run` puts them together, `options` holds what the command takes and
reports, `apply` how objects are applied as kustomize-controller applies them.
"""

from greenfield.app.bootstrap.apply import FLUX_NAME_LABEL, FLUX_NAMESPACE_LABEL
from greenfield.app.bootstrap.crds import crd_bundle_from_schemas
from greenfield.app.bootstrap.options import (
    DEFINITIONS,
    SPEC_HASH,
    CrdSource,
    CreateOptions,
    CreateReport,
    PhaseResult,
    Progress,
    load_definitions,
    schema_dirs,
)
from greenfield.app.bootstrap.run import Bootstrap
from greenfield.app.bootstrap.sync import point_sync_at, with_git_url

__all__ = [
    "DEFINITIONS",
    "FLUX_NAMESPACE_LABEL",
    "FLUX_NAME_LABEL",
    "SPEC_HASH",
    "Bootstrap",
    "CrdSource",
    "CreateOptions",
    "CreateReport",
    "PhaseResult",
    "Progress",
    "crd_bundle_from_schemas",
    "load_definitions",
    "point_sync_at",
    "schema_dirs",
    "with_git_url",
]

"""The offline kustomize-controller: pure orchestration over an injected kustomize builder.

For one cluster: build the entry folder, find the flux-system sync Kustomization pointing at it (or use
a synthetic root), then build every Flux Kustomization found in the output, recursively, with its spec
(patches, components, targetNamespace, namePrefix/nameSuffix, images through the builder; commonMetadata
and postBuild substitution here). Children are the objects as the parent applied them. Everything the
build finds wrong is recorded as an EngineNote on the node; rules under build/ and substitution/ turn
notes into findings. No I/O here: the builder (adapters/kustomize/) does it.

The modules follow Flux's own concepts: `requests` (what the builder and the chart renderer take and give),
`sources` (which source a Kustomization reads), `kustomization` (the tree walk and each build),
`substitution` (postBuild), `helm` (HelmReleases and their charts), `graph` (queries over a finished render);
`cluster` runs one cluster with them, over the shared `state`.
"""

from greenfield.core.engine.bodies import normalise_path
from greenfield.core.engine.cluster import render_cluster
from greenfield.core.engine.graph import affected_kustomizations, changed_objects_scope, duplicate_objects
from greenfield.core.engine.helm import OFFLINE_VALUE, api_versions, merge_values, set_path
from greenfield.core.engine.kustomization import MAX_DEPTH, SYNTHETIC_ROOT
from greenfield.core.engine.requests import (
    Builder,
    BuildOutput,
    BuildRequest,
    ChartOutput,
    ChartRenderer,
    ChartRequest,
    EngineOptions,
    Problem,
)
from greenfield.core.engine.sources import source_data
from greenfield.core.engine.substitution import ANY_KEY, RUNTIME_NAMES, SUBSTITUTION_FAILURES

__all__ = [
    "ANY_KEY",
    "MAX_DEPTH",
    "OFFLINE_VALUE",
    "RUNTIME_NAMES",
    "SUBSTITUTION_FAILURES",
    "SYNTHETIC_ROOT",
    "BuildOutput",
    "BuildRequest",
    "Builder",
    "ChartOutput",
    "ChartRenderer",
    "ChartRequest",
    "EngineOptions",
    "Problem",
    "affected_kustomizations",
    "api_versions",
    "changed_objects_scope",
    "duplicate_objects",
    "merge_values",
    "normalise_path",
    "render_cluster",
    "set_path",
    "source_data",
]

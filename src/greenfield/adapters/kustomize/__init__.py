"""kustomize, the way kustomize-controller runs it, through the pinned `kubectl kustomize` of the venv.

For every Flux Kustomization the controller takes a copy of the source, generates a kustomization.yaml
in `spec.path` when there is none (every *.yaml/*.yml below it, and each sub-directory holding its own
kustomization file as one resource), then edits that file in place: `namespace` (targetNamespace),
`namePrefix`, `nameSuffix`, `patches` appended, `components` appended, `images` merged. It builds with
LoadRestrictionsNone on a secure filesystem rooted at the artifact: nothing outside the root can be read. The
input scan enforces that root here (`build/outside-root`), and remote bases are left out of the build (never
fetched) and reported. We do exactly that without writing into the repository: a small "farm" in a
temporary folder mirrors the path's ancestors with symlinks, and only the edited kustomization file is
a real file. `buildMetadata: [originAnnotations]` is added so that every object names its source file.

Builds are cached on disk by the content hash of every file they read (greenfield.adapters.cache: outside
the repository, private, verified).

The modules: `kustomizer` (the facade), `prepare` (checks, edit, cache look-up), `inputs` (the input scan),
`generated` (a folder without kustomization file), `remote` (remote bases left out), `batches` (batches and
their output), `job`, `farm` (the temporary mirror), `cache`, `errors` (explaining kustomize's messages), `process`
(the kubectl binary and its environment), `files` (kustomization files and line look-ups).
"""

from greenfield.adapters.kustomize.batches import MAX_BATCH, ORIGIN_ANNOTATION
from greenfield.adapters.kustomize.cache import CACHE_VERSION
from greenfield.adapters.kustomize.errors import explain_kustomize_error
from greenfield.adapters.kustomize.files import KUSTOMIZATION_FILES
from greenfield.adapters.kustomize.generated import generated_resources
from greenfield.adapters.kustomize.kustomizer import Kustomizer
from greenfield.adapters.kustomize.process import ANY_EXIT, OFFLINE_ENV, kubectl_binary, kustomize_timeout

__all__ = [
    "ANY_EXIT",
    "CACHE_VERSION",
    "KUSTOMIZATION_FILES",
    "MAX_BATCH",
    "OFFLINE_ENV",
    "ORIGIN_ANNOTATION",
    "Kustomizer",
    "explain_kustomize_error",
    "generated_resources",
    "kubectl_binary",
    "kustomize_timeout",
]

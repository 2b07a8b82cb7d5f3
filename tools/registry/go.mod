// The OCI registry of the local GitOps loop (go-containerregistry's cmd/registry: the OCI distribution API,
// in memory; greenfield re-seeds it with the charts on every start). Its own module so that its newer
// golang.org/x/* and docker/cli pins do not move those of ../go.mod.
module greenfield.local/tools/registry

go 1.25.0

tool github.com/google/go-containerregistry/cmd/registry

require github.com/google/go-containerregistry v0.22.1 // indirect

"""Everything that touches the world: processes, files, Kubernetes, git."""

"""greenfield: multi-cluster GitOps platform toolkit."""

__version__ = "0.1.0"

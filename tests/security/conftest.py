"""The end-to-end fixtures of tests/reconciler (the real control plane, an in-process
controller, fresh party namespaces), shared with the security tests."""

from tests.reconciler.conftest import cluster, run_controller

__all__ = ["cluster", "run_controller"]

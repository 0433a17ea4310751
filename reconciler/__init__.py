"""The running controller: wires informers, the workqueue and the builders to the API server."""

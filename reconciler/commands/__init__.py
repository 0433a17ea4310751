"""The `kuscia-reconciler` command line: `cli` parses it and starts the controller;
`render` and `sign` are the offline commands, which never talk to a cluster."""

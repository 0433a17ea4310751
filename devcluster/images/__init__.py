"""Container images built on this machine, for a node that reaches no registry."""

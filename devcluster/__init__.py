"""The real local cluster (etcd + kube-apiserver) used by `make up`, `make run`, the tests and
`bench/`; a development tool of the project, not shipped in its wheel."""

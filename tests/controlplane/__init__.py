"""The real local control plane (etcd + kube-apiserver) used by tests and `make up`."""

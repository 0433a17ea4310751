"""A real node for the local cluster: containerd and runc, the kubelet, CNI
bridge networking, CoreDNS and kube-router's NetworkPolicy firewall, one per
machine, on addresses reserved for testing."""

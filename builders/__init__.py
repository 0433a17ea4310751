"""Kuscia knowledge without I/O: typed models in, desired Kubernetes objects out."""

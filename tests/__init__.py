"""Tests, mirroring the packages, plus the real local control plane they run against."""

"""Tests of the running controller."""

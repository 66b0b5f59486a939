"""Sibling studies on the same engine: each its own science, output and figures."""

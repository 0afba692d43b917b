"""Ports to external services and their real adapters."""

"""Conversation flows: one explicit state machine per module."""

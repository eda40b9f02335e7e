"""Experiments that produce the project's headline figures (JSON + PNG)."""

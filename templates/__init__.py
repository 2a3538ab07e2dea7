"""Installed as the package `compiler.templates` (see pyproject.toml); read with
importlib.resources, never by a path relative to the source tree."""

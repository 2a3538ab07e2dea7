"""Git: provenance of a compile, commit-back, diff against a base revision."""

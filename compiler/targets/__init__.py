"""Back ends: pure functions from a plan to {relative path: bytes}. No I/O here."""

"""Identity of findings across runs: pure functions, no database."""

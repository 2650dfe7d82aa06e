"""The domain: pure computations of the health map (RULES.md); no store, no HTTP."""

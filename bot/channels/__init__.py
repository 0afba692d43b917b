"""Channel adapters: the only code that speaks to messaging providers."""

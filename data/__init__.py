"""Dataset packages (BABILong lives in data/babilong)."""

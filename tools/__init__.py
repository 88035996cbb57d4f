"""Tools beside the product: release packaging and experiment runners (not installed)."""

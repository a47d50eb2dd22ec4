"""Cache process of the Dataset Research Assistant."""

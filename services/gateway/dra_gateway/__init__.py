"""Gateway process of the Dataset Research Assistant."""

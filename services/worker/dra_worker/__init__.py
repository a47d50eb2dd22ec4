"""Worker process of the Dataset Research Assistant."""

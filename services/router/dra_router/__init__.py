"""Router process of the Dataset Research Assistant."""

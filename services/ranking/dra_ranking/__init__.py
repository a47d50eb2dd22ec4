"""Ranking process of the Dataset Research Assistant."""

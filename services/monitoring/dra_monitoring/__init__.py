"""Monitoring process of the Dataset Research Assistant."""

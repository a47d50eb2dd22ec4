"""Cli process of the Dataset Research Assistant."""

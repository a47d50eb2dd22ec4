"""Shared library of the Dataset Research Assistant: settings, logging, storage, gRPC plumbing, domain types."""

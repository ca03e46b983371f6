"""Shared contract suites: mixins that every registered extension of an area must pass."""

"""Canonical data: typed tables for items, users, events and searches, and loaders that produce them."""

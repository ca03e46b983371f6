"""Reliable behavior extraction and hierarchical behavior compression (report 2.1.1)."""

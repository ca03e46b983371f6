"""Serving a finished run over HTTP (report 2.3.3 online inference, 2.4.2 online lookup): ``recgpt serve``."""

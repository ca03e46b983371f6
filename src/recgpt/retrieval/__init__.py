"""Retrieval: the user-item-tag retriever (report 2.3), baselines, a vector index and ranking metrics.

Entry points: :func:`recgpt.retrieval.base.create` (by name: popular, ease, itemknn, tar),
:class:`recgpt.retrieval.index.IndexedRecommender`, :mod:`recgpt.retrieval.metrics`,
:func:`recgpt.retrieval.evaluate.evaluate`.
"""

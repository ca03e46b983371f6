"""SERAL (Xi et al., KDD 2025): serendipity recommendations with an aligned LLM.

Cognition profiles (:mod:`recgpt.seral.profiles`), serendipity ground truth from logs
(:mod:`recgpt.seral.truth`), candidate sets and their scorers (:mod:`recgpt.seral.candidates`,
:mod:`recgpt.seral.scorers`, :mod:`recgpt.seral.serengpt`), preference pairs and IPO alignment
(:mod:`recgpt.seral.pairs`, :mod:`recgpt.seral.ipo`), and the nearline serendipity channel
(:mod:`recgpt.seral.channel`). Configuration: :mod:`recgpt.seral.config`; records: :mod:`recgpt.seral.records`.
"""

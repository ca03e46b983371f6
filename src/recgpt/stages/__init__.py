"""The three LLM stages of RecGPT and what they need: interest mining (LLM_UI), tag prediction (LLM_IT),
the tag-to-category model phi, tag evaluation (HR@K) and explanations with an offline lookup table (LLM_RE).

Each stage module maps typed inputs (:class:`~recgpt.stages.context.UserContext`) to a table plus counts
(:class:`~recgpt.stages.outcome.StageOutcome`); :mod:`recgpt.stages.runner` wires them to a run folder.
"""

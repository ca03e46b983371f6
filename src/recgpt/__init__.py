"""recgpt: intent-centric LLM recommendation after the RecGPT technical report (Taobao, 2025).

Pipeline stages live in their own subpackages:
  data/       canonical tables (items, users, events, searches) and loaders
  behavior/   reliable behavior extraction and hierarchical compression (report 2.1.1)
  llm/        the LLM runtime: backends, structured answers, cache, batch runner, prompt templates
  stages/     interest mining, tag prediction, phi (tag -> category), explanations (report 2.1.2, 2.2, 2.4)
  retrieval/  the user-item-tag retriever, fused retrieval, vector index, baselines, metrics (report 2.3)
  judge/      LLM-as-judge, judge data buffer, agreement, labelling web page (report 3)
  pipeline/   the end-to-end run and its report
"""

__version__ = "0.1.0"

"""Alignment: training sets for the stage models and the trainer that tunes them (report 2.1.2, 2.2).

- :mod:`recgpt.alignment.records`: the typed, versioned training-set rows and their chat JSON Lines export;
- :mod:`recgpt.alignment.incremental`: the incremental-learning set of the tag task (report 2.2.2);
- :mod:`recgpt.alignment.trainer`: supervised fine-tuning (LoRA or full) of the embedded model;
- :mod:`recgpt.alignment.evaluate`: the report's Table 5, base against tuned model.

Results reach the stages only as a model or adapter folder for an existing backend.
"""

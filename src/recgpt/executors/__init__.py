"""Where per-request LLM work and batch retrieval run: in this process (``local.v1``) or on a Ray cluster
(``ray.v1``). Executors are registered in :data:`recgpt.registry.executors`; the YAML block ``executor``
(:class:`~recgpt.executors.config.ExecutorConfig`) picks one. Nothing here imports Ray until the Ray
executor is built."""

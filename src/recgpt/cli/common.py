"""What several commands share: the LLM flags (``--backend --model --base-url --threads``) and how they
land in an :class:`~recgpt.llm.config.LLMConfig`."""

from __future__ import annotations

from typing import Optional

import typer

BACKEND = typer.Option(None, "--backend", help="LLM backend: llama-cpp | openai | fake | ... (`recgpt plugins`)")
MODEL = typer.Option(None, "--model", help="the backend's model: a GGUF path (llama-cpp) or a served name (openai)")
BASE_URL = typer.Option(None, "--base-url", help="OpenAI-compatible server URL, e.g. http://localhost:8000/v1")
THREADS = typer.Option(None, "--threads", help="CPU threads of an embedded backend")
EXECUTOR = typer.Option(None, "--executor", help="where the LLM calls run: local (this process) | ray (a Ray "
                        "cluster; needs the ray extra)")
RAY_ADDRESS = typer.Option(None, "--ray-address", help="the Ray cluster to join: auto (`ray start --head` on this "
                           "machine) or ray://host:10001; implies --executor ray; unset: a private Ray")


def executor_overrides(executor: Optional[str], ray_address: Optional[str]) -> dict:
    """Dotted configuration overrides of ``--executor`` and ``--ray-address`` (the address implies ray)."""
    if ray_address is not None and executor is None:
        executor = "ray"
    return {"executor.name": executor, "executor.address": ray_address}


def apply_llm_flags(config, backend: Optional[str] = None, model: Optional[str] = None,
                    base_url: Optional[str] = None, threads: Optional[int] = None):
    """``config`` (an LLMConfig) with the flags that were given: ``--backend`` chooses the backend, ``--model``
    and ``--threads`` go to the chosen backend's options, ``--base-url`` to the openai backend's."""
    from recgpt.llm.config import LLMConfig

    if backend is not None:
        config = LLMConfig.from_dict({**config.model_dump(), "backend": backend}, source="--backend")
    config = config.with_options(model=model, threads=threads)
    return config.with_options("openai", base_url=base_url)

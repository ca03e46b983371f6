"""Configuration of the executor (YAML block ``executor``): where the LLM calls and batch retrieval run.

    executor:
      name: ray                 # local (default: this process) | ray (a Ray cluster); "ray.v1" pins a version
      address: auto             # a running cluster (ray start --head; auto = the one on this machine);
                                # unset: a private Ray started inside the run with num_cpus CPUs
      workers: 4                # actors, each holding one engine (a model, or a client of one server)
      block_size: 64            # requests per block: the unit of work, of output (one Parquet file) and of loss
      server_urls: [http://gpu1:8000/v1, http://gpu2:8000/v1]   # openai backend: spread the workers over them

Imports nothing heavy (no Ray): reading a configuration stays light.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from recgpt.config import StrictConfig


class ExecutorConfig(StrictConfig):
    """Where per-request work runs; see the module docstring."""

    name: str = Field("local", description="a registered executor: local (this process) | ray (a Ray cluster)")
    address: str | None = Field(None, description="Ray cluster to join: 'auto' (the one `ray start --head` "
                                "started here), 'ray://host:10001', or an IP:port; unset: start a private one")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of the private Ray started when address is unset "
                                 "(None: every CPU of the machine)")
    workers: int = Field(2, ge=1, description="Ray actors; each builds one engine and answers one block at a time")
    block_size: int = Field(64, ge=1, description="requests per block (one Parquet file of answers per block)")
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs Ray reserves for each actor")
    gpus_per_worker: float = Field(0.0, ge=0, description="GPUs Ray reserves for each actor (an engine on a GPU)")
    server_urls: list[str] = Field(default_factory=list, description="OpenAI-compatible servers: actor i talks "
                                   "to server_urls[i % len] (the openai backend only; unset: llm.options.openai)")
    max_restarts: int = Field(3, ge=0, description="restarts of an actor whose process died; its block is "
                              "asked again on the restarted actor")
    retrieval_batch_size: int = Field(1024, ge=1, description="users per batch of the batch retrieval job")
    runtime_env: dict[str, Any] = Field(default_factory=dict, description="Ray runtime_env of the job (e.g. "
                                        "{pip: [...]} or {py_modules: [...]} when the cluster lacks recgpt)")

    @field_validator("name")
    @classmethod
    def _registered(cls, value: str) -> str:
        from recgpt import registry

        return registry.executors.checked(value)

    @field_validator("server_urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        bad = [url for url in value if not url.startswith(("http://", "https://"))]
        if bad:
            raise ValueError(f"server_urls must be http(s) URLs such as http://host:8000/v1; got {bad}")
        return value

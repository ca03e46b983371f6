"""What this CPU computes fastest, read from the kernel's CPU flags (no torch import).

bfloat16 matrix products are fast only on CPUs with AMX-BF16 tiles (Intel Sapphire Rapids and later),
where PyTorch runs them through oneDNN. On a CPU with only AVX512-BF16 they are slower than float32.
Measured on 2 cores of a Xeon without AMX (SmolLM2-135M): a 700 x 576 x 1536 product 106 GFLOPS in
bfloat16 against 240 in float32, a 600-token prefill 1.33 against 0.88 s, but a decode step after 600
tokens at batch 8 0.091 against 0.099 s (0.168 against 0.174 at batch 32; benchmarks/bench_llm_dtype.py),
and LoRA training 71 against 95 tokens/s. On 2 Sapphire Rapids cores bfloat16 is the faster one (training 319 against 142 tokens/s).
So the trainers default to ``auto``; the torch engine keeps bfloat16 unless ``dtype: auto`` is asked for.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


@cache
def cpu_flags() -> frozenset[str]:
    """The ``flags`` of the first CPU in ``/proc/cpuinfo`` (empty where there is none, e.g. macOS)."""
    try:
        text = CPUINFO.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def has_amx_bf16() -> bool:
    """Whether the CPU has AMX tiles for bfloat16 (flag ``amx_bf16``)."""
    return "amx_bf16" in cpu_flags()


def fast_dtype() -> str:
    """``"bfloat16"`` where bfloat16 matrix products are fast (AMX-BF16), else ``"float32"``."""
    return "bfloat16" if has_amx_bf16() else "float32"


def resolve_dtype(dtype: str) -> str:
    """``"auto"`` becomes :func:`fast_dtype`; any other name is returned as it is."""
    return fast_dtype() if dtype == "auto" else dtype


def resolve_bf16(bf16: bool | str) -> bool:
    """A trainer's ``bf16`` setting: True or False as given, ``"auto"`` -> :func:`has_amx_bf16`."""
    return has_amx_bf16() if bf16 == "auto" else bool(bf16)

"""The dtype chosen for this CPU: bfloat16 only where AMX-BF16 makes it fast."""

from __future__ import annotations

import pytest

from recgpt import hardware
from recgpt.llm.torch_backend import TorchBackend, TorchOptions


@pytest.fixture
def cpuinfo(tmp_path, monkeypatch):
    """Point the flag reader at a fake /proc/cpuinfo; returns a function writing its flags line."""
    path = tmp_path / "cpuinfo"
    monkeypatch.setattr(hardware, "CPUINFO", path)

    def write(flags: str | None) -> None:
        hardware.cpu_flags.cache_clear()
        path.unlink(missing_ok=True)
        if flags is not None:
            path.write_text(f"processor\t: 0\nmodel name\t: Xeon\nflags\t\t: {flags}\n\nprocessor\t: 1\n")

    yield write
    hardware.cpu_flags.cache_clear()


def test_auto_picks_bfloat16_only_on_amx(cpuinfo):
    cpuinfo("fpu sse avx512f avx512_bf16 amx_bf16 amx_tile")
    assert hardware.resolve_dtype("auto") == "bfloat16" and hardware.resolve_bf16("auto") is True
    cpuinfo("fpu sse avx512f avx512_bf16")  # AVX512-BF16 alone: bfloat16 products are slower than float32
    assert hardware.resolve_dtype("auto") == "float32" and hardware.resolve_bf16("auto") is False
    cpuinfo(None)  # no /proc/cpuinfo (macOS)
    assert hardware.cpu_flags() == frozenset() and hardware.resolve_dtype("auto") == "float32"


def test_explicit_settings_are_kept(cpuinfo):
    cpuinfo("avx512f")
    assert hardware.resolve_dtype("bfloat16") == "bfloat16" and hardware.resolve_bf16(True) is True
    cpuinfo("amx_bf16")
    assert hardware.resolve_dtype("float32") == "float32" and hardware.resolve_bf16(False) is False


def test_backend_names_the_resolved_dtype(cpuinfo):
    """The cache key (model_id) says which dtype answered, never "auto"."""
    assert TorchOptions(dtype="auto").dtype == "auto"
    cpuinfo("avx512f")
    backend = TorchBackend(dtype="auto")
    assert backend.dtype == "float32" and backend.model_id.endswith(":float32")
    cpuinfo("amx_bf16 avx512f")
    assert TorchBackend(dtype="auto").model_id.endswith(":bfloat16")
    assert TorchBackend(dtype="float32").model_id.endswith(":float32")

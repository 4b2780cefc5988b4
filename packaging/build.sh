#!/usr/bin/env bash
# Build DesktopChat's package for this OS into build/ (see packaging/build.py --help).
#   ./packaging/build.sh                 Linux: tarball with installer script (+ AppImage
#                                        when appimagetool is on PATH)
#   ./packaging/build.sh --gpu cuda      a CUDA variant (needs the CUDA toolkit, nvcc)
#   ./packaging/build.sh --gpu vulkan    a Vulkan variant (needs the Vulkan SDK)
#   ./packaging/build.sh --gpu metal     macOS: a Metal variant
# The CPU package is built from the app's .venv; a GPU variant gets its own environment,
# build/venv-<gpu>, where llama-cpp-python is compiled with that backend.
set -euo pipefail
cd "$(dirname "$0")/.."
gpu=cpu
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --gpu) gpu="${args[$((i + 1))]:-cpu}" ;;
    --gpu=*) gpu="${args[$i]#--gpu=}" ;;
  esac
done
case "$gpu" in
  cpu) ;;
  cuda | vulkan | metal) export DESKTOPCHAT_VENV="${DESKTOPCHAT_VENV:-$PWD/build/venv-$gpu}" ;;
  *) echo "build.sh: --gpu is cuda, vulkan or metal, not $gpu" >&2; exit 2 ;;
esac
source scripts/bootstrap.sh
if [ "$gpu" != cpu ]; then
  upper="$(tr '[:lower:]' '[:upper:]' <<<"$gpu")"
  export DESKTOPCHAT_CMAKE_ARGS="-DGGML_${upper}=ON $PORTABLE_CMAKE_ARGS"
fi
ensure_venv package
if [ "$(uname -s)" = Linux ]; then
  # Qt's X11 plugin needs xcb libraries many desktops lack (libxcb-cursor0, ...): with them
  # on the build machine, PyInstaller puts them in the bundle.
  "$VENV/bin/python" -m desktopchat.platform_check --platform xcb --libraries-only --install
fi
exec "$VENV/bin/python" packaging/build.py "$@"

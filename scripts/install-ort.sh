#!/usr/bin/env bash
# Installs the ONNX Runtime shared library mmrag loads at run time into
# $MMRAG_HOME/ort/<version>/ (default ~/.cache/mmrag). The official Linux build
# ships inside the npm package onnxruntime-node, which is how it is fetched
# here; set MMRAG_ORT_LIB instead to use a build of your own (e.g. CUDA).
set -euo pipefail
version=${ORT_VERSION:-1.24.1}
home=${MMRAG_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/mmrag}
dest=$home/ort/$version
lib=$dest/libonnxruntime.so.1
if [ -s "$lib" ]; then
  echo "ONNX Runtime $version: $lib (already installed)"
  exit 0
fi
case "$(uname -m)" in
  x86_64|amd64) arch=x64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) echo "install-ort: no prebuilt ONNX Runtime for $(uname -m); build one and set MMRAG_ORT_LIB" >&2; exit 1 ;;
esac
command -v npm >/dev/null || { echo "install-ort: npm is needed to fetch onnxruntime-node@$version (apt-get install npm), or set MMRAG_ORT_LIB" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "onnxruntime-node@$version" >/dev/null)
member=package/bin/napi-v6/linux/$arch/libonnxruntime.so.1
tar -xzf "$tmp"/onnxruntime-node-"$version".tgz -C "$tmp" "$member"
mkdir -p "$dest"
install -m 0644 "$tmp/$member" "$lib.tmp"
mv "$lib.tmp" "$lib"
echo "ONNX Runtime $version: installed $lib"

#!/usr/bin/env bash
# Builds the page's WebAssembly and its JavaScript glue into examples/web/pkg/ (needs the
# wasm32-unknown-unknown target and wasm-bindgen-cli at the version of wasm-bindgen in
# Cargo.lock, as .ci/run installs them). Serve it with:
#   python3 -m http.server 8000 -d examples/web    # then open http://localhost:8000/
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --example web --target wasm32-unknown-unknown
target="${CARGO_TARGET_DIR:-target}"
wasm-bindgen --target web --no-typescript --out-dir examples/web/pkg \
    "$target/wasm32-unknown-unknown/release/examples/web.wasm"
echo "built examples/web/pkg; serve with: python3 -m http.server 8000 -d examples/web"

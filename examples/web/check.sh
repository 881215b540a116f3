#!/usr/bin/env bash
# Drives the page in headless Chromium through chromedriver (the W3C WebDriver protocol over
# curl): serves examples/web, clicks "Run the built-in demo", waits for the report and checks
# what the page shows: the output shape, values, and WebGPU agreeing with the CPU within 1e-4.
# Saves a screenshot to $SCREENSHOT (default target/web-screenshot.png; the README's is
# examples/web/screenshot.png). Run after examples/web/build.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
port=${PORT:-8765}
driver_port=$((port + 1))
python3 -m http.server "$port" --bind 127.0.0.1 -d examples/web >/dev/null 2>&1 &
server=$!
chromedriver --port="$driver_port" >/dev/null 2>&1 &
driver=$!
session=""
cleanup() {
    [ -n "$session" ] && curl -s -X DELETE "http://127.0.0.1:$driver_port/session/$session" >/dev/null
    kill "$server" "$driver" 2>/dev/null || true
}
trap cleanup EXIT

wd() { # METHOD PATH [JSON]
    curl -sS -X "$1" -H 'Content-Type: application/json' \
        "http://127.0.0.1:$driver_port$2" ${3:+--data "$3"}
}
value() { sed -n 's/.*"value":"\(.*\)"}$/\1/p'; }
for _ in $(seq 50); do
    curl -s "http://127.0.0.1:$driver_port/status" | grep -q '"ready":true' && break
    sleep 0.2
done

# The same Chromium flags as the browser tests (webdriver.json): WebGPU on SwiftShader.
session=$(wd POST /session "{\"capabilities\":{\"alwaysMatch\":$(tr -d '\n' < webdriver.json)}}" \
    | sed -n 's/.*"sessionId":"\([^"]*\)".*/\1/p')
[ -n "$session" ] || { echo "check: chromedriver gave no session"; exit 1; }
wd POST "/session/$session/url" "{\"url\":\"http://127.0.0.1:$port/\"}" >/dev/null
element() {
    wd POST "/session/$session/element" "{\"using\":\"css selector\",\"value\":\"$1\"}" \
        | sed -n 's/.*"element-6066-11e4-a52e-4f735466cecf":"\([^"]*\)".*/\1/p'
}
support=$(wd GET "/session/$session/element/$(element '#support')/text" | value)
echo "page: $support"
wd POST "/session/$session/element/$(element '#demo')/click" '{}' >/dev/null
report=$(element '#report')
state=""
for _ in $(seq 300); do
    state=$(wd GET "/session/$session/element/$report/attribute/data-state" | value)
    [ "$state" = done ] || [ "$state" = error ] && break
    sleep 0.2
done
text=$(wd GET "/session/$session/element/$report/text" | value | sed 's/\\n/\n/g')
echo "$text"
screenshot=${SCREENSHOT:-target/web-screenshot.png}
mkdir -p "$(dirname "$screenshot")"
wd GET "/session/$session/screenshot" | value | base64 -d > "$screenshot"

fail() { echo "check: $1"; exit 1; }
[ "$state" = done ] || fail "the report did not finish (state: ${state:-none})"
grep -q '^model: lstm (built-in demo)$' <<<"$text" || fail "no model line"
grep -q '^output shape: \[' <<<"$text" || fail "no output shape"
grep -q '^first values: -\?[0-9]' <<<"$text" || fail "no values"
diff=$(sed -n 's/^max |WebGPU - CPU|: \(.*\)$/\1/p' <<<"$text")
awk -v d="$diff" 'BEGIN { exit !(d != "" && d + 0 <= 1e-4) }' || fail "WebGPU and CPU differ by $diff"
echo "check: the page ran the demo on WebGPU (max |WebGPU - CPU| = $diff)"

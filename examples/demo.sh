#!/usr/bin/env bash
# A two-minute tour: builds rinit, then runs two processes under it as PID 1 of a fresh PID
# namespace (root needed for unshare), with prefixed output and the stop sequence.
#   bash examples/demo.sh              (RINIT_BIN=path/to/rinit to use a binary already built)
set -euo pipefail
cd "$(dirname "$0")/.."
rinit=${RINIT_BIN:-}
if [ -z "$rinit" ]; then
  target="$(uname -m)-unknown-linux-musl"
  cargo build --release --quiet --locked --target "$target"
  rinit="target/$target/release/rinit"
fi
app=examples/app.sh

echo "== web and worker under rinit; SIGTERM comes in 3 s (pre-stop delay 1s, grace 5s)"
unshare --pid --fork --mount-proc "$rinit" \
  --prefix --pre-stop-delay 1s --grace-period 5s \
  --run "web: sh $app web" --run "worker: sh $app worker" &
unshare_pid=$!
sleep 3
init_pid=$(cat /proc/$unshare_pid/task/$unshare_pid/children)
kill -TERM "$init_pid"
set +e
wait "$unshare_pid"
echo "== rinit exited with $?"

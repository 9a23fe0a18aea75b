#!/bin/sh
# A stand-in app: says hello every half second and shuts down cleanly on SIGTERM.
name=${1:-app}
trap 'echo "$name: got SIGTERM, finishing in-flight work"; sleep 0.5; echo "$name: bye"; exit 0' TERM
echo "$name: started as pid $$"
while :; do
  echo "$name: working"
  sleep 0.5 &
  wait $!
done

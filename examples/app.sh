#!/bin/sh
# A stand-in app for the examples: says it is working every half second and, given a PORT,
# serves HTTP on it with busybox httpd (GET /healthz answers 200, for readiness probes). On
# SIGTERM it finishes its in-flight work and exits 0.
#   /app/app.sh NAME [PORT]
name=${1:-app}
port=$2
trap 'echo "$name: got SIGTERM, finishing in-flight work"; sleep 0.5; echo "$name: bye"; exit 0' TERM
if [ -n "$port" ]; then
  www=/tmp/www-$name
  mkdir -p "$www" && echo ok > "$www/healthz"
  httpd -f -p "$port" -h "$www" &
  echo "$name: serving on port $port"
fi
echo "$name: started as pid $$"
while :; do
  echo "$name: working"
  sleep 0.5 &
  wait $!
done

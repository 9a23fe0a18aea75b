#!/bin/sh
# The classic shell entrypoint. On its own as PID 1 it passes SIGTERM to nobody and the apps
# die by SIGKILL. Under rinit (ENTRYPOINT ["/rinit", "--", "/entrypoint.sh"]) SIGTERM reaches
# the shell and both background apps (same process group), and anything still running when
# the shell exits is stopped gracefully, then rinit exits with the shell's code.
/app/server --port 8080 &
/app/metrics-exporter &
wait

#!/bin/sh
# The classic shell entrypoint: two apps in the background and a wait. Alone as PID 1 the shell
# passes SIGTERM to nobody, and the apps die by SIGKILL when Docker's timeout runs out. Under
# rinit (ENTRYPOINT ["/rinit", "--", "/app/entrypoint.sh"]) SIGTERM reaches the shell and both
# apps (they share its process group), the apps finish their work, and rinit exits with the
# shell's code (143: the shell itself has no trap and ends by SIGTERM).
/app/app.sh web 8080 &
/app/app.sh worker &
wait

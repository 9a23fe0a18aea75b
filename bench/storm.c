/* Orphan storm, run as a child of the init under test (PID 1 of its own PID namespace).
 *
 * usage: storm [N]   (default 10000)
 *
 * Makes N orphans: each round forks a child that forks a grandchild and exits at once; the
 * grandchild exits too, is re-parented to PID 1 and must be reaped by the init. Then waits (at
 * most 10 s) until no zombie is left in the namespace. Prints one line:
 *
 *     FORK_MS DRAIN_MS INIT_CPU_MS ZOMBIES_LEFT
 *
 * FORK_MS      wall time of the fork loop
 * DRAIN_MS     wall time from the end of the fork loop until no zombie was left
 * INIT_CPU_MS  CPU time PID 1 spent meanwhile (first field of /proc/1/schedstat, in ns)
 * ZOMBIES_LEFT zombies still present at the end (0 for a correct init)
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double init_cpu_ms(void)
{
    unsigned long long ns = 0;
    FILE *f = fopen("/proc/1/schedstat", "r");
    if (f) {
        if (fscanf(f, "%llu", &ns) != 1)
            ns = 0;
        fclose(f);
    }
    return ns / 1e6;
}

static int zombies(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    char path[300], buf[512];
    int z = 0;

    if (!d)
        return -1;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *r = strrchr(buf, ')'); /* the state follows the command name */
        if (r && r[1] == ' ' && r[2] == 'Z')
            z++;
    }
    closedir(d);
    return z;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    double cpu0 = init_cpu_ms(), t0 = now_ms();

    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p < 0) {
            perror("storm: fork");
            return 1;
        }
        if (p == 0) {
            if (fork() == 0)
                _exit(0); /* the orphan */
            _exit(0);
        }
        waitpid(p, NULL, 0);
    }
    double t1 = now_ms();
    while (zombies() > 0 && now_ms() - t1 < 10000)
        usleep(1000);
    double t2 = now_ms();
    printf("%.1f %.1f %.1f %d\n", t1 - t0, t2 - t1, init_cpu_ms() - cpu0, zombies());
    return 0;
}

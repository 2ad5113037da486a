/* Interleaved start-up benchmark: runs each command once per iteration, in an order that
   rotates every iteration, with stdin from a file and stdout/stderr to /dev/null, and
   records wall time (CLOCK_MONOTONIC around posix_spawn..wait4) and the child's rusage.
   usage: runner RUNS WARMUP STDIN_FILE OUT.tsv CMDFILE
   CMDFILE: one command per line: NAME<TAB>PATH[<TAB>VAR=VALUE[ VAR=VALUE...]]
            (no arguments; environment inherited, plus the optional assignments)
   OUT.tsv: name iter wall_us maxrss_kib minflt nvcsw nivcsw utime_us stime_us */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <sys/wait.h>
#include <sys/resource.h>
extern char **environ;
int main(int argc, char **argv) {
  if (argc != 6) { fprintf(stderr, "usage: runner RUNS WARMUP STDIN OUT CMDFILE\n"); return 2; }
  int runs = atoi(argv[1]), warm = atoi(argv[2]);
  const char *in = argv[3];
  FILE *out = fopen(argv[4], "w"), *cf = fopen(argv[5], "r");
  if (!out || !cf) { perror("open"); return 2; }
  char name[64][64], path[64][512]; char **envs[64]; int n = 0; char line[2048];
  int ne0 = 0; while (environ[ne0]) ne0++;
  while (n < 64 && fgets(line, sizeof line, cf)) {
    line[strcspn(line, "\n")] = 0;
    char *tab = strchr(line, '\t'); if (!tab) continue;
    *tab = 0; char *p = tab + 1, *extra = strchr(p, '\t');
    if (extra) *extra++ = 0;
    snprintf(name[n], 64, "%s", line); snprintf(path[n], 512, "%s", p);
    envs[n] = calloc(ne0 + 32, sizeof(char *)); int e = 0;
    if (extra) for (char *tok = strtok(extra, " "); tok && e < 31; tok = strtok(NULL, " ")) envs[n][e++] = strdup(tok);
    for (int i = 0; i < ne0; i++) envs[n][e++] = environ[i];
    n++;
  }
  for (int it = -warm; it < runs; it++) {
    for (int k = 0; k < n; k++) {
      int c = (k + (it < 0 ? -it : it)) % n;
      posix_spawn_file_actions_t fa; posix_spawn_file_actions_init(&fa);
      posix_spawn_file_actions_addopen(&fa, 0, in, O_RDONLY, 0);
      posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
      posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
      char *av[] = { path[c], NULL };
      struct timespec t0, t1; struct rusage ru; int st; pid_t pid;
      clock_gettime(CLOCK_MONOTONIC, &t0);
      if (posix_spawn(&pid, path[c], &fa, NULL, av, envs[c]) != 0) { perror(path[c]); return 1; }
      if (wait4(pid, &st, 0, &ru) < 0) { perror("wait4"); return 1; }
      clock_gettime(CLOCK_MONOTONIC, &t1);
      posix_spawn_file_actions_destroy(&fa);
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "%s failed: status %d\n", name[c], st); return 1; }
      if (it >= 0)
        fprintf(out, "%s\t%d\t%.1f\t%ld\t%ld\t%ld\t%ld\t%ld\t%ld\n", name[c], it,
          (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3, ru.ru_maxrss, ru.ru_minflt,
          ru.ru_nvcsw, ru.ru_nivcsw, ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec,
          ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec);
    }
  }
  fclose(out); return 0;
}

/* Absolute floor: a C program doing what a CNI VERSION must (read stdin to EOF, check
   CNI_COMMAND, write the fixed reply). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static const char reply[] = "{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.1.0\",\"0.2.0\",\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\"]}\n";
int main(void) {
  char buf[4096];
  while (read(0, buf, sizeof buf) > 0) {}
  const char *cmd = getenv("CNI_COMMAND");
  if (!cmd || strcmp(cmd, "VERSION") != 0) return 1;
  return write(1, reply, sizeof reply - 1) == (ssize_t)(sizeof reply - 1) ? 0 : 1;
}

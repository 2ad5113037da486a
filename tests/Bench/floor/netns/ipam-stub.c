/* A stand-in for an in-process Spartan IPAM (issue 13, item 4): an IPAM plugin that does
   no work. ADD hands out one fixed address, DEL and CHECK succeed, VERSION lists the
   versions; no state, no lock. bench.sh with SPARTAN_IPAM=ipam-stub measures dcos-l4lb
   with it in place of host-local: what an allocator inside the plugin could gain at most,
   less the ~1 ms this process itself costs. Cycles must not overlap (one address).
   build: cc -O2 -o ipam-stub ipam-stub.c */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  const char *command = getenv("CNI_COMMAND");
  char buffer[65536];
  size_t length = 0;
  ssize_t n;
  while (length < sizeof buffer - 1 && (n = read(0, buffer + length, sizeof buffer - 1 - length)) > 0) length += n;
  buffer[length] = 0;
  /* the config's cniVersion, echoed in the result */
  char version[16] = "1.0.0";
  char *v = strstr(buffer, "\"cniVersion\"");
  if (v && (v = strchr(v + 12, '"'))) sscanf(v + 1, "%15[^\"]", version);
  if (command && strcmp(command, "ADD") == 0)
    printf("{\"cniVersion\":\"%s\",\"ips\":[{\"address\":\"198.51.100.250/24\"}]}", version);
  else if (command && strcmp(command, "VERSION") == 0)
    printf("{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.1.0\",\"0.2.0\",\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\"]}");
  return 0;
}

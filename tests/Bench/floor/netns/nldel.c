/* Deletes a link (by name) or a link group in a named netns with one RTM_DELLINK request
   and prints the kernel's time for it: "start_us end_us dur_us" on CLOCK_MONOTONIC, from
   sendmsg to the ACK (the kernel handles the request, the unregistration and its RCU
   waits synchronously inside that sendmsg).  setns and socket set-up are not timed.
   usage: nldel NETNS name IFNAME | nldel NETNS group N
          nldel NETNS batch G IF1 [IF2...]  (puts each IF in group G, then deletes group G:
                                              all requests timed together) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <sys/socket.h>
static double now_us(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: nldel NETNS name IFNAME | group N | batch G IF...\n"); return 2; }
  char path[256]; snprintf(path, sizeof path, "/run/netns/%s", argv[1]);
  int nsfd = open(path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) { perror(path); return 1; }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) { perror("socket"); return 1; }
  double tb = 0;
  if (strcmp(argv[2], "batch") == 0) {   /* RTM_NEWLINK ifname=IF group=G for each IF, then delete group G */
    unsigned g = (unsigned)atoi(argv[3]);
    tb = now_us();
    for (int i = 4; i < argc; i++) {
      struct { struct nlmsghdr nh; struct ifinfomsg ifi; char attrs[64]; } r;
      memset(&r, 0, sizeof r);
      r.nh.nlmsg_type = RTM_NEWLINK; r.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK; r.nh.nlmsg_seq = 100 + i;
      r.ifi.ifi_family = AF_UNSPEC;
      struct rtattr *a1 = (struct rtattr *)r.attrs;
      a1->rta_type = IFLA_IFNAME; a1->rta_len = RTA_LENGTH(strlen(argv[i]) + 1); strcpy(RTA_DATA(a1), argv[i]);
      struct rtattr *a2 = (struct rtattr *)(r.attrs + RTA_ALIGN(a1->rta_len));
      a2->rta_type = IFLA_GROUP; a2->rta_len = RTA_LENGTH(sizeof g); memcpy(RTA_DATA(a2), &g, sizeof g);
      r.nh.nlmsg_len = NLMSG_LENGTH(sizeof r.ifi) + RTA_ALIGN(a1->rta_len) + RTA_ALIGN(a2->rta_len);
      char b[4096];
      if (send(fd, &r, r.nh.nlmsg_len, 0) < 0 || recv(fd, b, sizeof b, 0) < 0) { perror("set group"); return 1; }
      struct nlmsghdr *h = (struct nlmsghdr *)b;
      if (h->nlmsg_type == NLMSG_ERROR && ((struct nlmsgerr *)NLMSG_DATA(h))->error) {
        fprintf(stderr, "set group of %s: %s\n", argv[i], strerror(-((struct nlmsgerr *)NLMSG_DATA(h))->error)); return 1; }
    }
  }
  struct { struct nlmsghdr nh; struct ifinfomsg ifi; char attrs[64]; } req;
  memset(&req, 0, sizeof req);
  req.nh.nlmsg_type = RTM_DELLINK; req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK; req.nh.nlmsg_seq = 1;
  req.ifi.ifi_family = AF_UNSPEC;
  struct rtattr *rta = (struct rtattr *)req.attrs;
  if (strcmp(argv[2], "name") == 0) {
    rta->rta_type = IFLA_IFNAME; rta->rta_len = RTA_LENGTH(strlen(argv[3]) + 1);
    strcpy(RTA_DATA(rta), argv[3]);
  } else {
    unsigned g = (unsigned)atoi(argv[3]);
    rta->rta_type = IFLA_GROUP; rta->rta_len = RTA_LENGTH(sizeof g); memcpy(RTA_DATA(rta), &g, sizeof g);
  }
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.ifi) + RTA_ALIGN(rta->rta_len);
  char buf[8192];
  double t0 = now_us();
  if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) { perror("send"); return 1; }
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  double t1 = now_us();
  if (n < 0) { perror("recv"); return 1; }
  struct nlmsghdr *h = (struct nlmsghdr *)buf;
  if (h->nlmsg_type == NLMSG_ERROR) {
    int err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    if (err) { fprintf(stderr, "RTM_DELLINK: %s\n", strerror(-err)); return 1; }
  }
  if (tb) t0 = tb;
  printf("%.0f %.0f %.0f\n", t0, t1, t1 - t0);
  return 0;
}

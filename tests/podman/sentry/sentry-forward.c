/*
 * sentry-forward: switch IPv4 forwarding of network interfaces on or off
 * over rtnetlink (RTM_SETLINK, IFLA_AF_SPEC / AF_INET / IFLA_INET_CONF /
 * IPV4_DEVCONF_FORWARDING), the per-interface value the kernel's forwarding
 * decision reads for the interface a packet arrived on.
 *
 *   sentry-forward on|off IFNAME...
 *   sentry-forward watch       turn it on for every interface but lo, now
 *                              and whenever it is found off after a link
 *                              or IPv4 netconf event, until killed
 *
 * Why not sysctl: a container's /proc/sys is read-only unless it runs with
 * --privileged, so `sysctl -w net.ipv4.ip_forward=1` fails there, and the
 * runtime's --sysctl is in force before the entrypoint runs (packets would
 * be forwarded unfiltered until the nftables policy is loaded).  Netlink
 * needs only CAP_NET_ADMIN in the container's own network namespace, so the
 * entrypoint loads its policy first and only then turns forwarding on.
 *
 * Why watch netconf too: when netavark connects a running gateway container
 * to another network (podman network connect --as-gateway), it sets the
 * namespace's ip_forward to 0, which turns every interface off; the kernel
 * announces that as RTM_NEWNETCONF on RTNLGRP_IPV4_NETCONF, not as a link
 * event.
 */
#include <errno.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NLA_SPACE(len) NLA_ALIGN(NLA_HDRLEN + (len))

static struct nlattr *put(char *buf, size_t *off, unsigned short type, const void *data, size_t len)
{
	struct nlattr *a = (struct nlattr *)(buf + *off);
	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	if (len)
		memcpy((char *)a + NLA_HDRLEN, data, len);
	*off += NLA_SPACE(len);
	return a;
}

static int set_forwarding(int fd, const char *ifname, unsigned int on)
{
	char buf[256] __attribute__((aligned(4)));
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	struct ifinfomsg *ifi;
	struct nlattr *spec, *inet, *conf;
	size_t off;
	unsigned int index = if_nametoindex(ifname);
	char reply[1024] __attribute__((aligned(4)));
	struct nlmsgerr *err;
	ssize_t n;

	if (!index) {
		fprintf(stderr, "sentry-forward: no interface %s\n", ifname);
		return -1;
	}
	memset(buf, 0, sizeof(buf));
	h->nlmsg_type = RTM_SETLINK;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = index;
	ifi = NLMSG_DATA(h);
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)index;
	off = NLMSG_SPACE(sizeof(*ifi));
	spec = put(buf, &off, IFLA_AF_SPEC | NLA_F_NESTED, NULL, 0);
	inet = put(buf, &off, AF_INET | NLA_F_NESTED, NULL, 0);
	conf = put(buf, &off, IFLA_INET_CONF | NLA_F_NESTED, NULL, 0);
	put(buf, &off, IPV4_DEVCONF_FORWARDING, &on, sizeof(on));
	conf->nla_len = (unsigned short)(buf + off - (char *)conf);
	inet->nla_len = (unsigned short)(buf + off - (char *)inet);
	spec->nla_len = (unsigned short)(buf + off - (char *)spec);
	h->nlmsg_len = (unsigned int)off;

	if (send(fd, buf, off, 0) < 0) {
		perror("sentry-forward: send");
		return -1;
	}
	n = recv(fd, reply, sizeof(reply), 0);
	if (n < (ssize_t)NLMSG_SPACE(sizeof(*err))) {
		perror("sentry-forward: recv");
		return -1;
	}
	h = (struct nlmsghdr *)reply;
	err = NLMSG_DATA(h);
	if (h->nlmsg_type == NLMSG_ERROR && err->error) {
		fprintf(stderr, "sentry-forward: %s: %s%s\n", ifname, strerror(-err->error),
			err->error == -EPERM ? " (the SENTRY needs --cap-add NET_ADMIN)" : "");
		return -1;
	}
	return 0;
}

/* forwarding_is_on IFNAME: 1 when /proc says forwarding is on, else 0 */
static int forwarding_is_on(const char *ifname)
{
	char path[128], v = '0';
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", ifname);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fread(&v, 1, 1, f) != 1)
		v = '0';
	fclose(f);
	return v == '1';
}

static void enable_all(int fd)
{
	struct if_nameindex *ifs = if_nameindex(), *i;

	for (i = ifs; i && i->if_index; i++)
		if (strcmp(i->if_name, "lo") && !forwarding_is_on(i->if_name)
		    && !set_forwarding(fd, i->if_name, 1))
			printf("sentry-forward: forwarding on for %s\n", i->if_name);
	fflush(stdout);
	if (ifs)
		if_freenameindex(ifs);
}

static int watch(int fd)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	char buf[8192] __attribute__((aligned(4)));
	int mon = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	int group = RTNLGRP_IPV4_NETCONF;

	if (mon < 0 || bind(mon, (struct sockaddr *)&sa, sizeof(sa)) < 0
	    || setsockopt(mon, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
		perror("sentry-forward: link and netconf monitor");
		return 1;
	}
	enable_all(fd);		/* after subscribing: no link slips through */
	for (;;) {
		ssize_t n = recv(mon, buf, sizeof(buf), 0);

		if (n < 0 && errno != ENOBUFS && errno != EINTR) {
			perror("sentry-forward: recv");
			return 1;
		}
		/* any link or netconf event (or a lost one, ENOBUFS): look at every link */
		enable_all(fd);
	}
}

int main(int argc, char **argv)
{
	unsigned int on;
	int fd, i, rc = 0;

	if (argc == 2 && !strcmp(argv[1], "watch"))
		on = 1;
	else if (argc >= 3 && (!strcmp(argv[1], "on") || !strcmp(argv[1], "off")))
		on = !strcmp(argv[1], "on");
	else {
		fprintf(stderr, "usage: sentry-forward on|off IFNAME... | sentry-forward watch\n");
		return 2;
	}
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0) {
		perror("sentry-forward: socket");
		return 1;
	}
	if (argc == 2)
		return watch(fd);
	for (i = 2; i < argc; i++)
		if (set_forwarding(fd, argv[i], on))
			rc = 1;
	close(fd);
	return rc;
}

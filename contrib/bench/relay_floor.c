/*
 * relay_floor.c - what the kernel charges a process that relays RTP on
 * loopback, with nothing of Octo in it: the floor under the media mode of
 * run.sh. CALLS calls are two UDP sockets each; a generator (a child
 * process, not measured) sends a 172-byte packet every 20 ms to each of
 * them, spread over 2 ms slices, and reads what comes back. The relay
 * sends what one socket of a call gets from the other, as Octo's media
 * workers do, in one of two ways:
 *   mmsg   epoll, then one recvmmsg on the ready socket and one sendmmsg
 *          from its partner (what sip_media.c does)
 *   uring  io_uring: a pending recvmsg per socket, sendmsg from the
 *          partner once it completes, everything of a round submitted
 *          with one system call
 * and prints its own CPU (getrusage) over the middle of the run.
 *
 *   gcc -O2 -o relay_floor contrib/bench/relay_floor.c -luring
 *   ./relay_floor mmsg 400 && ./relay_floor uring 400
 *
 * On the 2-core machine of the issue notes both ways came to about 0.09 %
 * of a core per call at 400 calls, nearly all of it system time: the
 * kernel's work per packet (on loopback the sender also pays for the
 * delivery), not the system calls, is the cost; io_uring did not lower it.
 *
 * Needs liburing (Debian package liburing-dev); uses ports 30000 and up.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BASE_PORT 30000
#define PHONE_OFFSET 20000
#define BUF 2048
#define BATCH 32

static int legs;                 /* 2 per call */
static int *relay_fd;            /* leg i's socket; its partner is i ^ 1 */
static struct sockaddr_in *phone; /* where leg i's packets go */
static volatile sig_atomic_t stop;

static void on_alarm(int sig)
{
	(void)sig;
	stop = 1;
}

static struct sockaddr_in loopback(int port)
{
	return (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
}

static int udp_bound(int port)
{
	struct sockaddr_in a = loopback(port);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		perror("relay_floor: socket");
		exit(1);
	}
	return fd;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- generator */

static void generate(int seconds)
{
	int *fd = calloc((size_t)legs, sizeof(int)), ep = epoll_create1(0);
	char pkt[172] = { (char)0x80, 8 }, buf[BUF];
	struct timespec next;

	for (int i = 0; i < legs; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)i };

		fd[i] = udp_bound(BASE_PORT + PHONE_OFFSET + i);
		epoll_ctl(ep, EPOLL_CTL_ADD, fd[i], &e);
	}
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (int slice = 0; slice < seconds * 500; slice++) {
		struct epoll_event evs[256];
		int n;

		for (int i = slice % 10; i < legs; i += 10) {
			struct sockaddr_in to = loopback(BASE_PORT + i);

			sendto(fd[i], pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to));
		}
		n = epoll_wait(ep, evs, 256, 0);
		for (int k = 0; k < n; k++)
			while (recv(fd[evs[k].data.u32], buf, sizeof(buf), MSG_DONTWAIT) > 0)
				;
		next.tv_nsec += 2000000;
		if (next.tv_nsec >= 1000000000) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	_exit(0);
}

/* ---------------------------------------------------------------- relays */

static long relayed;

static void relay_mmsg(void)
{
	static char buf[BATCH][BUF];
	struct mmsghdr rx[BATCH], tx[BATCH];
	struct iovec riov[BATCH], tiov[BATCH];
	struct epoll_event evs[256];
	int ep = epoll_create1(0);

	for (int i = 0; i < legs; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)i };

		epoll_ctl(ep, EPOLL_CTL_ADD, relay_fd[i], &e);
	}
	while (!stop) {
		int n = epoll_wait(ep, evs, 256, 100);

		for (int k = 0; k < n; k++) {
			int i = (int)evs[k].data.u32, p = i ^ 1, r;

			for (int j = 0; j < BATCH; j++) {
				riov[j] = (struct iovec){ buf[j], BUF };
				rx[j].msg_hdr = (struct msghdr){ .msg_iov = &riov[j], .msg_iovlen = 1 };
			}
			r = recvmmsg(relay_fd[i], rx, BATCH, MSG_DONTWAIT, NULL);
			for (int j = 0; j < r; j++) {
				tiov[j] = (struct iovec){ buf[j], rx[j].msg_len };
				tx[j].msg_hdr = (struct msghdr){ .msg_name = &phone[p],
								 .msg_namelen = sizeof(phone[p]),
								 .msg_iov = &tiov[j],
								 .msg_iovlen = 1 };
			}
			if (r > 0 && sendmmsg(relay_fd[p], tx, (unsigned)r, MSG_DONTWAIT) > 0)
				relayed += r;
		}
	}
}

struct uring_leg {
	struct msghdr rmh, smh;
	struct iovec riov, siov;
	char buf[BUF];
};

/* user_data: leg << 1 | (1 for a send) */
static void uring_recv(struct io_uring *ring, struct uring_leg *l, int i)
{
	struct io_uring_sqe *e = io_uring_get_sqe(ring);

	if (!e) {
		io_uring_submit(ring);
		e = io_uring_get_sqe(ring);
	}
	io_uring_prep_recvmsg(e, relay_fd[i], &l[i].rmh, 0);
	io_uring_sqe_set_data64(e, (uint64_t)i << 1);
}

static void relay_uring(void)
{
	struct io_uring ring;
	struct uring_leg *l = calloc((size_t)legs, sizeof(*l));

	if (!l || io_uring_queue_init(8192, &ring, 0) != 0) {
		fprintf(stderr, "relay_floor: no io_uring here\n");
		exit(1);
	}
	for (int i = 0; i < legs; i++) {
		l[i].riov = (struct iovec){ l[i].buf, BUF };
		l[i].rmh = (struct msghdr){ .msg_iov = &l[i].riov, .msg_iovlen = 1 };
		uring_recv(&ring, l, i);
	}
	while (!stop) {
		struct __kernel_timespec wait = { 0, 100000000 };
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;

		io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &wait, NULL);
		io_uring_for_each_cqe(&ring, head, cqe) {
			uint64_t d = cqe->user_data;
			int i = (int)(d >> 1), p = i ^ 1;
			struct io_uring_sqe *e;

			seen++;
			if ((d & 1) || cqe->res <= 0) { /* a send done, or nothing read */
				relayed += (d & 1) && cqe->res > 0;
				uring_recv(&ring, l, i);
				continue;
			}
			l[i].siov = (struct iovec){ l[i].buf, (size_t)cqe->res };
			l[i].smh = (struct msghdr){ .msg_name = &phone[p],
						    .msg_namelen = sizeof(phone[p]),
						    .msg_iov = &l[i].siov,
						    .msg_iovlen = 1 };
			e = io_uring_get_sqe(&ring);
			if (!e) {
				io_uring_submit(&ring);
				e = io_uring_get_sqe(&ring);
			}
			io_uring_prep_sendmsg(e, relay_fd[p], &l[i].smh, MSG_DONTWAIT);
			io_uring_sqe_set_data64(e, d | 1);
		}
		io_uring_cq_advance(&ring, seen);
	}
}

int main(int argc, char **argv)
{
	int calls, seconds = 14;
	struct rusage r0, r1;
	double t0, t1;
	pid_t gen;

	if (argc < 3 || (strcmp(argv[1], "mmsg") && strcmp(argv[1], "uring")) ||
	    (calls = atoi(argv[2])) <= 0 || calls > 5000) {
		fprintf(stderr, "usage: relay_floor mmsg|uring CALLS\n");
		return 2;
	}
	legs = 2 * calls;
	relay_fd = calloc((size_t)legs, sizeof(int));
	phone = calloc((size_t)legs, sizeof(*phone));
	for (int i = 0; i < legs; i++) {
		relay_fd[i] = udp_bound(BASE_PORT + i);
		phone[i] = loopback(BASE_PORT + PHONE_OFFSET + i);
	}
	gen = fork();
	if (gen == 0)
		generate(seconds);
	/* measure from second 2 to second 12 of the run */
	signal(SIGALRM, on_alarm);
	alarm(2);
	if (!strcmp(argv[1], "uring"))
		relay_uring();
	else
		relay_mmsg();
	stop = 0;
	getrusage(RUSAGE_SELF, &r0);
	t0 = now_s();
	relayed = 0;
	alarm(10);
	if (!strcmp(argv[1], "uring"))
		relay_uring();
	else
		relay_mmsg();
	getrusage(RUSAGE_SELF, &r1);
	t1 = now_s();
	kill(gen, SIGTERM);
	waitpid(gen, NULL, 0);
	{
		double user = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
			      (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6;
		double sys = (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
			     (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
		double cpu = 100 * (user + sys) / (t1 - t0);

		printf("%s %d calls: %.1f%% of a core (user %.1f%%, system %.1f%%), %.3f%% per call, "
		       "%.0f packets relayed/s (expected %d)\n",
		       argv[1], calls, cpu, 100 * user / (t1 - t0), 100 * sys / (t1 - t0),
		       cpu / calls, relayed / (t1 - t0), legs * 50);
	}
	return 0;
}

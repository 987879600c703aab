/*
 * Baselines of the named-pipe scenarios (issue 7 item 6), no apcrt: the
 * same exchanges as bench-npipe over a raw Unix-domain socket pair
 * (socketpair), with blocking read and write on both ends -- what a named
 * pipe is on POSIX under apcrt, without apcrt.
 *
 * npipe-rr: a server thread reads a 64-byte request and writes a 64-byte
 * reply, a client thread writes the request and reads the reply, round
 * after round, with bench-npipe's counts, numbering, checks and clock
 * (bench_pp, the client's).  Two kinds of socket:
 *  unix-stream	SOCK_STREAM (each side reads until it has 64 bytes): the
 *		baseline of the target;
 *  unix-seqpacket	SOCK_SEQPACKET (one read, one message), for
 *		reference: the kernel keeps the message boundaries, as a
 *		message-mode pipe must.
 *
 * npipe-stream: the client thread writes 64 KiB chunks with blocking
 * write (each to its end), the server thread reads with blocking read of
 * up to 64 KiB, the volume, stream content, checks and clock of
 * bench-npipe (impl unix-stream).  The sockets keep the system's default
 * buffer sizes.
 *
 * Threads pinned as bench-npipe's: the server as role 0, the client as
 * role 1.  Linux only.
 */
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "bench.h"

#define RR_ITERS 10000u
#define ST_CHUNKS 32768u

#include "npipebench.h"

/* Write all n bytes of buf to fd (blocking). */
static void write_all(const char *who, int fd, const unsigned char *buf,
		      size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			bench_fail("%s: write: %s", who,
				   w < 0 ? strerror(errno) : "0 bytes");
		buf += w;
		n -= (size_t)w;
	}
}

/*
 * Read one message of want bytes from fd into buf (cap bytes): on a
 * stream socket until want bytes arrived, on a packet socket one read,
 * which must bring exactly want.
 */
static void read_msg(const char *who, int fd, int stream, unsigned char *buf,
		     size_t cap, size_t want)
{
	size_t got = 0;

	do {
		ssize_t r = read(fd, buf + got, stream ? want - got : cap);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			bench_fail("%s: read: %s", who,
				   r < 0 ? strerror(errno) : "end of stream");
		got += (size_t)r;
		if (!stream && got != want)
			bench_fail("%s: a message of %zu bytes, expected %zu",
				   who, got, want);
	} while (got < want);
}

/* Pin the caller as role, then wait for the other thread to be there. */
static void start_line(atomic_int *ready, int role)
{
	bench_pin(role);
	atomic_fetch_add(ready, 1);
	while (atomic_load(ready) < 2)
		bench_yield();
}

static void pair(int type, int sv[2])
{
	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) != 0)
		bench_fail("socketpair: %s", strerror(errno));
}

/* ---- npipe-rr ----------------------------------------------------------- */

static struct {
	const char *impl;
	int stream;
	bool epoll; /* the server waits in epoll_wait (unix-stream-epoll) */
	int fd[2];  /* the server's, the client's */
	struct bench_pp pp;
} rr;

/*
 * unix-stream-epoll: the server's read as an event loop does it (and as
 * apcrt's engines do): try without blocking, and on EAGAIN wait in
 * epoll_wait for the socket to be readable.
 */
static void read_msg_epoll(int fd, int ep, unsigned char *buf, size_t want)
{
	size_t got = 0;

	while (got < want) {
		ssize_t r = recv(fd, buf + got, want - got, MSG_DONTWAIT);
		struct epoll_event e;

		if (r > 0) {
			got += (size_t)r;
		} else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (epoll_wait(ep, &e, 1, -1) < 0 && errno != EINTR)
				bench_fail("epoll_wait: %s", strerror(errno));
		} else {
			bench_fail("%s npipe-rr: server read: %s", rr.impl,
				   r < 0 ? strerror(errno) : "end of stream");
		}
	}
}

static void *rr_server(void *arg)
{
	unsigned char req[RR_BUF], rep[RR_MSG];
	struct epoll_event e = {.events = EPOLLIN};
	int ep = -1;
	uint64_t i;

	(void)arg;
	memset(rep, 0, sizeof(rep));
	if (rr.epoll) {
		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, rr.fd[0], &e) < 0)
			bench_fail("epoll: %s", strerror(errno));
	}
	bench_pp_start(&rr.pp, 0);
	for (i = 0; i < rr.pp.total; i++) {
		if (rr.epoll)
			read_msg_epoll(rr.fd[0], ep, req, RR_MSG);
		else
			read_msg(rr.impl, rr.fd[0], rr.stream, req, sizeof(req),
				 RR_MSG);
		if (get64(req) != i || get64(req + 8) != RR_TAG_REQ)
			bench_fail("%s npipe-rr: server: request %ju: number "
				   "%ju",
				   rr.impl, (uintmax_t)i,
				   (uintmax_t)get64(req));
		put64(req, ~(uint64_t)0);
		put64(rep, i);
		put64(rep + 8, RR_TAG_REP ^ i);
		write_all(rr.impl, rr.fd[0], rep, RR_MSG);
		rr.pp.seen_b = i + 1;
	}
	if (ep >= 0)
		close(ep);
	return NULL;
}

static void *rr_client(void *arg)
{
	unsigned char req[RR_MSG], rep[RR_BUF];

	(void)arg;
	bench_pp_start(&rr.pp, 1);
	memset(req, 0x5a, sizeof(req));
	put64(req + 8, RR_TAG_REQ);
	do {
		const uint64_t i = rr.pp.rounds;

		put64(req, i);
		write_all(rr.impl, rr.fd[1], req, RR_MSG);
		read_msg(rr.impl, rr.fd[1], rr.stream, rep, sizeof(rep),
			 RR_MSG);
		if (get64(rep) != i || get64(rep + 8) != (RR_TAG_REP ^ i))
			bench_fail("%s npipe-rr: client: reply %ju: number "
				   "%ju",
				   rr.impl, (uintmax_t)i,
				   (uintmax_t)get64(rep));
		put64(rep, ~(uint64_t)0);
	} while (!bench_pp_round(&rr.pp));
	return NULL;
}

static void run_rr(const struct bench_args *a, const char *impl, int type,
		   bool epoll)
{
	memset(&rr, 0, sizeof(rr));
	rr.impl = impl;
	rr.stream = type == SOCK_STREAM;
	rr.epoll = epoll;
	pair(type, rr.fd);
	bench_pp_init(&rr.pp, bench_iters(a, RR_ITERS));
	bench_run_pair(rr_server, rr_client);
	close(rr.fd[0]);
	close(rr.fd[1]);
	bench_pp_report_as(&rr.pp, "npipe-rr", impl, "round trips/requests",
			   rr.pp.total);
}

/* ---- npipe-stream ------------------------------------------------------- */

static struct {
	const char *impl;
	int fd[2];
	uint64_t chunks;
	uint64_t warm, total;
	uint64_t got, got0;
	uint64_t t0, t1;
	atomic_int ready;
} sm;

static void *sm_server(void *arg)
{
	unsigned char *buf = malloc(ST_CHUNK);
	int timed = 0;

	(void)arg;
	if (buf == NULL)
		bench_fail("out of memory");
	memset(buf, 0, ST_CHUNK);
	start_line(&sm.ready, 0);
	while (sm.got < sm.total) {
		ssize_t r = read(sm.fd[0], buf, ST_CHUNK);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || sm.got + (uint64_t)r > sm.total)
			bench_fail("%s npipe-stream: read at %ju: %s", sm.impl,
				   (uintmax_t)sm.got,
				   r < 0    ? strerror(errno)
				   : r == 0 ? "end of stream"
					    : "too many bytes");
		np_check(sm.impl, buf, (uint32_t)r, sm.got);
		sm.got += (uint64_t)r;
		if (!timed && sm.got >= sm.warm) {
			timed = 1;
			sm.t0 = bench_now_ns();
			sm.got0 = sm.got;
		}
	}
	sm.t1 = bench_now_ns();
	free(buf);
	return NULL;
}

static void *sm_client(void *arg)
{
	unsigned char *pat = malloc(ST_CHUNK);
	uint64_t c;
	uint32_t k;

	(void)arg;
	if (pat == NULL)
		bench_fail("out of memory");
	for (k = 0; k < ST_CHUNK; k += 8)
		put64(pat + k, np_word(k));
	start_line(&sm.ready, 1);
	for (c = 0; c < sm.chunks; c++) {
		put64(pat, c);
		write_all(sm.impl, sm.fd[1], pat, ST_CHUNK);
	}
	free(pat);
	return NULL;
}

static void run_stream(const struct bench_args *a, const char *impl)
{
	const uint64_t n = bench_iters(a, ST_CHUNKS);

	memset(&sm, 0, sizeof(sm));
	atomic_init(&sm.ready, 0);
	sm.impl = impl;
	sm.chunks = bench_warmup(n) + n;
	sm.warm = bench_warmup(n) * ST_CHUNK;
	sm.total = sm.chunks * ST_CHUNK;
	pair(SOCK_STREAM, sm.fd);
	bench_run_pair(sm_server, sm_client);
	close(sm.fd[0]);
	close(sm.fd[1]);
	bench_check_count(impl, sm.got, "bytes read", sm.total);
	bench_result("npipe-stream", impl,
		     (double)(sm.total - sm.got0) * 1e3 /
			     (double)(sm.t1 - sm.t0 ? sm.t1 - sm.t0 : 1),
		     BENCH_MBS);
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);

	run_rr(&a, "unix-stream", SOCK_STREAM, false);
	run_rr(&a, "unix-stream-epoll", SOCK_STREAM, true);
	run_rr(&a, "unix-seqpacket", SOCK_SEQPACKET, false);
	run_stream(&a, "unix-stream");
	return 0;
}

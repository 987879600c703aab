/*
 * Raw eventfd ping-pong, a baseline of issue 3 item 8(b), no apcrt.
 *
 * Each of two threads blocks in read() on its own eventfd and answers
 * with write() on the other's: two cross-thread wake-ups per round trip,
 * through the file layer instead of a bare futex.  Prints ns per round
 * trip.
 */
#include <sys/eventfd.h>

#include "bench.h"

#define PP_ITERS 20000u

static struct {
	int fd[2];
	struct bench_pp r;
} pp;

static uint64_t get(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		if (errno != EINTR)
			bench_fail("eventfd read: %s", strerror(errno));
	return v;
}

static void put(int fd, uint64_t v)
{
	while (write(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		if (errno != EINTR)
			bench_fail("eventfd write: %s", strerror(errno));
}

static void *thread_a(void *arg)
{
	(void)arg;
	bench_pp_start(&pp.r, 0);
	for (;;) {
		if (get(pp.fd[0]) != 1)
			bench_fail("eventfd pingpong: counter not 1");
		if (bench_pp_round(&pp.r)) {
			put(pp.fd[1], 2); /* stop */
			return NULL;
		}
		put(pp.fd[1], 1);
	}
}

static void *thread_b(void *arg)
{
	(void)arg;
	bench_pp_start(&pp.r, 1);
	put(pp.fd[0], 1); /* B serves first: B -> A -> B */
	for (;;) {
		uint64_t v = get(pp.fd[1]);

		if (v == 2)
			return NULL;
		if (v != 1)
			bench_fail("eventfd pingpong: counter not 1");
		pp.r.seen_b++;
		put(pp.fd[0], 1);
	}
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);

	bench_pp_init(&pp.r, bench_iters(&a, PP_ITERS));
	pp.fd[0] = eventfd(0, EFD_CLOEXEC);
	pp.fd[1] = eventfd(0, EFD_CLOEXEC);
	if (pp.fd[0] < 0 || pp.fd[1] < 0)
		bench_fail("eventfd: %s", strerror(errno));
	bench_run_pair(thread_a, thread_b);
	close(pp.fd[0]);
	close(pp.fd[1]);
	bench_pp_report(&pp.r, "eventfd", "rounds", pp.r.total - 1);
	return 0;
}

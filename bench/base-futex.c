/*
 * Raw futex ping-pong, the floor of issue 3 item 8(b), no apcrt.
 *
 * Two threads share one word that says whose turn it is.  Each waits with
 * FUTEX_WAIT while the turn is the other's, then hands the turn over with
 * a store and a FUTEX_WAKE.  No spinning, no queue: the cost of two
 * cross-thread futex wake-ups per round trip.  Prints ns per round trip.
 */
#include "bench.h"

#define PP_ITERS 20000u

enum { TURN_A = 0, TURN_B = 1, TURN_STOP = 2 };

static struct {
	_Alignas(64) atomic_uint turn;
	struct bench_pp r;
} pp;

static void *thread_a(void *arg)
{
	(void)arg;
	bench_pp_start(&pp.r, 0);
	for (;;) {
		unsigned int t;

		while ((t = atomic_load(&pp.turn)) != TURN_A)
			bench_futex_wait(&pp.turn, t);
		if (bench_pp_round(&pp.r)) {
			atomic_store(&pp.turn, TURN_STOP);
			bench_futex_wake(&pp.turn, 1);
			return NULL;
		}
		atomic_store(&pp.turn, TURN_B);
		bench_futex_wake(&pp.turn, 1);
	}
}

static void *thread_b(void *arg)
{
	(void)arg;
	bench_pp_start(&pp.r, 1);
	/* B serves first: a round trip is B -> A -> B. */
	atomic_store(&pp.turn, TURN_A);
	bench_futex_wake(&pp.turn, 1);
	for (;;) {
		unsigned int t;

		while ((t = atomic_load(&pp.turn)) == TURN_A)
			bench_futex_wait(&pp.turn, t);
		if (t == TURN_STOP)
			return NULL;
		pp.r.seen_b++;
		atomic_store(&pp.turn, TURN_A);
		bench_futex_wake(&pp.turn, 1);
	}
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);

	bench_pp_init(&pp.r, bench_iters(&a, PP_ITERS));
	atomic_init(&pp.turn, TURN_B); /* nobody's: B hands it to A */
	bench_run_pair(thread_a, thread_b);
	bench_pp_report(&pp.r, "futex", "rounds", pp.r.total - 1);
	return 0;
}

/*
 * apcrt, scenario (b) of issue 3 item 8: cross-thread APC ping-pong.
 *
 * Two threads from apc_thread_create() each take a real handle to
 * themselves with apc_thread_self() and then sleep in
 * apc_sleep(APC_INFINITE, true) loops.  B serves first; each APC queues
 * the next one to the other thread: B -> A -> B is one round trip.  After
 * the last round A queues a stop APC to B.  Prints ns per round trip.
 * Baselines: base-futex, base-eventfd, base-libuv (and base-winpr, which
 * cannot do it).
 */
#include "bench-apc.h"

/* Under Wine (bench/run --wine) a round trip takes about 90 us. */
#ifdef _WIN32
#define PP_ITERS 8000u
#else
#define PP_ITERS 20000u
#endif

static struct {
	apc_handle self[2]; /* from apc_thread_self() */
	atomic_int stop[2];
	struct bench_pp r; /* rounds: A's APCs; seen_b: B's APCs */
} pp;

static void stop_fn(uintptr_t data)
{
	(void)data;
	atomic_store(&pp.stop[1], 1);
}

static void b_fn(uintptr_t data);

static void a_fn(uintptr_t data)
{
	(void)data;
	if (bench_pp_round(&pp.r)) {
		atomic_store(&pp.stop[0], 1);
		bench_apc_queue(pp.self[1], stop_fn, 0);
		return;
	}
	bench_apc_queue(pp.self[1], b_fn, 0);
}

static void b_fn(uintptr_t data)
{
	(void)data;
	pp.r.seen_b++;
	bench_apc_queue(pp.self[0], a_fn, 0);
}

static uint32_t pp_thread(void *arg)
{
	int self = (int)(intptr_t)arg;
	uint32_t st = apc_thread_self(&pp.self[self]);

	if (st != APC_ERROR_SUCCESS)
		bench_fail("apc_thread_self: status %u", st);
	bench_pp_start(&pp.r, self);
	if (self == 1)
		bench_apc_queue(pp.self[0], a_fn, 0);
	while (!atomic_load(&pp.stop[self]))
		bench_apc_sleep();
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);
	apc_handle th[2];
	int i;

	bench_pp_init(&pp.r, bench_iters(&a, PP_ITERS));
	for (i = 0; i < 2; i++)
		th[i] = bench_apc_thread(pp_thread, (void *)(intptr_t)i);
	for (i = 0; i < 2; i++) {
		bench_apc_join(th[i], "a thread");
		bench_apc_close(pp.self[i]);
	}
	bench_pp_report(&pp.r, "apcrt", "APCs ran", pp.r.total - 1);
	return 0;
}

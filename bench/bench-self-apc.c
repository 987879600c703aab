/*
 * apcrt, scenario (a) of issue 3 item 8: self-APC.
 *
 * The calling thread queues an APC to itself with
 * apc_queue(APC_CURRENT_THREAD, fn, i) and runs it with an alertable
 * apc_sleep(0, true), which must return APC_WAIT_IO_COMPLETION.  Prints
 * ns per queue-and-run.  Baselines: base-winpr (QueueUserAPC + SleepEx)
 * and base-mpsc (the bare queue).
 */
#include "bench-apc.h"

/*
 * On Windows (bench/run --wine: under Wine) a queue and a sleep are each
 * a request to the wineserver, about 150 us a self-APC: fewer iterations
 * keep the run near 1 s.
 */
#ifdef _WIN32
#define SELF_ITERS 5000u
#else
#define SELF_ITERS 5000000u
#endif

static uint64_t count;

static void self_fn(uintptr_t data)
{
	bench_check_seq("apcrt self", data, count);
	count++;
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);
	uint64_t n = bench_iters(&a, SELF_ITERS);
	uint64_t warm = bench_warmup(n), i, t0 = 0, t1;
	uint32_t st;

	for (i = 0; i < warm + n; i++) {
		if (i == warm)
			t0 = bench_now_ns();
		bench_apc_queue(APC_CURRENT_THREAD, self_fn, (uintptr_t)i);
		st = apc_sleep(0, true);
		if (st != APC_WAIT_IO_COMPLETION)
			bench_fail("apc_sleep(0, true) returned %#x, not "
				   "APC_WAIT_IO_COMPLETION",
				   st);
	}
	t1 = bench_now_ns();
	bench_check_count("apcrt self", count, "APCs ran", warm + n);
	bench_result_ns("self-apc", "apcrt", t1 - t0, n);
	return 0;
}

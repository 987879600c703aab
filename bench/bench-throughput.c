/*
 * apcrt, scenario (c) of issue 3 item 8: one-way throughput.
 *
 * The main thread queues APCs, as fast as apc_queue() takes them, to one
 * consumer thread from apc_thread_create() that loops in
 * apc_sleep(APC_INFINITE, true).  Each APC checks that it runs in the
 * order queued.  After a warm-up the producer waits for the consumer to
 * catch up, then times n APCs from the first apc_queue() to the end of
 * the last APC.  Prints millions of APCs per second.  Baselines:
 * base-libuv (mutex-protected list + uv_async_send) and base-mpsc (the
 * bare queue with a futex doorbell).
 */
#include "bench-apc.h"

/* Under Wine (bench/run --wine) one APC takes about 40 us. */
#ifdef _WIN32
#define TPUT_ITERS 20000u
#else
#define TPUT_ITERS 2000000u
#endif

static struct bench_tput tp;
static atomic_int ready;

static void tput_fn(uintptr_t data)
{
	bench_tput_deliver(&tp, data);
}

static uint32_t consumer(void *arg)
{
	(void)arg;
	bench_pin(1);
	atomic_store(&ready, 1);
	while (bench_tput_pending(&tp))
		bench_apc_sleep();
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);
	uint64_t n = bench_iters(&a, TPUT_ITERS);
	uint64_t warm = bench_warmup(n), i, t0 = 0;
	apc_handle th;

	bench_tput_init(&tp, warm + n, "apcrt throughput");
	th = bench_apc_thread(consumer, NULL);
	while (!atomic_load(&ready))
		bench_yield();
	bench_pin(0);
	for (i = 0; i < warm + n; i++) {
		if (i == warm)
			t0 = bench_tput_catch_up(&tp, warm);
		bench_apc_queue(th, tput_fn, (uintptr_t)i);
	}
	bench_apc_join(th, "the consumer");
	bench_tput_report(&tp, "apcrt", "APCs ran", t0, n);
	return 0;
}

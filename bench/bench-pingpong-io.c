/*
 * apcrt, issue 6: the cross-thread APC ping-pong of bench-pingpong while
 * each thread has a read pending.
 *
 * As bench-pingpong (scenario (b)): two threads from apc_thread_create()
 * take real handles to themselves and sleep in apc_sleep(APC_INFINITE,
 * true) loops; B serves first, each APC queues the next one to the other
 * thread, B -> A -> B is one round trip, same counts, same clock.  But
 * before the ping-pong each thread makes its own anonymous pipe
 * (apc_pipe_create) and starts a 1-byte apc_read_ex on it, which nobody
 * writes to: the read stays pending throughout.  On the io_uring engine a
 * thread with an operation in flight on its ring sleeps in io_uring_enter
 * rather than on its futex, and the other thread wakes it through the
 * ring's eventfd: this measures that path.  At the end each thread
 * cancels its read (apc_cancel_io) and sleeps until its completion
 * routine has run with APC_ERROR_OPERATION_ABORTED; a routine that runs
 * before that is a failure (the read finished without data).
 *
 * Prints pingpong-io (ns per round trip) for apcrt (apcrt-fallback on
 * the fallback engine, as bench-fileread); bench/run shows it
 * next to the plain APC ping-pong (bench-pingpong) and its raw futex
 * floor (base-futex), and runs it also with APC_ENGINE=fallback.
 * Linux only: Windows' anonymous pipes take no overlapped reads.
 */
#include <stddef.h>

#include "bench-apc.h"

/* As bench-pingpong. */
#define PP_ITERS 20000u

#define container_of(p, type, member)                                          \
	((type *)(void *)((char *)(p)-offsetof(type, member)))

/* A thread's pending read. */
struct pending {
	apc_overlapped ov;
	apc_handle rd, wr; /* its pipe */
	unsigned char buf[8];
	int self;
	int done; /* its routine ran */
	uint32_t error, bytes;
};

static struct {
	apc_handle self[2]; /* from apc_thread_self() */
	atomic_int stop[2];
	struct pending io[2];
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

static void io_fn(uint32_t error, uint32_t bytes, apc_overlapped *ov)
{
	struct pending *p = container_of(ov, struct pending, ov);

	if (!atomic_load(&pp.stop[p->self]))
		bench_fail("apcrt: thread %d: pending read finished during the "
			   "ping-pong (error %u, %u bytes)",
			   p->self, error, bytes);
	p->error = error;
	p->bytes = bytes;
	p->done = 1;
}

/* Make thread self's pipe and start its read. */
static void io_start(int self)
{
	struct pending *p = &pp.io[self];
	uint32_t st;

	p->self = self;
	st = apc_pipe_create(&p->rd, &p->wr, 0);
	if (st != APC_ERROR_SUCCESS)
		bench_fail("apc_pipe_create: status %u", st);
	st = apc_read_ex(p->rd, p->buf, 1, &p->ov, io_fn);
	if (st != APC_ERROR_SUCCESS)
		bench_fail("apc_read_ex on an empty pipe: status %u", st);
	if (apc_overlapped_done(&p->ov))
		bench_fail("apc_read_ex on an empty pipe finished at once "
			   "(status %#jx)",
			   (uintmax_t)p->ov.Internal);
}

/* After the ping-pong: cancel the read and let its routine run. */
static void io_end(int self)
{
	struct pending *p = &pp.io[self];
	uint32_t st = apc_cancel_io(p->rd);

	if (st != APC_ERROR_SUCCESS)
		bench_fail("apc_cancel_io: status %u", st);
	while (!p->done)
		bench_apc_sleep();
	if (p->error != APC_ERROR_OPERATION_ABORTED || p->bytes != 0)
		bench_fail("apcrt: thread %d: cancelled read ended with error "
			   "%u, %u bytes (expected %u, 0)",
			   self, p->error, p->bytes,
			   APC_ERROR_OPERATION_ABORTED);
	bench_apc_close(p->rd);
	bench_apc_close(p->wr);
}

static uint32_t pp_thread(void *arg)
{
	int self = (int)(intptr_t)arg;
	uint32_t st = apc_thread_self(&pp.self[self]);

	if (st != APC_ERROR_SUCCESS)
		bench_fail("apc_thread_self: status %u", st);
	io_start(self);
	bench_pp_start(&pp.r, self);
	if (self == 1)
		bench_apc_queue(pp.self[0], a_fn, 0);
	while (!atomic_load(&pp.stop[self]))
		bench_apc_sleep();
	io_end(self);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);
	const char *engine = apc_io_engine();
	const char *impl = "apcrt";
	apc_handle th[2];
	int i;

	if (engine == NULL) {
		bench_na("pingpong-io", "apcrt",
			 "APC_ENGINE names an engine not available here");
		return 0;
	}
	/* (as bench-fileread: apcrt is the io_uring engine) */
	if (strcmp(engine, "fallback") == 0) {
		const char *want = getenv("APC_ENGINE");

		impl = "apcrt-fallback";
		if (want == NULL || strcmp(want, "fallback") != 0)
			bench_na("pingpong-io", "apcrt",
				 "io_uring not available (engine fallback)");
	}
	bench_pp_init(&pp.r, bench_iters(&a, PP_ITERS));
	for (i = 0; i < 2; i++)
		th[i] = bench_apc_thread(pp_thread, (void *)(intptr_t)i);
	for (i = 0; i < 2; i++) {
		bench_apc_join(th[i], "a thread");
		bench_apc_close(pp.self[i]);
	}
	bench_pp_report_as(&pp.r, "pingpong-io", impl, "APCs ran",
			   pp.r.total - 1);
	return 0;
}

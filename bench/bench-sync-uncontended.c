/*
 * apcrt, dispatcher objects without contention: one thread, never a
 * waiter, so every call takes its fast path.
 *
 * sync-event apcrt: apc_event_set() on an auto-reset event, then
 *	apc_wait() on it (SetEvent, WaitForSingleObject), which must return
 *	WAIT_OBJECT_0 at once and reset the event.  ns per set+wait.
 * sync-mutex apcrt: apc_wait() on an unowned mutex, then
 *	apc_mutex_release() (WaitForSingleObject, ReleaseMutex).  ns per
 *	acquire+release.
 *
 * At the end each object must be back where it started: the event
 * unsignalled (a zero-timeout wait times out), the mutex unowned (a
 * release fails with ERROR_NOT_OWNER).  Baselines: base-sync (a raw futex
 * auto-reset event, a raw futex mutex, pthread_mutex) and base-winpr.
 */
#include "bench-apc.h"

/* Under Wine (bench/run --wine) each call is a wineserver request. */
#ifdef _WIN32
#define EVENT_ITERS 3000u
#define MUTEX_ITERS 3000u
#else
#define EVENT_ITERS 2000000u
#define MUTEX_ITERS 2000000u
#endif

static void bench_event(uint64_t n)
{
	struct bench_loop l = bench_loop_init(n);
	apc_handle ev = bench_apc_event(false, false);
	uint32_t r;
	uint64_t i;

	for (i = 0; i < l.total; i++) {
		bench_loop_tick(&l, i);
		bench_apc_event_set(ev);
		bench_apc_wait(ev);
	}
	bench_loop_report(&l, "sync-event", "apcrt");
	r = apc_wait(ev, 0, false, NULL);
	if (r != APC_WAIT_TIMEOUT)
		bench_fail("sync-event: the auto-reset event stayed signalled "
			   "(wait returned %#x)",
			   r);
	bench_apc_close(ev);
}

static void bench_mutex(uint64_t n)
{
	struct bench_loop l = bench_loop_init(n);
	apc_handle m = bench_apc_mutex();
	uint32_t st;
	uint64_t i;

	for (i = 0; i < l.total; i++) {
		bench_loop_tick(&l, i);
		bench_apc_wait(m);
		bench_apc_mutex_release(m);
	}
	bench_loop_report(&l, "sync-mutex", "apcrt");
	st = apc_mutex_release(m);
	if (st != APC_ERROR_NOT_OWNER)
		bench_fail("sync-mutex: the mutex is still owned (release "
			   "returned %u)",
			   st);
	bench_apc_close(m);
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);

	bench_event(bench_iters(&a, EVENT_ITERS));
	bench_mutex(bench_iters(&a, MUTEX_ITERS));
	return 0;
}

/*
 * apcrt, scenario (d): a periodic 1 ms waitable timer with a completion
 * routine.
 *
 * The main thread creates a timer, reads the clock (t0) and sets it with
 * apc_timer_set(due -10000: 1 ms from now, period 1 ms, routine), then
 * sleeps in apc_sleep(APC_INFINITE, true) until the routine has run the
 * warm-up plus TIMER_FIRINGS times.  The routine reads the clock first
 * thing; its lateness is that time minus the due time of the earliest
 * expiry the call answers for (bench_timer_tick in bench.h: calls are
 * counted, not expiries, since an expiry while a call is still pending
 * queues none, and a call answering several expiries is charged from
 * the first of them).  Prints the p50 and p99 lateness in microseconds
 * (timer-p50, timer-p99).  Baseline: base-timer (a timerfd read loop).
 */
#include "bench-apc.h"

/* 2 s at scale 1, plus the warm-up. */
#define TIMER_FIRINGS 2000u

static struct bench_timer bt;

static void timer_fn(void *arg, uint32_t time_low, uint32_t time_high)
{
	(void)arg;
	(void)time_low;
	(void)time_high;
	bench_timer_tick(&bt, bench_now_ns(), "apcrt");
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);
	apc_handle timer;
	uint32_t st;

	st = apc_timer_create(false, &timer);
	if (st != APC_ERROR_SUCCESS)
		bench_fail("apc_timer_create: status %u", st);
	bench_timer_init(&bt, bench_iters(&a, TIMER_FIRINGS));
	bench_timer_start(&bt);
	st = apc_timer_set(timer, -(int64_t)(BENCH_TIMER_PERIOD_NS / 100),
			   (int32_t)(BENCH_TIMER_PERIOD_NS / 1000000), timer_fn,
			   NULL);
	if (st != APC_ERROR_SUCCESS)
		bench_fail("apc_timer_set: status %u", st);
	while (!bench_timer_done(&bt))
		bench_apc_sleep();
	st = apc_timer_cancel(timer);
	if (st != APC_ERROR_SUCCESS)
		bench_fail("apc_timer_cancel: status %u", st);
	bench_apc_close(timer);
	bench_timer_report(&bt, "apcrt");
	return 0;
}

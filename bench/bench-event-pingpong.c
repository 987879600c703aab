/*
 * apcrt, dispatcher objects: auto-reset event ping-pong between two
 * threads (SetEvent / WaitForSingleObject).
 *
 * Two threads from apc_thread_create() and two auto-reset events: ev[i]
 * says it is thread i's turn.  Each thread waits on its own event with
 * apc_wait(INFINITE, non-alertable) and answers with apc_event_set() on
 * the other's.  B serves first: B -> A -> B is one round trip.  After the
 * last round A raises stop and sets B's event once more.  Prints ns per
 * round trip.  Baselines: the raw futex ping-pong of base-futex (the
 * table reuses its pingpong row) and base-winpr (WinPR's events).
 */
#include "bench-apc.h"

/* Under Wine (bench/run --wine) each set and wait is a wineserver
 * request. */
#ifdef _WIN32
#define PP_ITERS 5000u
#else
#define PP_ITERS 20000u
#endif

static struct {
	apc_handle ev[2]; /* auto-reset; ev[i]: thread i's turn */
	atomic_int stop;
	struct bench_pp r; /* rounds: A's turns; seen_b: B's turns */
} pp;

static uint32_t pp_thread(void *arg)
{
	int self = (int)(intptr_t)arg;

	bench_pp_start(&pp.r, self);
	if (self == 0) {
		for (;;) {
			bench_apc_wait(pp.ev[0]);
			if (bench_pp_round(&pp.r)) {
				atomic_store(&pp.stop, 1);
				bench_apc_event_set(pp.ev[1]);
				return 0;
			}
			bench_apc_event_set(pp.ev[1]);
		}
	}
	bench_apc_event_set(pp.ev[0]);
	for (;;) {
		bench_apc_wait(pp.ev[1]);
		if (atomic_load(&pp.stop))
			return 0;
		pp.r.seen_b++;
		bench_apc_event_set(pp.ev[0]);
	}
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);
	apc_handle th[2];
	int i;

	bench_pp_init(&pp.r, bench_iters(&a, PP_ITERS));
	for (i = 0; i < 2; i++)
		pp.ev[i] = bench_apc_event(false, false);
	for (i = 0; i < 2; i++)
		th[i] = bench_apc_thread(pp_thread, (void *)(intptr_t)i);
	for (i = 0; i < 2; i++)
		bench_apc_join(th[i], "a thread");
	for (i = 0; i < 2; i++)
		bench_apc_close(pp.ev[i]);
	bench_pp_report_as(&pp.r, "event-pingpong", "apcrt", "turns",
			   pp.r.total - 1);
	return 0;
}

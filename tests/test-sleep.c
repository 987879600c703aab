/*
 * Alertable and non-alertable sleeps and waits on thread handles: return
 * codes, timing, which waits run APCs.
 *
 * Contract: B2-B5, B10-B13, B15, B24-B26, A10, A11, A14.
 *
 * Timing: lower bounds are strict (the monotonic clock, never early) and
 * come from t_floor_ms(): on Windows a sleep may end up to one clock tick
 * early (B24 [D]), never on POSIX (B24 [apcrt]).  Upper bounds are
 * generous (2-core CI) and scaled by t_slack().  Runs with
 * CRITERION_JOBS=1 and is_parallel false.
 */
#include <criterion/criterion.h>

#include <apc/apc.h>

#include "helpers.h"

TestSuite(apc_sleep, .timeout = 120);

/* Generous upper bound: base ms plus 2 s, times the slack factor. */
static double upper(double base_ms)
{
	return (base_ms + 2000.0) * t_slack();
}

/* ---- B2, B3, B4, B5 ------------------------------------------------------ */

Test(apc_sleep, B2_sleep_elapses_returns_0)
{
	uint64_t t0;
	double ms;

	t0 = t_now_ns();
	cr_assert_eq(apc_sleep(100, true), 0);
	ms = t_ms_since(t0);
	cr_assert_geq(ms, t_floor_ms(100), "slept %.3f ms", ms);
	cr_assert_leq(ms, upper(100), "slept %.3f ms", ms);

	t0 = t_now_ns();
	cr_assert_eq(apc_sleep(100, false), 0);
	ms = t_ms_since(t0);
	cr_assert_geq(ms, t_floor_ms(100), "slept %.3f ms", ms);
	cr_assert_leq(ms, upper(100), "slept %.3f ms", ms);
}

Test(apc_sleep, B2_sleep_with_apc_returns_io_completion_at_once)
{
	uint64_t t0;
	double ms;

	t_reset();
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	t0 = t_now_ns();
	cr_assert_eq(apc_sleep(60000, true), APC_WAIT_IO_COMPLETION);
	ms = t_ms_since(t0);
	cr_assert_eq(atomic_load(&t_apc_runs), 1);
	cr_assert_leq(ms, upper(0), "took %.3f ms", ms);
}

Test(apc_sleep, B3_zero_alertable)
{
	uint64_t t0;
	double ms;

	t_reset();
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&t_apc_runs), 2);

	t0 = t_now_ns();
	cr_assert_eq(apc_sleep(0, true), 0);
	ms = t_ms_since(t0);
	cr_assert_leq(ms, upper(0), "yield took %.3f ms", ms);
	cr_assert_eq(atomic_load(&t_apc_runs), 2);
}

Test(apc_sleep, B4_zero_non_alertable_runs_no_apc)
{
	t_reset();
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(apc_sleep(0, false), 0);
	cr_assert_eq(apc_sleep(0, false), 0);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&t_apc_runs), 1);
}

struct sleeper {
	atomic_uint ready;
	_Atomic uint64_t returned_ns;
	uint32_t ms;
	bool alertable;
	apc_handle object; /* NULL: apc_sleep; else apc_wait on it */
};

static uint32_t thread_sleeper(void *arg)
{
	struct sleeper *s = arg;
	uint32_t r;

	atomic_store(&s->ready, 1);
	if (s->object)
		r = apc_wait(s->object, s->ms, s->alertable, NULL);
	else
		r = apc_sleep(s->ms, s->alertable);
	atomic_store(&s->returned_ns, t_now_ns());
	return r;
}

Test(apc_sleep, B5_infinite_alertable_returns_after_apc)
{
	struct sleeper s = {.ms = APC_INFINITE, .alertable = true};
	uint32_t tid = 0;
	uint64_t tq;
	apc_handle h;

	t_reset();
	h = t_spawn_flags(thread_sleeper, &s, 0, &tid);
	cr_assert(t_spin_until(&s.ready, 1, T_WAIT_MS));
	/* Give it time to fall asleep (not needed for correctness). */
	cr_assert_eq(apc_sleep(100, false), 0);
	tq = t_now_ns();
	cr_assert_eq(apc_queue(h, t_apc_log, 1), 0);
	cr_assert_eq(t_join(h), APC_WAIT_IO_COMPLETION);
	t_assert_log_seq(1, 1, tid);
	cr_assert_geq(atomic_load(&s.returned_ns), tq,
		      "the infinite sleep returned before the APC");
	cr_assert_leq((double)(atomic_load(&s.returned_ns) - tq) / 1e6,
		      upper(0), "not woken promptly");
}

/* ---- B10, B11, A10: objects, then APCs, then the timeout ----------------- */

static uint32_t thread_return_0(void *arg)
{
	(void)arg;
	return 0;
}

Test(apc_sleep, A10_B10_signalled_object_wins_apc_stays_queued)
{
	apc_handle ended = t_spawn(thread_return_0, NULL);
	uint32_t err = T_POISON;

	t_reset();
	cr_assert_eq(t_wait_exit(ended), 0);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);

	/* Non-alertable: the APC is not delivered. */
	cr_assert_eq(apc_wait(ended, 0, false, &err), APC_WAIT_OBJECT_0);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);
	/* Alertable: the object is checked first (B10). */
	cr_assert_eq(apc_wait(ended, 0, true, &err), APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_wait(ended, 100, true, &err), APC_WAIT_OBJECT_0);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);
	cr_assert_eq(err, T_POISON);

	/* Still queued: the next alertable wait runs it. */
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&t_apc_runs), 1);
	cr_assert_eq(apc_close(ended), 0);
}

Test(apc_sleep, B11_zero_timeout_alertable_wait_runs_apcs)
{
	atomic_uint gate = 0;
	apc_handle h = t_spawn(t_thread_gated, &gate);
	uint32_t err = T_POISON;

	t_reset();
	cr_assert_eq(apc_wait(h, 0, true, &err), APC_WAIT_TIMEOUT);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(apc_wait(h, 0, true, &err), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&t_apc_runs), 1);
	cr_assert_eq(apc_wait(h, 0, true, &err), APC_WAIT_TIMEOUT);
	cr_assert_eq(err, T_POISON);
	atomic_store(&gate, 1);
	cr_assert_eq(t_join(h), 0);
}

Test(apc_sleep, B12_alertable_wait_woken_by_apc)
{
	atomic_uint gate = 0;
	apc_handle running = t_spawn(t_thread_gated, &gate);
	struct sleeper s = {.ms = 20000, .alertable = true, .object = running};
	uint32_t tid = 0;
	apc_handle h;
	uint64_t t0, tq;

	t_reset();
	t0 = t_now_ns();
	h = t_spawn_flags(thread_sleeper, &s, 0, &tid);
	cr_assert(t_spin_until(&s.ready, 1, T_WAIT_MS));
	cr_assert_eq(apc_sleep(100, false), 0);
	tq = t_now_ns();
	cr_assert_eq(apc_queue(h, t_apc_log, 3), 0);
	cr_assert_eq(t_join(h), APC_WAIT_IO_COMPLETION);
	t_assert_log_seq(1, 3, tid);
	cr_assert_geq(atomic_load(&s.returned_ns), tq);
	/* Well before the 20 s timeout. */
	cr_assert_lt((double)(atomic_load(&s.returned_ns) - t0) / 1e6,
		     10000.0 * t_slack());

	/* The object was not touched. */
	cr_assert_eq(apc_wait(running, 0, false, NULL), APC_WAIT_TIMEOUT);
	atomic_store(&gate, 1);
	cr_assert_eq(t_join(running), 0);
}

struct late_producer {
	apc_handle target;
	atomic_uint *start;
	atomic_uint queued;
};

static uint32_t thread_late_producer(void *arg)
{
	struct late_producer *p = arg;

	if (!t_spin_until(p->start, 1, T_WAIT_MS))
		return 1;
	(void)apc_sleep(50, false);
	if (apc_queue(p->target, t_apc_count, 0) != 0)
		return 2;
	atomic_store(&p->queued, 1);
	return 0;
}

Test(apc_sleep, B13_non_alertable_wait_not_woken_by_apc)
{
	atomic_uint gate = 0, start = 0;
	apc_handle running = t_spawn(t_thread_gated, &gate);
	struct late_producer p = {.start = &start};
	apc_handle prod;
	uint64_t t0;
	double ms;
	int i;

	t_reset();
	cr_assert_eq(apc_thread_self(&p.target), 0);
	prod = t_spawn(thread_late_producer, &p);
	atomic_store(&start, 1);
	for (i = 0; i < 20; i++) {
		t0 = t_now_ns();
		cr_assert_eq(apc_wait(running, 300, false, NULL),
			     APC_WAIT_TIMEOUT);
		ms = t_ms_since(t0);
		cr_assert_geq(ms, t_floor_ms(300), "waited %.3f ms", ms);
		cr_assert_eq(atomic_load(&t_apc_runs), 0);
		if (atomic_load(&p.queued))
			break;
	}
	cr_assert_eq(atomic_load(&p.queued), 1);
	cr_assert_eq(t_join(prod), 0);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&t_apc_runs), 1);

	atomic_store(&gate, 1);
	cr_assert_eq(t_join(running), 0);
	cr_assert_eq(apc_close(p.target), 0);
}

/* ---- B15: no spurious WAIT_IO_COMPLETION --------------------------------- */

Test(apc_sleep, B15_no_spurious_io_completion)
{
	atomic_uint gate = 0;
	apc_handle running = t_spawn(t_thread_gated, &gate);
	unsigned int i;
	uint32_t r;

	for (i = 0; i < 10000; i++) {
		r = apc_sleep(0, true);
		cr_assert_eq(r, 0, "apc_sleep(0) #%u: %#x", i, r);
	}
	for (i = 0; i < 300; i++) {
		r = apc_sleep(1, true);
		cr_assert_eq(r, 0, "apc_sleep(1) #%u: %#x", i, r);
	}
	for (i = 0; i < 300; i++) {
		r = apc_wait(running, 1, true, NULL);
		cr_assert_eq(r, APC_WAIT_TIMEOUT, "apc_wait #%u: %#x", i, r);
	}
	for (i = 0; i < 1000; i++) {
		r = apc_wait(running, 0, true, NULL);
		cr_assert_eq(r, APC_WAIT_TIMEOUT, "apc_wait(0) #%u: %#x", i, r);
	}
	atomic_store(&gate, 1);
	cr_assert_eq(t_join(running), 0);
}

Test(apc_sleep, B15_no_spurious_io_completion_after_apcs)
{
	unsigned int i, round;
	uint32_t r;

	t_reset();
	for (round = 0; round < 20; round++) {
		cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
		cr_assert_eq(apc_sleep(1, true), APC_WAIT_IO_COMPLETION);
		for (i = 0; i < 10; i++) {
			r = apc_sleep(1, true);
			cr_assert_eq(r, 0, "round %u sleep %u: %#x", round, i,
				     r);
		}
	}
	cr_assert_eq(atomic_load(&t_apc_runs), 20);
}

/* A producer that queues to a consumer sleeping with short timeouts. */
static uint32_t thread_b15_consumer(void *arg)
{
	atomic_uint *stop = arg;
	uint32_t spurious = 0;
	unsigned int before;
	uint32_t r;

	while (!atomic_load(stop)) {
		before = atomic_load(&t_apc_runs);
		r = apc_sleep(1, true);
		if (r == APC_WAIT_IO_COMPLETION &&
		    atomic_load(&t_apc_runs) == before)
			spurious++;
		else if (r != 0 && r != APC_WAIT_IO_COMPLETION)
			spurious += 1000;
	}
	(void)apc_test_alert();
	return spurious;
}

Test(apc_sleep, B15_io_completion_only_when_an_apc_ran_under_load)
{
	atomic_uint stop = 0;
	apc_handle h;
	unsigned int i;

	t_reset();
	h = t_spawn(thread_b15_consumer, &stop);
	for (i = 0; i < 2000; i++) {
		cr_assert_eq(apc_queue(h, t_apc_count, 0), 0);
		if (i % 16 == 0)
			(void)apc_sleep(0, false);
	}
	cr_assert(t_spin_until(&t_apc_runs, 2000, T_WAIT_MS));
	atomic_store(&stop, 1);
	cr_assert_eq(t_join(h), 0);
	cr_assert_eq(atomic_load(&t_apc_runs), 2000);
}

/*
 * ---- B24: never early ----------------------------------------------------
 *
 * Never early is an apcrt rule; on the win32 backend t_floor_ms() allows
 * the one clock tick Windows documents, so there these check the return
 * codes and that no sleep ends more than one tick early.
 */

Test(apc_sleep, B24_sleep_never_returns_early)
{
	uint64_t t0, total0 = t_now_ns();
	unsigned int i;
	double ms;

	for (i = 0; i < 1000; i++) {
		t0 = t_now_ns();
		cr_assert_eq(apc_sleep(3, false), 0);
		ms = t_ms_since(t0);
		cr_assert_geq(ms, t_floor_ms(3), "sleep #%u took %.3f ms", i,
			      ms);
	}
	for (i = 0; i < 200; i++) {
		t0 = t_now_ns();
		cr_assert_eq(apc_sleep(3, true), 0);
		ms = t_ms_since(t0);
		cr_assert_geq(ms, t_floor_ms(3), "alertable #%u took %.3f ms",
			      i, ms);
	}
	ms = t_ms_since(total0);
	cr_assert_leq(ms, upper(1200 * 3 * 5), "took %.0f ms in all", ms);
}

Test(apc_sleep, B24_wait_timeout_never_early)
{
	atomic_uint gate = 0;
	apc_handle running = t_spawn(t_thread_gated, &gate);
	static const uint32_t ms_set[] = {1, 2, 3, 7, 10, 25};
	unsigned int i, j;
	uint64_t t0;
	double ms;

	for (j = 0; j < sizeof(ms_set) / sizeof(ms_set[0]); j++) {
		for (i = 0; i < 20; i++) {
			bool alertable = i & 1;

			t0 = t_now_ns();
			cr_assert_eq(
				apc_wait(running, ms_set[j], alertable, NULL),
				APC_WAIT_TIMEOUT);
			ms = t_ms_since(t0);
			cr_assert_geq(ms, t_floor_ms(ms_set[j]),
				      "wait %u ms took %.3f ms", ms_set[j], ms);
		}
	}
	atomic_store(&gate, 1);
	cr_assert_eq(t_join(running), 0);
}

/* ---- B25: INFINITE and the largest finite timeouts ----------------------- */

static uint32_t thread_sleep_50(void *arg)
{
	(void)arg;
	return apc_sleep(50, false);
}

Test(apc_sleep, B25_large_timeouts_do_not_overflow)
{
	static const uint32_t big[] = {APC_INFINITE, 0xfffffffeu, 0x80000000u,
				       0x7fffffffu, 0x10000000u};
	unsigned int i;
	uint64_t t0;
	double ms;

	t_reset();
	for (i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		apc_handle h = t_spawn(thread_sleep_50, NULL);

		t0 = t_now_ns();
		cr_assert_eq(apc_wait(h, big[i], false, NULL),
			     APC_WAIT_OBJECT_0, "timeout %#x", big[i]);
		ms = t_ms_since(t0);
		cr_assert_leq(ms, upper(50), "timeout %#x: %.3f ms", big[i],
			      ms);
		cr_assert_eq(t_join(h), 0);

		/* An alertable sleep of that length ends with an APC. */
		cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
		cr_assert_eq(apc_sleep(big[i], true), APC_WAIT_IO_COMPLETION,
			     "timeout %#x", big[i]);
		cr_assert_eq(atomic_load(&t_apc_runs), i + 1);
	}
}

/* ---- B26: zero timeout never blocks -------------------------------------- */

Test(apc_sleep, B26_zero_timeout_never_blocks)
{
	atomic_uint gate = 0;
	apc_handle running = t_spawn(t_thread_gated, &gate);
	uint64_t t0 = t_now_ns();
	unsigned int i;
	double ms;

	for (i = 0; i < 1000; i++) {
		cr_assert_eq(apc_wait(running, 0, false, NULL),
			     APC_WAIT_TIMEOUT);
		cr_assert_eq(apc_wait(running, 0, true, NULL),
			     APC_WAIT_TIMEOUT);
	}
	ms = t_ms_since(t0);
	cr_assert_leq(ms, upper(0), "2000 zero waits took %.3f ms", ms);
	atomic_store(&gate, 1);
	cr_assert_eq(t_join(running), 0);
}

/* ---- A11: non-alertable waits run no APC and are not cut short ----------- */

Test(apc_sleep, A11_non_alertable_sleep_runs_no_apc)
{
	atomic_uint gate = 0;
	apc_handle running = t_spawn(t_thread_gated, &gate);
	uint64_t t0;
	double ms;

	t_reset();
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);

	t0 = t_now_ns();
	cr_assert_eq(apc_sleep(100, false), 0);
	ms = t_ms_since(t0);
	cr_assert_geq(ms, t_floor_ms(100), "slept %.3f ms", ms);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);

	t0 = t_now_ns();
	cr_assert_eq(apc_wait(running, 100, false, NULL), APC_WAIT_TIMEOUT);
	ms = t_ms_since(t0);
	cr_assert_geq(ms, t_floor_ms(100), "waited %.3f ms", ms);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);

	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&t_apc_runs), 1);
	atomic_store(&gate, 1);
	cr_assert_eq(t_join(running), 0);
}

/* ---- A14: waits inside an APC -------------------------------------------- */

static apc_handle a14_running;
static atomic_uint a14_wait_result;
static atomic_uint a14_sleep_result;
static atomic_uint a14_log_at_end;

static void apc_a14_waits(uintptr_t data)
{
	t_log_push(data);
	atomic_store(&a14_wait_result, apc_wait(a14_running, 50, false, NULL));
	atomic_store(&a14_sleep_result, apc_sleep(20, false));
	atomic_store(&a14_log_at_end, t_log_len());
}

Test(apc_sleep, A14_non_alertable_wait_inside_apc)
{
	atomic_uint gate = 0;
	uint64_t t0;

	t_reset();
	a14_running = t_spawn(t_thread_gated, &gate);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, apc_a14_waits, 1), 0);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_log, 2), 0);
	t0 = t_now_ns();
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	cr_assert_geq(t_ms_since(t0), t_floor_ms(50) + t_floor_ms(20));
	cr_assert_eq(atomic_load(&a14_wait_result), APC_WAIT_TIMEOUT);
	cr_assert_eq(atomic_load(&a14_sleep_result), 0);
	/* APC 2 did not run inside APC 1's waits, but in the same call. */
	cr_assert_eq(atomic_load(&a14_log_at_end), 1);
	t_assert_log_seq(2, 1, 0);
	cr_assert_eq(apc_sleep(0, true), 0);
	atomic_store(&gate, 1);
	cr_assert_eq(t_join(a14_running), 0);
}

static apc_handle a14_main;
static atomic_uint a14_in_apc;

static uint32_t thread_a14_producer(void *arg)
{
	(void)arg;
	if (!t_spin_until(&a14_in_apc, 1, T_WAIT_MS))
		return 1;
	return apc_queue(a14_main, t_apc_log, 2);
}

static void apc_a14_wait_producer(uintptr_t data)
{
	apc_handle producer = (apc_handle)data;

	t_log_push(1);
	atomic_store(&a14_in_apc, 1);
	/* Non-alertable: the producer's APC arrives meanwhile, stays queued. */
	atomic_store(&a14_wait_result,
		     apc_wait(producer, T_WAIT_MS, false, NULL));
	atomic_store(&a14_log_at_end, t_log_len());
}

Test(apc_sleep, A14_apc_queued_during_non_alertable_wait_in_apc)
{
	apc_handle prod;

	t_reset();
	cr_assert_eq(apc_thread_self(&a14_main), 0);
	prod = t_spawn(thread_a14_producer, NULL);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, apc_a14_wait_producer,
			       (uintptr_t)prod),
		     0);
	cr_assert_eq(apc_sleep(T_WAIT_MS, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&a14_wait_result), APC_WAIT_OBJECT_0);
	cr_assert_eq(atomic_load(&a14_log_at_end), 1);
	t_assert_log_seq(2, 1, 0);
	cr_assert_eq(t_join(prod), 0);
	cr_assert_eq(apc_sleep(0, true), 0);
	cr_assert_eq(apc_close(a14_main), 0);
}

/* ---- B14: object and APC at once, exactly one outcome -------------------- */

struct b14_waiter {
	apc_handle object;
	atomic_uint ready;
	atomic_uint result;
	atomic_uint runs_at_return;
	atomic_uint queued;
	atomic_uint after;
};

static uint32_t thread_b14_waiter(void *arg)
{
	struct b14_waiter *w = arg;

	atomic_store(&w->ready, 1);
	atomic_store(&w->result, apc_wait(w->object, T_WAIT_MS, true, NULL));
	atomic_store(&w->runs_at_return, atomic_load(&t_apc_runs));
	/* Once the APC is surely queued, whatever is left runs now. */
	if (!t_spin_until(&w->queued, 1, T_WAIT_MS))
		return 1;
	atomic_store(&w->after, apc_sleep(0, true));
	return 0;
}

Test(apc_sleep, B14_thread_exit_and_apc_race_one_outcome)
{
	enum { ROUNDS = 300 };
	unsigned int r, objects = 0, apcs = 0;

	for (r = 0; r < ROUNDS; r++) {
		atomic_uint gate = 0;
		struct b14_waiter w = {0};
		apc_handle x, wh;
		uint32_t res;

		t_reset();
		x = t_spawn(t_thread_gated, &gate);
		w.object = x;
		wh = t_spawn(thread_b14_waiter, &w);
		cr_assert(t_spin_until(&w.ready, 1, T_WAIT_MS));
		/* Release the object and queue the APC as close as we can. */
		if (r & 1) {
			atomic_store(&gate, 1);
			cr_assert_eq(apc_queue(wh, t_apc_count, 0), 0);
		} else {
			cr_assert_eq(apc_queue(wh, t_apc_count, 0), 0);
			atomic_store(&gate, 1);
		}
		atomic_store(&w.queued, 1);
		cr_assert_eq(t_join(wh), 0);
		cr_assert_eq(t_join(x), 0);

		res = atomic_load(&w.result);
		if (res == APC_WAIT_OBJECT_0) {
			/* The APC stayed queued and ran at the next wait. */
			objects++;
			cr_assert_eq(atomic_load(&w.runs_at_return), 0,
				     "round %u", r);
			cr_assert_eq(atomic_load(&w.after),
				     APC_WAIT_IO_COMPLETION, "round %u", r);
		} else {
			apcs++;
			cr_assert_eq(res, APC_WAIT_IO_COMPLETION,
				     "round %u: %#x", r, res);
			cr_assert_eq(atomic_load(&w.runs_at_return), 1,
				     "round %u", r);
			cr_assert_eq(atomic_load(&w.after), 0, "round %u", r);
		}
		cr_assert_eq(atomic_load(&t_apc_runs), 1, "round %u", r);
	}
	cr_log_info("%u rounds: %u ended by the object, %u by the APC", ROUNDS,
		    objects, apcs);
}

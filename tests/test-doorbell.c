/*
 * The POSIX engine's doorbell: system calls made to deliver APCs.
 *
 * Engine-internal (suite posix): reads the process-wide counters of
 * FUTEX_WAKE and FUTEX_WAIT calls made by the library.  DESIGN.md: queuing
 * to a running thread makes no system call; queuing to oneself and then
 * waiting alertably makes none; a sleeping thread is woken at most once
 * per sleep, however many producers race.
 *
 * Every thread in these tests spins on atomics (no library call) while
 * the counters are read, so only the calls under test are counted.
 */
#include <criterion/criterion.h>

#include <sched.h>

#include "posix/internal.h"

#include "helpers.h"

TestSuite(doorbell, .timeout = 60);

/* Spin without any library call (sched_yield is not a futex). */
static bool spin_until(atomic_uint *v, unsigned int want)
{
	uint64_t end = t_now_ms() + 30000u * t_slack();

	while (atomic_load(v) < want) {
		if (t_now_ms() > end)
			return false;
		sched_yield();
	}
	return true;
}

/* ---- queuing to a busy thread: no wake ----------------------------------- */

struct busy {
	atomic_uint running;
	atomic_uint release;
};

static uint32_t thread_busy(void *arg)
{
	struct busy *b = arg;
	uint32_t r;

	atomic_store(&b->running, 1);
	if (!spin_until(&b->release, 1))
		return 1;
	r = apc_sleep(0, true);
	return r == APC_WAIT_IO_COMPLETION ? 0 : 2;
}

Test(doorbell, queue_to_busy_thread_makes_no_wake)
{
	struct busy b = {0};
	apc_handle h;
	uint64_t wakes0, waits0;
	unsigned int i;

	t_reset();
	h = t_spawn(thread_busy, &b);
	cr_assert(spin_until(&b.running, 1));

	wakes0 = apc__stat_futex_wakes();
	waits0 = apc__stat_futex_waits();
	for (i = 0; i < 1000; i++)
		cr_assert_eq(apc_queue(h, t_apc_count, i), 0);
	cr_assert_eq(apc__stat_futex_wakes() - wakes0, 0,
		     "%ju FUTEX_WAKE for APCs to a running thread",
		     (uintmax_t)(apc__stat_futex_wakes() - wakes0));
	cr_assert_eq(apc__stat_futex_waits() - waits0, 0);

	atomic_store(&b.release, 1);
	cr_assert_eq(t_join(h), 0);
	cr_assert_eq(atomic_load(&t_apc_runs), 1000);
}

/* ---- queuing to oneself: no system call at all --------------------------- */

Test(doorbell, queue_to_self_then_sleep_makes_no_futex_call)
{
	uint64_t wakes0, waits0;
	unsigned int i;

	t_reset();
	/* Adopt the calling thread first: that may cost what it costs. */
	cr_assert_neq(apc_thread_id(APC_CURRENT_THREAD), 0);
	cr_assert_eq(apc_sleep(0, true), 0);

	wakes0 = apc__stat_futex_wakes();
	waits0 = apc__stat_futex_waits();

	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);

	for (i = 0; i < 100; i++)
		cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, i), 0);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);

	/* An infinite alertable sleep with an APC pending does not park. */
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(apc_sleep(APC_INFINITE, true), APC_WAIT_IO_COMPLETION);

	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(apc_sleep(1000, true), APC_WAIT_IO_COMPLETION);

	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(apc_test_alert(), 0);

	cr_assert_eq(apc_sleep(0, true), 0);

	cr_assert_eq(apc__stat_futex_wakes() - wakes0, 0);
	cr_assert_eq(apc__stat_futex_waits() - waits0, 0);
	cr_assert_eq(atomic_load(&t_apc_runs), 104);
}

/* ---- a sleeping thread is woken at most once per sleep ------------------- */

#define DB_PRODUCERS 4u
#define DB_PER_PRODUCER 250u
#define DB_TOTAL (DB_PRODUCERS * DB_PER_PRODUCER)

struct db_shared {
	apc_handle consumer;
	atomic_uint ready;
	atomic_uint go;
	atomic_uint done;
	atomic_uint release;
	atomic_uint failures;
};

static uint32_t thread_db_producer(void *arg)
{
	struct db_shared *s = arg;
	unsigned int i;

	atomic_fetch_add(&s->ready, 1);
	if (!spin_until(&s->go, 1))
		return 1;
	for (i = 0; i < DB_PER_PRODUCER; i++) {
		if (apc_queue(s->consumer, t_apc_count, i) != 0)
			atomic_fetch_add(&s->failures, 1);
		/* Spread the APCs out so the consumer goes back to sleep. */
		if (i % 8 == 0)
			sched_yield();
	}
	atomic_fetch_add(&s->done, 1);
	/* Stay alive (no exit, no library call) until the counts are read. */
	if (!spin_until(&s->release, 1))
		return 2;
	return 0;
}

Test(doorbell, sleeping_thread_woken_at_most_once_per_sleep)
{
	struct db_shared s = {0};
	apc_handle h[DB_PRODUCERS];
	uint64_t wakes0, waits0, wakes, waits, end;
	unsigned int i, sleeps = 0, io = 0;
	uint32_t r;

	t_reset();
	cr_assert_eq(apc_thread_self(&s.consumer), 0);
	for (i = 0; i < DB_PRODUCERS; i++)
		h[i] = t_spawn(thread_db_producer, &s);
	cr_assert(spin_until(&s.ready, DB_PRODUCERS));

	wakes0 = apc__stat_futex_wakes();
	waits0 = apc__stat_futex_waits();
	atomic_store(&s.go, 1);

	end = t_now_ms() + 30000u * t_slack();
	while (atomic_load(&t_apc_runs) < DB_TOTAL) {
		cr_assert(t_now_ms() < end, "only %u APCs ran",
			  atomic_load(&t_apc_runs));
		sleeps++;
		r = apc_sleep(APC_INFINITE, true);
		cr_assert_eq(r, APC_WAIT_IO_COMPLETION);
		io++;
	}
	cr_assert(spin_until(&s.done, DB_PRODUCERS));
	wakes = apc__stat_futex_wakes() - wakes0;
	waits = apc__stat_futex_waits() - waits0;
	atomic_store(&s.release, 1);

	cr_log_info("%u APCs, %u sleeps, %ju FUTEX_WAIT, %ju FUTEX_WAKE",
		    DB_TOTAL, sleeps, (uintmax_t)waits, (uintmax_t)wakes);
	cr_assert_eq(atomic_load(&s.failures), 0);
	cr_assert_eq(atomic_load(&t_apc_runs), DB_TOTAL);
	cr_assert_leq(wakes, sleeps, "%ju wakes for %u sleeps",
		      (uintmax_t)wakes, sleeps);

	for (i = 0; i < DB_PRODUCERS; i++)
		cr_assert_eq(t_join(h[i]), 0);
	cr_assert_eq(apc_close(s.consumer), 0);
}

/* One producer, one APC at a time: the consumer sleeps between them. */
struct pingpong {
	apc_handle consumer;
	atomic_uint go;
	atomic_uint release;
};

static uint32_t thread_pp_producer(void *arg)
{
	struct pingpong *p = arg;
	unsigned int i;

	if (!spin_until(&p->go, 1))
		return 1;
	for (i = 0; i < 200; i++) {
		if (apc_queue(p->consumer, t_apc_count, i) != 0)
			return 2;
		if (!spin_until(&t_apc_runs, i + 1))
			return 3;
	}
	if (!spin_until(&p->release, 1))
		return 4;
	return 0;
}

Test(doorbell, ping_pong_at_most_one_wake_per_sleep)
{
	struct pingpong p = {0};
	uint64_t wakes0, wakes, end;
	unsigned int sleeps = 0;
	apc_handle h;

	t_reset();
	cr_assert_eq(apc_thread_self(&p.consumer), 0);
	h = t_spawn(thread_pp_producer, &p);
	wakes0 = apc__stat_futex_wakes();
	atomic_store(&p.go, 1);
	end = t_now_ms() + 30000u * t_slack();
	while (atomic_load(&t_apc_runs) < 200) {
		cr_assert(t_now_ms() < end);
		sleeps++;
		cr_assert_eq(apc_sleep(T_WAIT_MS, true),
			     APC_WAIT_IO_COMPLETION);
	}
	wakes = apc__stat_futex_wakes() - wakes0;
	atomic_store(&p.release, 1);
	cr_log_info("200 APCs, %u sleeps, %ju FUTEX_WAKE", sleeps,
		    (uintmax_t)wakes);
	cr_assert_leq(wakes, sleeps);
	cr_assert_eq(t_join(h), 0);
	cr_assert_eq(apc_close(p.consumer), 0);
}

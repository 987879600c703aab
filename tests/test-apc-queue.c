/*
 * The per-thread APC queue: queuing, order, exactly-once delivery, errors,
 * queue limit, APCs and thread exit.
 *
 * Contract: A1-A23 (those that apply without events, timers and I/O),
 * G1, G2, G3, G13.
 */
#include <criterion/criterion.h>

#include <apc/apc.h>

#include "helpers.h"

TestSuite(apc_queue, .timeout = 120);

/* An APC that checks it receives 0, 1, 2, ... in order. */
static atomic_uint seq_next;
static atomic_uint seq_bad;

static void apc_seq(uintptr_t data)
{
	unsigned int want = atomic_fetch_add(&seq_next, 1);

	if (data != want)
		atomic_fetch_add(&seq_bad, 1);
}

static void seq_reset(void)
{
	atomic_store(&seq_next, 0);
	atomic_store(&seq_bad, 0);
}

/* ---- A1, A2, A3, A4, A17 ------------------------------------------------- */

Test(apc_queue, A1_A2_queue_to_self_does_not_run_inside_call)
{
	t_reset();
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, 0), 0);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&t_apc_runs), 2);
	cr_assert_eq(apc_sleep(0, true), 0);
	cr_assert_eq(atomic_load(&t_apc_runs), 2);
}

Test(apc_queue, A17_pseudo_handle_names_caller)
{
	uint32_t self = apc_thread_id(APC_CURRENT_THREAD);

	t_reset();
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_log, 5), 0);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	t_assert_log_seq(1, 5, self);
}

/* A consumer that sleeps alertably until it has seen `want` log entries. */
struct consumer {
	atomic_uint ready;
	unsigned int want;
};

static uint32_t thread_consume_log(void *arg)
{
	struct consumer *c = arg;
	uint64_t end = t_now_ms() + (uint64_t)T_WAIT_MS * t_slack();
	uint32_t r;

	atomic_store(&c->ready, 1);
	while (t_log_len() < c->want) {
		if (t_now_ms() > end)
			return 1;
		r = apc_sleep(T_WAIT_MS, true);
		if (r != APC_WAIT_IO_COMPLETION)
			return 2;
	}
	return 0;
}

Test(apc_queue, A3_A4_fifo_single_producer)
{
	struct consumer c = {.want = 8};
	uint32_t tid = 0;
	apc_handle h;
	unsigned int i;

	t_reset();
	h = t_spawn_flags(thread_consume_log, &c, 0, &tid);
	cr_assert(t_spin_until(&c.ready, 1, T_WAIT_MS));
	for (i = 0; i < 8; i++)
		cr_assert_eq(apc_queue(h, t_apc_log, i), 0);
	cr_assert_eq(t_join(h), 0);
	/* In order, each on the target thread. */
	t_assert_log_seq(8, 0, tid);
	/* None ran on the producer. */
	cr_assert_eq(apc_sleep(0, true), 0);
}

Test(apc_queue, A4_fifo_to_self)
{
	unsigned int i;

	t_reset();
	for (i = 0; i < 1000; i++)
		cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_log, i), 0);
	cr_assert_eq(apc_test_alert(), 0);
	t_assert_log_seq(1000, 0, apc_thread_id(APC_CURRENT_THREAD));
}

/* ---- A5, A9: N producers x 1 consumer ------------------------------------ */

#define MP_PRODUCERS 8u
#define MP_PER_PRODUCER 10000u
#define MP_SHIFT 20

struct mp_producer {
	apc_handle target;
	atomic_uint *ready;
	atomic_uint *go;
	unsigned int index;
};

/* Written by the APC, which runs on the consumer (the test thread) only. */
static unsigned int mp_next[MP_PRODUCERS];
static unsigned char mp_seen[MP_PRODUCERS * MP_PER_PRODUCER];
static atomic_uint mp_runs;
static atomic_uint mp_bad_order;
static atomic_uint mp_bad_value;
static atomic_uint mp_repeats;

static void apc_mp(uintptr_t data)
{
	uintptr_t p = data >> MP_SHIFT;
	uintptr_t seq = data & ((1u << MP_SHIFT) - 1);

	atomic_fetch_add(&mp_runs, 1);
	if (p >= MP_PRODUCERS || seq >= MP_PER_PRODUCER) {
		atomic_fetch_add(&mp_bad_value, 1);
		return;
	}
	if (mp_seen[p * MP_PER_PRODUCER + seq]++)
		atomic_fetch_add(&mp_repeats, 1);
	/* Exactly once and FIFO per producer: the next one is always +1. */
	if (seq != mp_next[p])
		atomic_fetch_add(&mp_bad_order, 1);
	mp_next[p] = (unsigned int)seq + 1;
}

static uint32_t thread_mp_producer(void *arg)
{
	struct mp_producer *p = arg;
	uint32_t failures = 0;
	unsigned int i;

	atomic_fetch_add(p->ready, 1);
	if (!t_spin_until(p->go, 1, T_WAIT_MS))
		return MP_PER_PRODUCER;
	for (i = 0; i < MP_PER_PRODUCER; i++) {
		uintptr_t v = ((uintptr_t)p->index << MP_SHIFT) | i;

		if (apc_queue(p->target, apc_mp, v) != 0)
			failures++;
	}
	return failures;
}

Test(apc_queue, A5_A9_multi_producer_exactly_once_fifo_per_producer)
{
	struct mp_producer prod[MP_PRODUCERS];
	apc_handle h[MP_PRODUCERS];
	atomic_uint ready = 0, go = 0;
	apc_handle self = NULL;
	uint64_t end;
	unsigned int i;
	uint32_t r;

	cr_assert_eq(apc_thread_self(&self), 0);
	for (i = 0; i < MP_PRODUCERS; i++) {
		prod[i] = (struct mp_producer){
			.target = self, .ready = &ready, .go = &go, .index = i};
		h[i] = t_spawn(thread_mp_producer, &prod[i]);
	}
	cr_assert(t_spin_until(&ready, MP_PRODUCERS, T_WAIT_MS));
	atomic_store(&go, 1);

	end = t_now_ms() + 60000u * t_slack();
	while (atomic_load(&mp_runs) < MP_PRODUCERS * MP_PER_PRODUCER) {
		cr_assert(t_now_ms() < end, "only %u APCs ran",
			  atomic_load(&mp_runs));
		r = apc_sleep(1000, true);
		cr_assert(r == APC_WAIT_IO_COMPLETION || r == 0, "sleep %#x",
			  r);
	}
	for (i = 0; i < MP_PRODUCERS; i++)
		cr_assert_eq(t_join(h[i]), 0, "producer %u had failures", i);
	/* Nothing left over. */
	cr_assert_eq(apc_sleep(0, true), 0);

	cr_assert_eq(atomic_load(&mp_runs), MP_PRODUCERS * MP_PER_PRODUCER);
	cr_assert_eq(atomic_load(&mp_bad_value), 0);
	cr_assert_eq(atomic_load(&mp_repeats), 0);
	cr_assert_eq(atomic_load(&mp_bad_order), 0);
	for (i = 0; i < MP_PRODUCERS; i++)
		cr_assert_eq(mp_next[i], MP_PER_PRODUCER);
	for (i = 0; i < MP_PRODUCERS * MP_PER_PRODUCER; i++)
		cr_assert_eq(mp_seen[i], 1, "value %u ran %u times", i,
			     mp_seen[i]);
	cr_assert_eq(apc_close(self), 0);
}

/* ---- A6, A7, A8 ---------------------------------------------------------- */

static void apc_log_and_requeue(uintptr_t data)
{
	t_log_push(data);
	if (data == 1)
		(void)apc_queue(APC_CURRENT_THREAD, apc_log_and_requeue, 2);
}

Test(apc_queue, A6_drain_includes_apcs_queued_by_apcs)
{
	t_reset();
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, apc_log_and_requeue, 1), 0);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	t_assert_log_seq(2, 1, 0);
	cr_assert_eq(apc_sleep(0, true), 0);
	t_assert_log_seq(2, 1, 0);
}

static apc_handle a6_main;
static atomic_uint a6_in_apc;
static atomic_uint a6_queued;
static atomic_uint a6_spin_ok;

static void apc_a6_first(uintptr_t data)
{
	t_log_push(data);
	atomic_store(&a6_in_apc, 1);
	/* Non-alertable spin: the second APC must wait for the drain. */
	atomic_store(&a6_spin_ok, t_spin_until(&a6_queued, 1, T_WAIT_MS));
	if (t_log_len() != 1)
		atomic_store(&a6_spin_ok, 0);
}

static uint32_t thread_a6_producer(void *arg)
{
	(void)arg;
	if (!t_spin_until(&a6_in_apc, 1, T_WAIT_MS))
		return 1;
	if (apc_queue(a6_main, t_apc_log, 2) != 0)
		return 2;
	atomic_store(&a6_queued, 1);
	return 0;
}

Test(apc_queue, A6_drain_includes_apcs_queued_by_others_meanwhile)
{
	apc_handle h;

	t_reset();
	cr_assert_eq(apc_thread_self(&a6_main), 0);
	h = t_spawn(thread_a6_producer, NULL);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, apc_a6_first, 1), 0);
	cr_assert_eq(apc_sleep(T_WAIT_MS, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&a6_spin_ok), 1);
	/* Both ran in that one call. */
	t_assert_log_seq(2, 1, apc_thread_id(APC_CURRENT_THREAD));
	cr_assert_eq(t_join(h), 0);
	cr_assert_eq(apc_sleep(0, true), 0);
	cr_assert_eq(apc_close(a6_main), 0);
}

Test(apc_queue, A7_ten_thousand_to_self_one_sleep)
{
	unsigned int i;

	seq_reset();
	for (i = 0; i < 10000; i++)
		cr_assert_eq(apc_queue(APC_CURRENT_THREAD, apc_seq, i), 0);
	cr_assert_eq(atomic_load(&seq_next), 0);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&seq_next), 10000);
	cr_assert_eq(atomic_load(&seq_bad), 0);
	cr_assert_eq(apc_sleep(0, true), 0);
}

Test(apc_queue, A8_full_width_data)
{
	static const uintptr_t values[] = {
		0,
		1,
		(uintptr_t)0x80000000u,
		UINTPTR_MAX,
#if UINTPTR_MAX > 0xffffffffu
		(uintptr_t)0xFEDCBA9876543210u,
		(uintptr_t)0x8000000000000001u,
#else
		(uintptr_t)0xFEDCBA98u,
#endif
	};
	const unsigned int n = sizeof(values) / sizeof(values[0]);
	unsigned int i;

	t_reset();
	for (i = 0; i < n; i++)
		cr_assert_eq(
			apc_queue(APC_CURRENT_THREAD, t_apc_log, values[i]), 0);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(t_log_len(), n);
	for (i = 0; i < n; i++)
		cr_assert_eq(t_log_value(i), values[i], "value %u: %#jx", i,
			     (uintmax_t)t_log_value(i));
}

/* ---- A13: apc_test_alert ------------------------------------------------- */

Test(apc_queue, A13_test_alert)
{
	t_reset();
	cr_assert_eq(apc_test_alert(), 0);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_log, 1), 0);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, apc_log_and_requeue, 1), 0);
	cr_assert_eq(t_log_len(), 0);
	cr_assert_eq(apc_test_alert(), 0);
	/* Including the one queued during the run. */
	cr_assert_eq(t_log_len(), 3);
	cr_assert_eq(t_log_value(0), 1);
	cr_assert_eq(t_log_value(1), 1);
	cr_assert_eq(t_log_value(2), 2);
	cr_assert_eq(apc_test_alert(), 0);
	cr_assert_eq(t_log_len(), 3);
	cr_assert_eq(apc_sleep(0, true), 0);
}

/* ---- A15, A16: nesting --------------------------------------------------- */

static atomic_uint nested_result;

static void apc_nested_sleep(uintptr_t data)
{
	t_log_push(data);
	atomic_store(&nested_result, apc_sleep(0, true));
	t_log_push(data + 100);
}

Test(apc_queue, A15_nested_alertable_sleep_inside_apc)
{
	t_reset();
	atomic_store(&nested_result, T_POISON);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, apc_nested_sleep, 1), 0);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_log, 2), 0);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_log, 3), 0);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&nested_result), APC_WAIT_IO_COMPLETION);
	/* B and C ran inside A's inner sleep, each once. */
	cr_assert_eq(t_log_len(), 4);
	cr_assert_eq(t_log_value(0), 1);
	cr_assert_eq(t_log_value(1), 2);
	cr_assert_eq(t_log_value(2), 3);
	cr_assert_eq(t_log_value(3), 101);
	cr_assert_eq(apc_sleep(0, true), 0);
}

Test(apc_queue, A15_nested_sleep_with_nothing_left_returns_0)
{
	t_reset();
	atomic_store(&nested_result, T_POISON);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, apc_nested_sleep, 1), 0);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&nested_result), 0);
	cr_assert_eq(t_log_len(), 2);
	cr_assert_eq(t_log_value(1), 101);
}

static void apc_nested_test_alert(uintptr_t data)
{
	t_log_push(data);
	atomic_store(&nested_result, apc_test_alert());
	t_log_push(data + 100);
}

Test(apc_queue, A15_A13_test_alert_inside_apc)
{
	t_reset();
	atomic_store(&nested_result, T_POISON);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, apc_nested_test_alert, 1),
		     0);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_log, 2), 0);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&nested_result), 0);
	cr_assert_eq(t_log_len(), 3);
	cr_assert_eq(t_log_value(0), 1);
	cr_assert_eq(t_log_value(1), 2);
	cr_assert_eq(t_log_value(2), 101);
}

#define DEPTH 1000u

static atomic_uint rec_runs;
static atomic_uint rec_max;
static atomic_uint rec_bad;

static void apc_recurse(uintptr_t depth)
{
	atomic_fetch_add(&rec_runs, 1);
	if (depth > atomic_load(&rec_max))
		atomic_store(&rec_max, (unsigned int)depth);
	if (depth >= DEPTH)
		return;
	if (apc_queue(APC_CURRENT_THREAD, apc_recurse, depth + 1) != 0)
		atomic_fetch_add(&rec_bad, 1);
	if (apc_sleep(0, true) != APC_WAIT_IO_COMPLETION)
		atomic_fetch_add(&rec_bad, 1);
}

Test(apc_queue, A16_recursion_1000_deep)
{
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, apc_recurse, 1), 0);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&rec_runs), DEPTH);
	cr_assert_eq(atomic_load(&rec_max), DEPTH);
	cr_assert_eq(atomic_load(&rec_bad), 0);
	cr_assert_eq(apc_sleep(0, true), 0);
}

/* ---- A18, A19, A21: refused APCs ----------------------------------------- */

static uint32_t thread_return_3(void *arg)
{
	(void)arg;
	return 3;
}

Test(apc_queue, A18_invalid_and_closed_handles)
{
	apc_handle h;

	t_reset();
	cr_assert_eq(
		apc_queue((apc_handle)(uintptr_t)0xdeadbeef, t_apc_count, 0),
		APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_queue(NULL, t_apc_count, 0), APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_queue(APC_CURRENT_PROCESS, t_apc_count, 0),
		     APC_ERROR_INVALID_HANDLE);

	h = t_spawn(thread_return_3, NULL);
	cr_assert_eq(t_join(h), 3);
	/* h is closed now. */
	cr_assert_eq(apc_queue(h, t_apc_count, 0), APC_ERROR_INVALID_HANDLE);

	cr_assert_eq(apc_sleep(0, true), 0);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);
}

Test(apc_queue, A19_exited_thread)
{
	apc_handle h = t_spawn(thread_return_3, NULL);
	apc_handle d = T_POISON_HANDLE;

	t_reset();
	cr_assert_eq(t_wait_exit(h), 3);
	cr_assert_eq(apc_queue(h, t_apc_count, 0), APC_ERROR_GEN_FAILURE);
	cr_assert_eq(apc_handle_duplicate(h, 0, &d), 0);
	cr_assert_eq(apc_queue(d, t_apc_count, 0), APC_ERROR_GEN_FAILURE);
	cr_assert_eq(apc_close(d), 0);
	cr_assert_eq(apc_queue(h, t_apc_count, 0), APC_ERROR_GEN_FAILURE);
	cr_assert_eq(apc_close(h), 0);
	cr_assert_eq(apc_sleep(0, true), 0);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);
}

Test(apc_queue, A21_null_function)
{
	atomic_uint gate = 0;
	apc_handle h = t_spawn(t_thread_gated, &gate);
	uint64_t t0;

	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, NULL, 0),
		     APC_ERROR_INVALID_PARAMETER);
	cr_assert_eq(apc_queue(h, NULL, 1), APC_ERROR_INVALID_PARAMETER);
	atomic_store(&gate, 1);
	cr_assert_eq(t_join(h), 0);

	t0 = t_now_ns();
	cr_assert_eq(apc_sleep(50, true), 0, "a refused APC was queued");
	cr_assert_geq(t_ms_since(t0), t_floor_ms(50));
}

/* ---- A22: producers queuing from inside APCs ----------------------------- */

#define RELAY_WORKERS 4u
#define RELAY_PER_WORKER 2000u

static apc_handle relay_main;
static unsigned int relay_next[RELAY_WORKERS]; /* main thread only */
static atomic_uint relay_finals;
static atomic_uint relay_bad;
static atomic_uint relay_self[RELAY_WORKERS];
static atomic_uint relay_ready;

static void apc_relay_final(uintptr_t data)
{
	uintptr_t w = data >> MP_SHIFT;
	uintptr_t seq = data & ((1u << MP_SHIFT) - 1);

	atomic_fetch_add(&relay_finals, 1);
	if (w >= RELAY_WORKERS || seq != relay_next[w]) {
		atomic_fetch_add(&relay_bad, 1);
		return;
	}
	relay_next[w]++;
}

static void apc_relay_self(uintptr_t w)
{
	atomic_fetch_add(&relay_self[w], 1);
}

/* Runs on a worker: forward to main, and queue one more to itself. */
static void apc_relay(uintptr_t data)
{
	if (apc_queue(relay_main, apc_relay_final, data) != 0)
		atomic_fetch_add(&relay_bad, 1);
	if (apc_queue(APC_CURRENT_THREAD, apc_relay_self, data >> MP_SHIFT) !=
	    0)
		atomic_fetch_add(&relay_bad, 1);
}

static uint32_t thread_relay(void *arg)
{
	unsigned int w = (unsigned int)(uintptr_t)arg;
	uint64_t end = t_now_ms() + 60000u * t_slack();

	atomic_fetch_add(&relay_ready, 1);
	while (atomic_load(&relay_self[w]) < RELAY_PER_WORKER) {
		if (t_now_ms() > end)
			return 1;
		(void)apc_sleep(1000, true);
	}
	return 0;
}

Test(apc_queue, A22_producers_queue_from_inside_apcs)
{
	apc_handle h[RELAY_WORKERS];
	uint64_t end;
	unsigned int i, w;

	cr_assert_eq(apc_thread_self(&relay_main), 0);
	for (w = 0; w < RELAY_WORKERS; w++)
		h[w] = t_spawn(thread_relay, (void *)(uintptr_t)w);
	cr_assert(t_spin_until(&relay_ready, RELAY_WORKERS, T_WAIT_MS));

	end = t_now_ms() + 60000u * t_slack();
	for (i = 0; i < RELAY_PER_WORKER; i++) {
		for (w = 0; w < RELAY_WORKERS; w++)
			cr_assert_eq(apc_queue(h[w], apc_relay,
					       ((uintptr_t)w << MP_SHIFT) | i),
				     0);
		/* Consume as we go, too. */
		if (i % 64 == 0)
			cr_assert_eq(apc_test_alert(), 0);
	}
	while (atomic_load(&relay_finals) < RELAY_WORKERS * RELAY_PER_WORKER) {
		cr_assert(t_now_ms() < end, "only %u finals",
			  atomic_load(&relay_finals));
		(void)apc_sleep(1000, true);
	}
	for (w = 0; w < RELAY_WORKERS; w++)
		cr_assert_eq(t_join(h[w]), 0);
	cr_assert_eq(apc_sleep(0, true), 0);

	cr_assert_eq(atomic_load(&relay_bad), 0);
	cr_assert_eq(atomic_load(&relay_finals),
		     RELAY_WORKERS * RELAY_PER_WORKER);
	for (w = 0; w < RELAY_WORKERS; w++) {
		cr_assert_eq(relay_next[w], RELAY_PER_WORKER);
		cr_assert_eq(atomic_load(&relay_self[w]), RELAY_PER_WORKER);
	}
	cr_assert_eq(apc_close(relay_main), 0);
}

/* ---- A23: queue limit ---------------------------------------------------- */

/*
 * Skipped on Windows: A23 is an apcrt rule, and apc_set_queue_limit does
 * not exist on the win32 backend (Windows has no configurable APC queue
 * limit).
 */
Test(apc_queue, A23_queue_limit)
{
#ifdef _WIN32
	cr_skip_test("A23 (apcrt): no apc_set_queue_limit on Windows");
#else
	atomic_uint gate = 0;
	/* Running: its APCs cannot run at its start (A12). */
	apc_handle h = t_spawn_gated(&gate, NULL);
	unsigned int i;

	t_reset();
	apc_set_queue_limit(4);
	for (i = 0; i < 4; i++)
		cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_log, i), 0);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_log, 4),
		     APC_ERROR_NOT_ENOUGH_MEMORY);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_log, 5),
		     APC_ERROR_NOT_ENOUGH_MEMORY);

	/* The limit is per target thread. */
	for (i = 0; i < 4; i++)
		cr_assert_eq(apc_queue(h, t_apc_count, i), 0);
	cr_assert_eq(apc_queue(h, t_apc_count, 4), APC_ERROR_NOT_ENOUGH_MEMORY);

	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	t_assert_log_seq(4, 0, 0);

	/* Drained: room again. */
	for (i = 0; i < 4; i++)
		cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_log, 4 + i),
			     0);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_log, 99),
		     APC_ERROR_NOT_ENOUGH_MEMORY);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	t_assert_log_seq(8, 0, 0);

	apc_set_queue_limit(0);
	for (i = 0; i < 100; i++)
		cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_count, i), 0);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);

	atomic_store(&gate, 1);
	cr_assert_eq(t_join(h), 0);
	/* The gated thread never waited alertably: its 4 were discarded. */
	cr_assert_eq(atomic_load(&t_apc_runs), 100);
#endif
}

Test(apc_queue, A23_limit_ignores_apcs_queued_before)
{
#ifdef _WIN32
	cr_skip_test("A23 (apcrt): no apc_set_queue_limit on Windows");
#else
	unsigned int i;

	t_reset();
	apc_set_queue_limit(0);
	for (i = 0; i < 3; i++)
		cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_log, i), 0);
	apc_set_queue_limit(4);
	for (i = 3; i < 7; i++)
		cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_log, i), 0);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, t_apc_log, 7),
		     APC_ERROR_NOT_ENOUGH_MEMORY);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	t_assert_log_seq(7, 0, 0);
	apc_set_queue_limit(0);
#endif
}

/* ---- G1, G13: APCs pending at exit --------------------------------------- */

Test(apc_queue, G1_G13_pending_apcs_discarded_at_exit)
{
	atomic_uint gate = 0;
	/* Running: its APCs cannot run at its start (A12). */
	apc_handle h = t_spawn_gated(&gate, NULL);
	uint32_t code = T_POISON;
	int i;

	t_reset();
	for (i = 0; i < 3; i++)
		cr_assert_eq(apc_queue(h, t_apc_count, 0), 0);
	/* The thread runs (non-alertable yields) and keeps them queued. */
	cr_assert_eq(apc_sleep(20, false), 0);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);
	cr_assert_eq(apc_thread_exit_code(h, &code), 0);
	cr_assert_eq(code, APC_STILL_ACTIVE);

	atomic_store(&gate, 1);
	cr_assert_eq(t_wait_exit(h), 0);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);
	cr_assert_eq(apc_queue(h, t_apc_count, 0), APC_ERROR_GEN_FAILURE);
	cr_assert_eq(apc_sleep(20, false), 0);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);
	cr_assert_eq(apc_close(h), 0);
}

static uint32_t thread_gated_then_exit(void *arg)
{
	if (t_thread_gated(arg) != 0)
		return 1;
	apc_thread_exit(12);
}

Test(apc_queue, G1_pending_apcs_discarded_at_apc_thread_exit)
{
	atomic_uint gate = 0;
	apc_handle h = t_spawn(thread_gated_then_exit, &gate);
	int i;

	/* Running: its APCs cannot run at its start (A12). */
	cr_assert(t_gate_wait_running(&gate));
	t_reset();
	for (i = 0; i < 100; i++)
		cr_assert_eq(apc_queue(h, t_apc_count, 0), 0);
	atomic_store(&gate, 1);
	cr_assert_eq(t_join(h), 12);
	cr_assert_eq(atomic_load(&t_apc_runs), 0);
}

/* ---- G2: queuing while the target exits ---------------------------------- */

/*
 * Producers hammer apc_queue at a target that ends while they do.  The
 * target must not drain alertably for long: two producers outpace one
 * consumer, and a drain runs until the queue is empty (A6, A7).  So it
 * either never waits alertably and returns after a short while (even
 * rounds: every accepted APC is discarded, G1), or it drains and one of
 * the APCs ends the thread once its time is up (odd rounds, G3).
 */
#define G2_ROUNDS 40u
#define G2_PRODUCERS 2u
#define G2_RUN_NS 2000000u

static atomic_uint g2_go;
static atomic_uint g2_ready;
static atomic_uint g2_runs;
static atomic_uint g2_wrong_thread;
static atomic_uint g2_target_tid;
static _Atomic uint64_t g2_deadline_ns;

static void apc_g2(uintptr_t data)
{
	(void)data;
	atomic_fetch_add(&g2_runs, 1);
	if (apc_thread_id(APC_CURRENT_THREAD) != atomic_load(&g2_target_tid))
		atomic_fetch_add(&g2_wrong_thread, 1);
	if (t_now_ns() > atomic_load(&g2_deadline_ns))
		apc_thread_exit(5);
}

static uint32_t thread_g2_target(void *arg)
{
	bool alertable = (uintptr_t)arg & 1;
	unsigned int i;

	atomic_fetch_add(&g2_ready, 1);
	if (!t_spin_until(&g2_go, 1, T_WAIT_MS))
		return 1;
	for (i = 0; i < 5000; i++) {
		if (t_now_ns() > atomic_load(&g2_deadline_ns) && !alertable)
			break;
		(void)apc_sleep(alertable, alertable);
	}
	return 0;
}

struct g2_producer {
	apc_handle target;
	atomic_uint accepted;
};

/* Bit 0: a status other than 0 or 31; bit 1: 0 after 31; bit 2: never 31. */
static uint32_t thread_g2_producer(void *arg)
{
	struct g2_producer *p = arg;
	uint64_t end = t_now_ms() + (uint64_t)T_WAIT_MS * t_slack();
	uint32_t bad = 0;
	unsigned int after = 0;
	uint32_t st;

	atomic_fetch_add(&g2_ready, 1);
	if (!t_spin_until(&g2_go, 1, T_WAIT_MS))
		return 8;
	for (;;) {
		st = apc_queue(p->target, apc_g2, 0);
		if (st == 0) {
			atomic_fetch_add(&p->accepted, 1);
			if (after)
				bad |= 2;
		} else if (st == APC_ERROR_GEN_FAILURE) {
			if (++after == 100)
				break;
		} else {
			bad |= 1;
		}
		if (t_now_ms() > end)
			return bad | 4;
	}
	return bad;
}

Test(apc_queue, G2_queue_while_target_exits)
{
	struct g2_producer prod[G2_PRODUCERS];
	apc_handle ph[G2_PRODUCERS];
	unsigned int r, i, accepted, runs;
	uint32_t tid, code;
	apc_handle t;

	for (r = 0; r < G2_ROUNDS; r++) {
		atomic_store(&g2_go, 0);
		atomic_store(&g2_ready, 0);
		atomic_store(&g2_runs, 0);
		atomic_store(&g2_deadline_ns, UINT64_MAX);
		t = t_spawn_flags(thread_g2_target, (void *)(uintptr_t)r, 0,
				  &tid);
		atomic_store(&g2_target_tid, tid);
		for (i = 0; i < G2_PRODUCERS; i++) {
			prod[i].target = t;
			atomic_store(&prod[i].accepted, 0);
			ph[i] = t_spawn(thread_g2_producer, &prod[i]);
		}
		cr_assert(t_spin_until(&g2_ready, G2_PRODUCERS + 1, T_WAIT_MS));
		atomic_store(&g2_deadline_ns, t_now_ns() + G2_RUN_NS);
		atomic_store(&g2_go, 1);

		code = t_wait_exit(t);
		runs = atomic_load(&g2_runs);
		cr_assert(code == 0 || code == 5, "round %u: exit code %u", r,
			  code);
		for (i = 0; i < G2_PRODUCERS; i++)
			cr_assert_eq(t_join(ph[i]), 0,
				     "round %u producer %u: bad statuses", r,
				     i);
		/* Nothing ran after the handle signalled... */
		cr_assert_eq(apc_queue(t, apc_g2, 0), APC_ERROR_GEN_FAILURE);
		cr_assert_eq(apc_sleep(10, false), 0);
		cr_assert_eq(atomic_load(&g2_runs), runs,
			     "round %u: APCs ran after the exit", r);
		/* ...nothing ran twice or elsewhere, or without a wait. */
		accepted = 0;
		for (i = 0; i < G2_PRODUCERS; i++)
			accepted += atomic_load(&prod[i].accepted);
		cr_assert_leq(runs, accepted);
		if (!(r & 1))
			cr_assert_eq(runs, 0, "round %u: %u APCs ran", r, runs);
		cr_assert_eq(atomic_load(&g2_wrong_thread), 0);
		cr_assert_eq(apc_close(t), 0);
	}
}

/* ---- G3: apc_thread_exit from an APC ------------------------------------- */

static atomic_uint g3_returned;

static uint32_t thread_g3_self(void *arg)
{
	(void)arg;
	if (apc_queue(APC_CURRENT_THREAD, t_apc_log, 1) != 0 ||
	    apc_queue(APC_CURRENT_THREAD, t_apc_exit, 7) != 0 ||
	    apc_queue(APC_CURRENT_THREAD, t_apc_log, 2) != 0)
		return 1;
	(void)apc_sleep(T_WAIT_MS, true);
	atomic_store(&g3_returned, 1);
	return 99;
}

Test(apc_queue, G3_exit_thread_from_apc)
{
	apc_handle h;

	t_reset();
	h = t_spawn(thread_g3_self, NULL);
	cr_assert_eq(t_join(h), 7);
	t_assert_log_seq(1, 1, 0);
	cr_assert_eq(atomic_load(&g3_returned), 0,
		     "the interrupted wait returned");
}

static uint32_t thread_g3_wait(void *arg)
{
	atomic_uint *ready = arg;
	int i;

	atomic_store(ready, 1);
	for (i = 0; i < 100; i++)
		(void)apc_sleep(T_WAIT_MS, true);
	atomic_store(&g3_returned, 1);
	return 99;
}

Test(apc_queue, G3_exit_thread_from_apc_queued_by_another_thread)
{
	atomic_uint ready = 0;
	apc_handle h;
	uint32_t tid, st;

	t_reset();
	h = t_spawn_flags(thread_g3_wait, &ready, 0, &tid);
	cr_assert(t_spin_until(&ready, 1, T_WAIT_MS));
	cr_assert_eq(apc_queue(h, t_apc_log, 1), 0);
	cr_assert_eq(apc_queue(h, t_apc_exit, 8), 0);
	/* The thread may be gone already (A19), or discard it (G3). */
	st = apc_queue(h, t_apc_log, 2);
	cr_assert(st == 0 || st == APC_ERROR_GEN_FAILURE, "status %u", st);
	cr_assert_eq(t_join(h), 8);
	t_assert_log_seq(1, 1, tid);
}

static void apc_nested_exit(uintptr_t data)
{
	t_log_push(data);
	(void)apc_sleep(0, true);
	t_log_push(data + 100);
}

static uint32_t thread_g3_nested(void *arg)
{
	(void)arg;
	if (apc_queue(APC_CURRENT_THREAD, apc_nested_exit, 1) != 0 ||
	    apc_queue(APC_CURRENT_THREAD, t_apc_exit, 9) != 0 ||
	    apc_queue(APC_CURRENT_THREAD, t_apc_log, 2) != 0)
		return 1;
	(void)apc_test_alert();
	atomic_store(&g3_returned, 1);
	return 99;
}

Test(apc_queue, G3_exit_thread_from_nested_apc)
{
	apc_handle h;

	t_reset();
	h = t_spawn(thread_g3_nested, NULL);
	cr_assert_eq(t_join(h), 9);
	/* Neither the outer APC's tail nor the APC after the exit ran. */
	t_assert_log_seq(1, 1, 0);
	cr_assert_eq(atomic_load(&g3_returned), 0);
}

/*
 * Completion ports through apc_port_post alone: creation, FIFO packets,
 * LIFO getters, timeouts, closing under a getter, the Ex call with its
 * alertable and association rules, waiting on the port handle,
 * concurrency and thread exit, and a many-thread run.
 *
 * Contract: F1, F9-F11, F13-F23, F25, F26 (its portable half), G9.  F3 is
 * a rule of the windows.h layer; F2, F4-F8, F12, F24 and F27 need bound
 * I/O handles and live with the I/O tests.
 *
 * Threads blocked in a get are seen asleep with t_wait_blocked
 * (blocked.h) before the test goes on; a thread that must stay "running"
 * for the concurrency rules busy-spins on a gate (never Sleep(0), which
 * Windows might count as a wait).  Wine does not implement the
 * concurrency value (its server hands a packet to any waiter), so the
 * checks that a waiter is held back are marked T_WINE_DEVIATION.
 */
#include <string.h>

#include <criterion/criterion.h>

#include <apc/apc.h>

#include "blocked.h"
#include "helpers.h"

TestSuite(port, .timeout = 240);

#define WINE_NO_CONCURRENCY                                                    \
	"Wine ignores the concurrency value (J9); MS I/O Completion Ports: a " \
	"waiter is released only while fewer than the concurrency value run"

/* How long a held-back getter is watched for not returning (ms). */
#define HOLD_MS 150u

/*
 * Bound (ms) of the waits that a close or a post should end at once;
 * short, because Wine 8.0 lets them run to the end (see below).
 */
#define END_MS (3000u * t_slack())

/*
 * Wine 8.0 (the Wine of Debian 12, which runs the win32 tests) predates
 * the Windows 10 behaviour that Wine's later tests pin
 * (nt/sync.c test_completion_port_scheduling, nt/file.c
 * test_set_io_completion); contract J14 describes the later Wine.
 */
#define WINE_FIFO_GETTERS                                                      \
	"Wine 8.0 wakes getters that then race for the packets; MS I/O "       \
	"Completion Ports: the last getter is handed the next packet"
#define WINE_NOT_ABANDONED                                                     \
	"Wine 8.0 leaves a getter on a closed port until its timeout; MS "     \
	"GetQueuedCompletionStatus(Ex): ERROR_ABANDONED_WAIT_0"
#define WINE_PACKET_BEFORE_APC                                                 \
	"Wine 8.0 returns a packet before an APC to a thread not associated "  \
	"with the port; Windows (test_set_io_completion): the APC first"
#define WINE_HANDLE_WAITERS                                                    \
	"Wine 8.0 wakes one thread waiting on a port handle per packet, "      \
	"also for a packet a getter waits for, and none on close; Windows "    \
	"10 1607+ (test_completion_port_scheduling): all of them, none, all"

/* ---- helpers ------------------------------------------------------------- */

static apc_handle port_new(uint32_t concurrency)
{
	apc_handle h = T_POISON_HANDLE;
	uint32_t st = apc_port_create(concurrency, &h);

	cr_assert_eq(st, 0, "apc_port_create(%u): %u", concurrency, st);
	cr_assert_not_null(h);
	cr_assert_neq(h, T_POISON_HANDLE);
	return h;
}

static void post(apc_handle port, uint32_t bytes, uintptr_t key, uintptr_t ov)
{
	uint32_t st = apc_port_post(port, bytes, key, (apc_overlapped *)ov);

	cr_assert_eq(st, 0, "apc_port_post(key %lu): %u", (unsigned long)key,
		     st);
}

/* Dequeue one packet at once and check all three values. */
static void expect_packet(apc_handle port, uint32_t bytes, uintptr_t key,
			  uintptr_t ov)
{
	uint32_t b = T_POISON;
	uintptr_t k = T_POISON;
	apc_overlapped *o = (apc_overlapped *)(uintptr_t)T_POISON;
	uint32_t st = apc_port_get(port, &b, &k, &o, 0);

	cr_assert_eq(st, 0, "get: %u (expected key %lu)", st,
		     (unsigned long)key);
	cr_assert_eq(b, bytes);
	cr_assert_eq(k, key);
	cr_assert_eq((uintptr_t)o, ov);
}

static void expect_empty(apc_handle port)
{
	uint32_t b = T_POISON;
	uintptr_t k = T_POISON;
	apc_overlapped *o = (apc_overlapped *)(uintptr_t)T_POISON;

	cr_assert_eq(apc_port_get(port, &b, &k, &o, 0), APC_WAIT_TIMEOUT);
	cr_assert_null(o);
}

/*
 * After a failed get_many, *removed is 0 on POSIX.  Windows leaves it
 * unspecified (Wine's test_set_io_completion accepts 0 or 1).
 */
#ifndef _WIN32
#define EXPECT_NONE_REMOVED(removed) cr_assert_eq((removed), 0)
#else
#define EXPECT_NONE_REMOVED(removed) ((void)(removed))
#endif

static void poison_entries(apc_overlapped_entry *e, unsigned int n)
{
	memset(e, 0xA5, n * sizeof(*e));
}

static bool entry_poisoned(const apc_overlapped_entry *e)
{
	const unsigned char *p = (const unsigned char *)e;

	for (size_t i = 0; i < sizeof(*e); i++)
		if (p[i] != 0xA5)
			return false;
	return true;
}

/* Busy-wait (no apcrt call, no yield) until *gate >= want; 60 s at most. */
static bool spin_gate(atomic_uint *gate, unsigned int want)
{
	uint64_t end = t_now_ms() + 60000u;

	while (atomic_load(gate) < want)
		if (t_now_ms() > end)
			return false;
	return true;
}

static void thread_ended_or_fail(apc_handle th)
{
	cr_assert_eq(t_join(th), 0, "thread reported a failure");
}

/* ---- a scripted getter thread -------------------------------------------- */

enum then {
	THEN_EXIT,	 /* return at once */
	THEN_SPIN_EXIT,	 /* spin on the gate (>= 1), then return */
	THEN_SPIN_WAIT,	 /* spin on the gate, block on hold, return */
	THEN_SPIN_AGAIN, /* spin, get(port, 0) again, spin (>= 2), block */
	THEN_SPIN_OTHER, /* spin, get(port2, 0), spin (>= 2), return */
};

struct getter {
	apc_handle port, port2, hold;
	enum then then;
	bool many;	/* apc_port_get_many instead of apc_port_get */
	bool alertable; /* for many */
	uint32_t ms;
	atomic_uint gate;
	/* Results, published by done (1 after the first get, 2 after the
	 * second). */
	atomic_uint ready, done;
	uint32_t st, bytes, removed, st2;
	uintptr_t key, key2;
	apc_overlapped *ov;
	uint32_t tid;
	apc_handle th;
};

static uint32_t getter_main(void *arg)
{
	struct getter *g = arg;
	apc_overlapped_entry e;
	uint32_t b, r;
	uintptr_t k;
	apc_overlapped *o;

	atomic_store(&g->ready, 1);
	if (g->many) {
		poison_entries(&e, 1);
		g->removed = T_POISON;
		g->st = apc_port_get_many(g->port, &e, 1, &g->removed, g->ms,
					  g->alertable);
		g->bytes = e.dwNumberOfBytesTransferred;
		g->key = e.lpCompletionKey;
		g->ov = e.lpOverlapped;
	} else {
		g->bytes = T_POISON;
		g->key = T_POISON;
		g->ov = (apc_overlapped *)(uintptr_t)T_POISON;
		g->st = apc_port_get(g->port, &g->bytes, &g->key, &g->ov,
				     g->ms);
	}
	atomic_store(&g->done, 1);
	if (g->then == THEN_EXIT)
		return 0;
	if (!spin_gate(&g->gate, 1))
		return 1;
	switch (g->then) {
	case THEN_SPIN_WAIT:
		r = apc_wait(g->hold, T_WAIT_MS * t_slack(), false, NULL);
		return r == APC_WAIT_OBJECT_0 ? 0 : 2;
	case THEN_SPIN_AGAIN:
		g->st2 = apc_port_get(g->port, &b, &g->key2, &o, 0);
		atomic_store(&g->done, 2);
		if (!spin_gate(&g->gate, 2))
			return 1;
		r = apc_wait(g->hold, T_WAIT_MS * t_slack(), false, NULL);
		return r == APC_WAIT_OBJECT_0 ? 0 : 2;
	case THEN_SPIN_OTHER:
		g->st2 = apc_port_get(g->port2, &b, &k, &o, 0);
		atomic_store(&g->done, 2);
		return spin_gate(&g->gate, 2) ? 0 : 1;
	default:
		return 0;
	}
}

/* Start a getter on port and wait until it sleeps in its get.  Returns
 * whether that was seen (false: probably, on Windows). */
static bool getter_start(struct getter *g, apc_handle port, uint32_t ms,
			 enum then then)
{
	g->port = port;
	g->ms = ms;
	g->then = then;
	atomic_init(&g->gate, 0);
	atomic_init(&g->ready, 0);
	atomic_init(&g->done, 0);
	g->th = t_spawn_flags(getter_main, g, 0, &g->tid);
	cr_assert(t_spin_until(&g->ready, 1, T_WAIT_MS));
	return t_wait_blocked(g->tid);
}

static struct getter *getter_new(void)
{
	static struct getter pool[8];
	static unsigned int used;

	cr_assert_lt(used, 8u);
	memset(&pool[used], 0, sizeof(pool[used]));
	return &pool[used++];
}

/* Wait (bounded) until the getter's first get returned. */
static void getter_wait_done(struct getter *g)
{
	cr_assert(t_spin_until(&g->done, 1, T_WAIT_MS),
		  "getter %u never returned", g->tid);
}

/* The getter has not returned after HOLD_MS (a lower bound of "held"). */
static bool getter_held(struct getter *g)
{
	uint64_t end = t_now_ms() + HOLD_MS;

	while (t_now_ms() < end) {
		if (atomic_load(&g->done))
			return false;
		(void)apc_sleep(1, false);
	}
	return atomic_load(&g->done) == 0;
}

/* ---- F1: creation ---------------------------------------------------------
 */

Test(port, F1_create_a_port_without_a_file)
{
	apc_handle p = port_new(0), q;

	post(p, 1, 2, 3);
	expect_packet(p, 1, 2, 3);
	expect_empty(p);
	cr_assert_eq(apc_close(p), 0);

	/* Any concurrency value. */
	q = port_new(1);
	post(q, 4, 5, 6);
	expect_packet(q, 4, 5, 6);
	cr_assert_eq(apc_close(q), 0);
	q = port_new(1000);
	cr_assert_eq(apc_close(q), 0);

	cr_assert_eq(apc_port_create(0, NULL), APC_ERROR_INVALID_PARAMETER);
}

/* ---- F9: FIFO --------------------------------------------------------------
 */

Test(port, F9_packets_are_dequeued_oldest_first)
{
	apc_handle p = port_new(0);
	apc_overlapped_entry e[8];
	uint32_t removed = T_POISON;
	unsigned int i;

	for (i = 1; i <= 3; i++)
		post(p, 10 + i, i, 100 + i);
	poison_entries(e, 8);
	cr_assert_eq(apc_port_get_many(p, e, 3, &removed, 0, false), 0);
	cr_assert_eq(removed, 3);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(e[i].lpCompletionKey, i + 1);
		cr_assert_eq(e[i].dwNumberOfBytesTransferred, 11 + i);
		cr_assert_eq((uintptr_t)e[i].lpOverlapped, 101 + i);
	}
	cr_assert(entry_poisoned(&e[3]));

	/* Mixed calls keep the order. */
	for (i = 1; i <= 5; i++)
		post(p, i, i, i);
	poison_entries(e, 8);
	cr_assert_eq(apc_port_get_many(p, e, 2, &removed, 0, false), 0);
	cr_assert_eq(removed, 2);
	cr_assert_eq(e[0].lpCompletionKey, 1);
	cr_assert_eq(e[1].lpCompletionKey, 2);
	expect_packet(p, 3, 3, 3);
	poison_entries(e, 8);
	cr_assert_eq(apc_port_get_many(p, e, 8, &removed, 0, false), 0);
	cr_assert_eq(removed, 2);
	cr_assert_eq(e[0].lpCompletionKey, 4);
	cr_assert_eq(e[1].lpCompletionKey, 5);
	cr_assert(entry_poisoned(&e[2]));
	expect_empty(p);
	cr_assert_eq(apc_close(p), 0);
}

/* ---- F10: LIFO getters ------------------------------------------------------
 */

Test(port, F10_waiters_are_released_lifo)
{
	apc_handle p = port_new(4);
	struct getter *t1 = getter_new(), *t2 = getter_new();
	uint32_t bytes, st;
	uintptr_t key;
	apc_overlapped *ov;

	/* T1 waits, then T2 waits: T2 began most recently. */
	getter_start(t1, p, T_WAIT_MS * t_slack(), THEN_EXIT);
	getter_start(t2, p, T_WAIT_MS * t_slack(), THEN_EXIT);
	post(p, 0, 3, 0);
	post(p, 0, 4, 0);
	post(p, 0, 5, 0);
	st = apc_port_get(p, &bytes, &key, &ov, T_WAIT_MS * t_slack());
	cr_assert_eq(st, 0);
	thread_ended_or_fail(t1->th);
	thread_ended_or_fail(t2->th);
	cr_assert_eq(t1->st, 0);
	cr_assert_eq(t2->st, 0);
	T_WINE_DEVIATION(WINE_FIFO_GETTERS,
			 cr_assert_eq(t2->key, 3, "the last waiter got key %lu",
				      (unsigned long)t2->key));
	T_WINE_DEVIATION(WINE_FIFO_GETTERS, cr_assert_eq(t1->key, 4));
	T_WINE_DEVIATION(WINE_FIFO_GETTERS, cr_assert_eq(key, 5));
	cr_assert_eq(apc_close(p), 0);
}

/* ---- F11: success
 * ------------------------------------------------------------ */

Test(port, F11_get_returns_the_packet_values)
{
	apc_handle p = port_new(0);
	apc_overlapped_entry e[2];
	uint32_t removed = T_POISON;

	post(p, 7, 8, 9);
	expect_packet(p, 7, 8, 9);

	post(p, 7, 8, 9);
	poison_entries(e, 2);
	cr_assert_eq(apc_port_get_many(p, e, 1, &removed, 0, false), 0);
	cr_assert_eq(removed, 1);
	cr_assert_eq(e[0].dwNumberOfBytesTransferred, 7);
	cr_assert_eq(e[0].lpCompletionKey, 8);
	cr_assert_eq((uintptr_t)e[0].lpOverlapped, 9);
	cr_assert_eq((uint32_t)e[0].Internal, APC_STATUS_SUCCESS);
	cr_assert(entry_poisoned(&e[1]));
	cr_assert_eq(apc_close(p), 0);
}

/* Outputs the caller passes as NULL are skipped (both backends). */
Test(port, F11_null_outputs_are_skipped)
{
	apc_handle p = port_new(0);
	uint32_t bytes = T_POISON;
	uintptr_t key = T_POISON;
	apc_overlapped *ov = (apc_overlapped *)(uintptr_t)T_POISON;

	for (uintptr_t i = 1; i <= 3; i++)
		post(p, (uint32_t)i, i, i);
	cr_assert_eq(apc_port_get(p, NULL, &key, &ov, 0), 0);
	cr_assert_eq(key, 1);
	cr_assert_eq((uintptr_t)ov, 1);
	cr_assert_eq(apc_port_get(p, &bytes, NULL, NULL, 0), 0);
	cr_assert_eq(bytes, 2);
	cr_assert_eq(apc_port_get(p, NULL, NULL, NULL, 0), 0);
	cr_assert_eq(apc_port_get(p, NULL, NULL, NULL, 0), APC_WAIT_TIMEOUT);
#ifndef _WIN32
	/* apcrt refuses what GetQueuedCompletionStatusEx would fault on. */
	{
		apc_overlapped_entry e[1];
		uint32_t removed = T_POISON;

		post(p, 4, 4, 4);
		cr_assert_eq(apc_port_get_many(p, NULL, 1, &removed, 0, false),
			     APC_ERROR_INVALID_PARAMETER);
		cr_assert_eq(apc_port_get_many(p, e, 0, &removed, 0, false),
			     APC_ERROR_INVALID_PARAMETER);
		cr_assert_eq(removed, 0);
		expect_packet(p, 4, 4, 4);
	}
#endif
	cr_assert_eq(apc_close(p), 0);
}

/* ---- F13: timeout
 * ------------------------------------------------------------ */

Test(port, F13_timeout_returns_wait_timeout_and_null_ov)
{
	apc_handle p = port_new(0);
	uint32_t bytes = T_POISON;
	uintptr_t key = T_POISON;
	apc_overlapped *ov = (apc_overlapped *)(uintptr_t)T_POISON;
	uint64_t start;
	double ms;

	cr_assert_eq(apc_port_get(p, &bytes, &key, &ov, 0), APC_WAIT_TIMEOUT);
	cr_assert_null(ov);

	ov = (apc_overlapped *)(uintptr_t)T_POISON;
	start = t_now_ns();
	cr_assert_eq(apc_port_get(p, &bytes, &key, &ov, 50), APC_WAIT_TIMEOUT);
	ms = t_ms_since(start);
	cr_assert_null(ov);
	cr_assert_geq(ms, t_floor_ms(50), "returned after %.1f ms", ms);
	cr_assert_lt(ms, 5000.0 * t_slack(), "returned after %.1f ms", ms);
	cr_assert_eq(apc_close(p), 0);
}

/* ---- F14: closing the port under a getter
 * ------------------------------------ */

static void check_abandoned(struct getter *g, bool blocked)
{
	getter_wait_done(g);
	thread_ended_or_fail(g->th);
	if (!blocked && g->st == APC_ERROR_INVALID_HANDLE)
		return; /* Windows only: closed before the wait started */
	T_WINE_DEVIATION(WINE_NOT_ABANDONED,
			 cr_assert_eq(g->st, APC_ERROR_ABANDONED_WAIT_0,
				      "got %u", g->st));
	if (g->many)
		EXPECT_NONE_REMOVED(g->removed);
	else
		cr_assert_null(g->ov);
}

Test(port, F14_closing_the_port_abandons_a_waiting_get)
{
	apc_handle p = port_new(0);
	struct getter *g = getter_new();
	bool blocked = getter_start(g, p, END_MS, THEN_EXIT);

	cr_assert_eq(apc_close(p), 0);
	check_abandoned(g, blocked);
}

/* ---- F15, F16: the Ex call
 * ---------------------------------------------------- */

Test(port, F15_get_many_removes_up_to_n_packets)
{
	apc_handle p = port_new(0);
	apc_overlapped_entry e[4];
	uint32_t removed = T_POISON;

	post(p, 100, 1, 0x1000);
	post(p, 200, 2, 0x2000);
	poison_entries(e, 4);
	cr_assert_eq(apc_port_get_many(p, e, 2, &removed, 0, false), 0);
	cr_assert_eq(removed, 2);
	cr_assert_eq(e[0].lpCompletionKey, 1);
	cr_assert_eq((uintptr_t)e[0].lpOverlapped, 0x1000);
	cr_assert_eq(e[0].dwNumberOfBytesTransferred, 100);
	cr_assert_eq((uint32_t)e[0].Internal, APC_STATUS_SUCCESS);
	cr_assert_eq(e[1].lpCompletionKey, 2);
	cr_assert_eq((uintptr_t)e[1].lpOverlapped, 0x2000);
	cr_assert_eq(e[1].dwNumberOfBytesTransferred, 200);
	cr_assert_eq((uint32_t)e[1].Internal, APC_STATUS_SUCCESS);
	cr_assert(entry_poisoned(&e[2]));

	/* Fewer queued than room: what there is, at once. */
	post(p, 300, 3, 0x3000);
	poison_entries(e, 4);
	removed = T_POISON;
	cr_assert_eq(apc_port_get_many(p, e, 4, &removed, 0, false), 0);
	cr_assert_eq(removed, 1);
	cr_assert_eq(e[0].lpCompletionKey, 3);
	cr_assert(entry_poisoned(&e[1]));
	cr_assert_eq(apc_close(p), 0);
}

Test(port, F15_a_blocked_get_many_takes_what_a_post_brings)
{
	apc_handle p = port_new(0);
	struct getter *g = getter_new();

	g->many = true;
	getter_start(g, p, T_WAIT_MS * t_slack(), THEN_EXIT);
	post(p, 5, 6, 7);
	getter_wait_done(g);
	thread_ended_or_fail(g->th);
	cr_assert_eq(g->st, 0);
	cr_assert_eq(g->removed, 1);
	cr_assert_eq(g->bytes, 5);
	cr_assert_eq(g->key, 6);
	cr_assert_eq((uintptr_t)g->ov, 7);
	expect_empty(p);
	cr_assert_eq(apc_close(p), 0);
}

Test(port, F16_get_many_timeout_and_close)
{
	apc_handle p = port_new(0);
	apc_overlapped_entry e[2];
	uint32_t removed = T_POISON;
	struct getter *g = getter_new();
	uint64_t start;
	double ms;
	bool blocked;

	cr_assert_eq(apc_port_get_many(p, e, 2, &removed, 0, false),
		     APC_WAIT_TIMEOUT);
	EXPECT_NONE_REMOVED(removed);
	removed = T_POISON;
	start = t_now_ns();
	cr_assert_eq(apc_port_get_many(p, e, 2, &removed, 50, true),
		     APC_WAIT_TIMEOUT);
	ms = t_ms_since(start);
	EXPECT_NONE_REMOVED(removed);
	cr_assert_geq(ms, t_floor_ms(50), "returned after %.1f ms", ms);

	g->many = true;
	blocked = getter_start(g, p, END_MS, THEN_EXIT);
	cr_assert_eq(apc_close(p), 0);
	check_abandoned(g, blocked);
}

/* ---- F17: alertable Ex
 * ---------------------------------------------------------- */

static atomic_uint apc_runs;

static void count_apc(uintptr_t data)
{
	(void)data;
	atomic_fetch_add(&apc_runs, 1);
}

Test(port, F17_alertable_get_many_runs_apcs)
{
	apc_handle p = port_new(0);
	apc_overlapped_entry e[1];
	uint32_t removed = T_POISON;
	struct getter *g = getter_new();

	atomic_store(&apc_runs, 0);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, count_apc, 0), 0);
	cr_assert_eq(apc_port_get_many(p, e, 1, &removed, 0, true),
		     APC_WAIT_IO_COMPLETION);
	EXPECT_NONE_REMOVED(removed);
	cr_assert_eq(atomic_load(&apc_runs), 1);

	/* An APC that arrives while the call blocks ends it too. */
	g->many = true;
	g->alertable = true;
	getter_start(g, p, T_WAIT_MS * t_slack(), THEN_EXIT);
	cr_assert_eq(apc_queue(g->th, count_apc, 0), 0);
	getter_wait_done(g);
	thread_ended_or_fail(g->th);
	cr_assert_eq(g->st, APC_WAIT_IO_COMPLETION);
	EXPECT_NONE_REMOVED(g->removed);
	cr_assert_eq(atomic_load(&apc_runs), 2);
	cr_assert_eq(apc_close(p), 0);
}

/* ---- F18: APC or packet
 * ---------------------------------------------------------- */

/* test_set_io_completion's sequence, in a fresh thread; results in r[]. */
struct f18 {
	uint32_t r[8];
	uint32_t removed[8];
	uint32_t apcs[8];
	uintptr_t key[8];
};

static uint32_t f18_main(void *arg)
{
	struct f18 *s = arg;
	apc_overlapped_entry e[2];
	apc_handle p1, p2;
	int i = 0;

	if (apc_port_create(0, &p2) || apc_port_create(0, &p1))
		return 1;
#define STEP(call)                                                             \
	do {                                                                   \
		s->removed[i] = T_POISON;                                      \
		e[0].lpCompletionKey = T_POISON;                               \
		s->r[i] = (call);                                              \
		s->key[i] = e[0].lpCompletionKey;                              \
		s->apcs[i] = atomic_load(&apc_runs);                           \
		i++;                                                           \
	} while (0)
#define GET_MANY(port) apc_port_get_many(port, e, 2, &s->removed[i], 0, true)

	/* 0: dequeue from p2: associated with p2. */
	apc_port_post(p2, 0, 20, NULL);
	STEP(GET_MANY(p2));
	/* 1: not associated with p1: the APC wins over p1's packet. */
	apc_queue(APC_CURRENT_THREAD, count_apc, 0);
	apc_port_post(p1, 0, 10, NULL);
	STEP(GET_MANY(p1));
	apc_close(p2);
	/* 2: that call did not associate: the APC wins again. */
	apc_queue(APC_CURRENT_THREAD, count_apc, 0);
	STEP(GET_MANY(p1));
	/* 3: no APC: the packet, and now associated with p1. */
	STEP(GET_MANY(p1));
	/* 4: associated: the packet wins, the APC stays queued. */
	apc_queue(APC_CURRENT_THREAD, count_apc, 0);
	apc_port_post(p1, 0, 11, NULL);
	STEP(GET_MANY(p1));
	/* 5: the next alertable wait runs it. */
	STEP(apc_sleep(0, true));
	apc_close(p1);
#undef GET_MANY
#undef STEP
	return 0;
}

/* Steps 1 and 3 depend on the association rule, which Wine 8.0 lacks. */
#define F18_CHECK(...) T_WINE_DEVIATION(WINE_PACKET_BEFORE_APC, __VA_ARGS__)

Test(port, F18_apc_or_packet_depends_on_association)
{
	struct f18 s;

	memset(&s, 0, sizeof(s));
	atomic_store(&apc_runs, 0);
	thread_ended_or_fail(t_spawn(f18_main, &s));

	cr_assert_eq(s.r[0], 0);
	cr_assert_eq(s.removed[0], 1);
	cr_assert_eq(s.key[0], 20);

	F18_CHECK(cr_assert_eq(s.r[1], APC_WAIT_IO_COMPLETION, "step 1: %#x",
			       s.r[1]));
	F18_CHECK(cr_assert_eq(s.apcs[1], 1));
	EXPECT_NONE_REMOVED(s.removed[1]);

	cr_assert_eq(s.r[2], APC_WAIT_IO_COMPLETION, "step 2: %#x", s.r[2]);
	cr_assert_eq(s.apcs[2], 2);

	F18_CHECK(cr_assert_eq(s.r[3], 0, "step 3: %#x", s.r[3]));
	F18_CHECK(cr_assert_eq(s.removed[3], 1));
	F18_CHECK(cr_assert_eq(s.key[3], 10));
	cr_assert_eq(s.apcs[3], 2);

	cr_assert_eq(s.r[4], 0, "step 4: %#x", s.r[4]);
	cr_assert_eq(s.removed[4], 1);
	cr_assert_eq(s.key[4], 11);
	cr_assert_eq(s.apcs[4], 2, "the packet won: the APC has not run");

	cr_assert_eq(s.r[5], APC_WAIT_IO_COMPLETION);
	cr_assert_eq(s.apcs[5], 3);
}

/* ---- F19: non-alertable calls
 * ------------------------------------------------------ */

Test(port, F19_non_alertable_gets_never_run_apcs)
{
	apc_handle p = port_new(0);
	apc_overlapped_entry e[1];
	uint32_t removed = T_POISON, bytes;
	uintptr_t key;
	apc_overlapped *ov;
	struct getter *g = getter_new();

	atomic_store(&apc_runs, 0);
	cr_assert_eq(apc_queue(APC_CURRENT_THREAD, count_apc, 0), 0);
	cr_assert_eq(apc_port_get_many(p, e, 1, &removed, 0, false),
		     APC_WAIT_TIMEOUT);
	cr_assert_eq(apc_port_get(p, &bytes, &key, &ov, 0), APC_WAIT_TIMEOUT);
	cr_assert_eq(apc_port_get_many(p, e, 1, &removed, 30, false),
		     APC_WAIT_TIMEOUT);
	cr_assert_eq(apc_port_get(p, &bytes, &key, &ov, 30), APC_WAIT_TIMEOUT);
	cr_assert_eq(atomic_load(&apc_runs), 0);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&apc_runs), 1);

	/* An APC queued to a thread blocked in a plain get does not end it. */
	getter_start(g, p, 200, THEN_EXIT);
	cr_assert_eq(apc_queue(g->th, count_apc, 0), 0);
	getter_wait_done(g);
	thread_ended_or_fail(g->th);
	cr_assert_eq(g->st, APC_WAIT_TIMEOUT);
	cr_assert_eq(atomic_load(&apc_runs), 1);
	cr_assert_eq(apc_close(p), 0);
}

/* ---- F20: post
 * ------------------------------------------------------------------------ */

Test(port, F20_post_queues_its_values_verbatim)
{
	apc_handle p = port_new(0);
	apc_overlapped_entry e[1];
	uint32_t removed;

	post(p, 0xFFFFFFFFu, UINTPTR_MAX, 1);
	expect_packet(p, 0xFFFFFFFFu, UINTPTR_MAX, 1);

	/* All zero: success with a NULL OVERLAPPED, unlike a timeout. */
	post(p, 0, 0, 0);
	expect_packet(p, 0, 0, 0);

	post(p, 0xFFFFFFFFu, UINTPTR_MAX, UINTPTR_MAX);
	cr_assert_eq(apc_port_get_many(p, e, 1, &removed, 0, false), 0);
	cr_assert_eq(e[0].dwNumberOfBytesTransferred, 0xFFFFFFFFu);
	cr_assert_eq(e[0].lpCompletionKey, UINTPTR_MAX);
	cr_assert_eq((uintptr_t)e[0].lpOverlapped, UINTPTR_MAX);
	cr_assert_eq((uint32_t)e[0].Internal, APC_STATUS_SUCCESS);
	cr_assert_eq(apc_close(p), 0);
}

/* ---- F21: not a port
 * -------------------------------------------------------------------- */

Test(port, F21_posting_to_a_non_port_fails)
{
	apc_handle ev = t_event_new(true, false);
	apc_handle closed = port_new(0);
	apc_overlapped_entry e[1];
	uint32_t removed, bytes;
	uintptr_t key;
	apc_overlapped *ov;

	cr_assert_eq(apc_close(closed), 0);
	cr_assert_eq(apc_port_post(ev, 1, 2, NULL), APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_port_post(NULL, 1, 2, NULL), APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_port_post(closed, 1, 2, NULL),
		     APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_port_post(T_POISON_HANDLE, 1, 2, NULL),
		     APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_port_get(ev, &bytes, &key, &ov, 0),
		     APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_port_get(closed, &bytes, &key, &ov, 0),
		     APC_ERROR_INVALID_HANDLE);
	cr_assert_eq(apc_port_get_many(ev, e, 1, &removed, 0, false),
		     APC_ERROR_INVALID_HANDLE);
	/* The event is untouched. */
	cr_assert_not(t_poll0(ev));
	cr_assert_eq(apc_close(ev), 0);
}

/* ---- F22, F23, G9: association and concurrency
 * ------------------------------------------ */

/*
 * Common start: port with concurrency 1; getter A is handed the first
 * packet and stays running (spinning); getter B then waits and a second
 * packet is posted.  B must be held back.
 */
static void one_running_one_held(apc_handle p, struct getter *a,
				 enum then a_then, struct getter *b)
{
	getter_start(a, p, T_WAIT_MS * t_slack(), a_then);
	post(p, 0, 1, 0);
	getter_wait_done(a);
	cr_assert_eq(a->st, 0);
	cr_assert_eq(a->key, 1);
	getter_start(b, p, T_WAIT_MS * t_slack(), THEN_EXIT);
	post(p, 0, 2, 0);
	T_WINE_DEVIATION(WINE_NO_CONCURRENCY,
			 cr_expect(getter_held(b), "B was released while A "
						   "counted as running"));
}

Test(port, F22_a_get_on_another_port_ends_the_association)
{
	apc_handle p = port_new(1), p2 = port_new(0);
	struct getter *a = getter_new(), *b = getter_new();

	a->port2 = p2;
	one_running_one_held(p, a, THEN_SPIN_OTHER, b);
	/* A calls into p2: it no longer counts for p, so B goes. */
	atomic_store(&a->gate, 1);
	cr_assert(t_spin_until(&a->done, 2, T_WAIT_MS));
	cr_assert_eq(a->st2, APC_WAIT_TIMEOUT);
	getter_wait_done(b);
	cr_assert_eq(b->st, 0);
	cr_assert_eq(b->key, 2);
	atomic_store(&a->gate, 2);
	thread_ended_or_fail(a->th);
	thread_ended_or_fail(b->th);
	cr_assert_eq(apc_close(p), 0);
	cr_assert_eq(apc_close(p2), 0);
}

Test(port, F23_a_waiter_is_released_when_a_running_thread_blocks)
{
	apc_handle p = port_new(1);
	apc_handle hold = t_event_new(true, false);
	struct getter *a = getter_new(), *b = getter_new();

	a->hold = hold;
	one_running_one_held(p, a, THEN_SPIN_WAIT, b);
	/* A blocks in an apcrt wait: B is released with the second. */
	atomic_store(&a->gate, 1);
	getter_wait_done(b);
	cr_assert_eq(b->st, 0);
	cr_assert_eq(b->key, 2);
	cr_assert_eq(apc_event_set(hold), 0);
	thread_ended_or_fail(a->th);
	thread_ended_or_fail(b->th);
	cr_assert_eq(apc_close(hold), 0);
	cr_assert_eq(apc_close(p), 0);
}

Test(port, F23_a_running_thread_that_calls_again_takes_the_next_packet)
{
	apc_handle p = port_new(1);
	apc_handle hold = t_event_new(true, false);
	struct getter *a = getter_new(), *b = getter_new();

	a->hold = hold;
	one_running_one_held(p, a, THEN_SPIN_AGAIN, b);
	/* A calls get again: it takes packet 2 without blocking, and B
	 * stays held (A is running again). */
	atomic_store(&a->gate, 1);
	cr_assert(t_spin_until(&a->done, 2, T_WAIT_MS));
	T_WINE_DEVIATION(WINE_NO_CONCURRENCY, cr_expect_eq(a->st2, 0));
	T_WINE_DEVIATION(WINE_NO_CONCURRENCY, cr_expect_eq(a->key2, 2));
	T_WINE_DEVIATION(WINE_NO_CONCURRENCY, cr_expect(getter_held(b)));
	/* A blocks: B gets the next packet. */
	post(p, 0, 3, 0);
	atomic_store(&a->gate, 2);
	getter_wait_done(b);
	cr_assert_eq(b->st, 0);
	T_WINE_DEVIATION(WINE_NO_CONCURRENCY, cr_expect_eq(b->key, 3));
	cr_assert_eq(apc_event_set(hold), 0);
	thread_ended_or_fail(a->th);
	thread_ended_or_fail(b->th);
	cr_assert_eq(apc_close(hold), 0);
	cr_assert_eq(apc_close(p), 0);
}

Test(port, G9_an_ending_thread_stops_counting)
{
	apc_handle p = port_new(1);
	struct getter *a = getter_new(), *b = getter_new();

	one_running_one_held(p, a, THEN_SPIN_EXIT, b);
	/* A ends: B is released with the queued packet. */
	atomic_store(&a->gate, 1);
	thread_ended_or_fail(a->th);
	getter_wait_done(b);
	cr_assert_eq(b->st, 0);
	cr_assert_eq(b->key, 2);
	thread_ended_or_fail(b->th);
	cr_assert_eq(apc_close(p), 0);
}

/* ---- F25: the port handle
 * ---------------------------------------------------------------- */

struct handle_waiter {
	apc_handle port;
	uint32_t ms;
	atomic_uint ready, done;
	uint32_t r;
	uint32_t tid;
	apc_handle th;
};

static uint32_t handle_waiter_main(void *arg)
{
	struct handle_waiter *w = arg;

	atomic_store(&w->ready, 1);
	w->r = apc_wait(w->port, w->ms, false, NULL);
	atomic_store(&w->done, 1);
	return 0;
}

static bool handle_waiter_start(struct handle_waiter *w, apc_handle port,
				uint32_t ms)
{
	memset(w, 0, sizeof(*w));
	w->port = port;
	w->ms = ms;
	w->th = t_spawn_flags(handle_waiter_main, w, 0, &w->tid);
	cr_assert(t_spin_until(&w->ready, 1, T_WAIT_MS));
	return t_wait_blocked(w->tid);
}

Test(port, F25_the_port_is_signalled_while_packets_are_queued)
{
	apc_handle p = port_new(0);

	cr_assert_not(t_poll0(p));
	post(p, 1, 2, 3);
	/* A wait removes nothing. */
	cr_assert(t_poll0(p));
	cr_assert(t_poll0(p));
	expect_packet(p, 1, 2, 3);
	cr_assert_not(t_poll0(p));
	cr_assert_eq(apc_close(p), 0);
}

Test(port, F25_every_handle_waiter_wakes_and_the_packet_stays)
{
	apc_handle p = port_new(0);
	struct handle_waiter w[2];

	handle_waiter_start(&w[0], p, END_MS);
	handle_waiter_start(&w[1], p, END_MS);
	post(p, 1, 2, 3);
	thread_ended_or_fail(w[0].th);
	thread_ended_or_fail(w[1].th);
	T_WINE_DEVIATION(
		WINE_HANDLE_WAITERS,
		cr_assert_eq(w[0].r, APC_WAIT_OBJECT_0, "%#x", w[0].r));
	T_WINE_DEVIATION(
		WINE_HANDLE_WAITERS,
		cr_assert_eq(w[1].r, APC_WAIT_OBJECT_0, "%#x", w[1].r));
	expect_packet(p, 1, 2, 3);
	cr_assert_eq(apc_close(p), 0);
}

Test(port, F25_a_packet_taken_by_a_getter_wakes_no_handle_waiter)
{
	apc_handle p = port_new(0);
	struct handle_waiter w;
	struct getter *g = getter_new();

	handle_waiter_start(&w, p, 500 * t_slack());
	getter_start(g, p, END_MS, THEN_EXIT);
	post(p, 1, 2, 3);
	getter_wait_done(g);
	thread_ended_or_fail(g->th);
	thread_ended_or_fail(w.th);
	T_WINE_DEVIATION(WINE_HANDLE_WAITERS,
			 cr_assert_eq(g->st, 0, "getter: %u", g->st));
	T_WINE_DEVIATION(WINE_HANDLE_WAITERS, cr_assert_eq(g->key, 2));
	T_WINE_DEVIATION(WINE_HANDLE_WAITERS,
			 cr_assert_eq(w.r, APC_WAIT_TIMEOUT,
				      "the handle waiter got %#x", w.r));
	cr_assert_eq(apc_close(p), 0);
}

Test(port, F25_closing_the_port_releases_handle_waiters)
{
	apc_handle p = port_new(0);
	struct handle_waiter w[2];
	bool blocked[2];

	blocked[0] = handle_waiter_start(&w[0], p, END_MS);
	blocked[1] = handle_waiter_start(&w[1], p, END_MS);
	cr_assert_eq(apc_close(p), 0);
	for (int i = 0; i < 2; i++) {
		thread_ended_or_fail(w[i].th);
		if (!blocked[i] && w[i].r == APC_WAIT_FAILED)
			continue; /* Windows only: closed before it waited */
		T_WINE_DEVIATION(WINE_HANDLE_WAITERS,
				 cr_assert_eq(w[i].r, APC_WAIT_OBJECT_0,
					      "waiter %d: %#x", i, w[i].r));
	}
}

/* ---- F26: lifetime
 * ------------------------------------------------------------------------- */

Test(port, F26_the_port_lives_while_a_handle_is_open)
{
	apc_handle p = port_new(0), dup = NULL;

	post(p, 1, 1, 1);
	post(p, 2, 2, 2);
	cr_assert_eq(apc_handle_duplicate(p, 0, &dup), 0);
	cr_assert_eq(apc_close(p), 0);
	/* The duplicate keeps it, packets included. */
	expect_packet(dup, 1, 1, 1);
	post(dup, 3, 3, 3);
	expect_packet(dup, 2, 2, 2);
	/* Closing the last handle with packets queued leaks nothing (the
	 * sanitizer runs check). */
	cr_assert_eq(apc_close(dup), 0);
}

Test(port, F26_a_thread_associated_with_a_closed_port)
{
	apc_handle p = port_new(0), q = port_new(0);

	/* Associate, close, then use another port and the same calls. */
	post(p, 1, 1, 1);
	expect_packet(p, 1, 1, 1);
	for (int i = 0; i < 100; i++)
		post(p, 0, 0, 0);
	cr_assert_eq(apc_close(p), 0);
	cr_assert_eq(apc_sleep(1, false), 0);
	post(q, 2, 2, 2);
	expect_packet(q, 2, 2, 2);
	cr_assert_eq(apc_close(q), 0);
}

/* ---- many threads
 * -----------------------------------------------------------------------------
 */

#define MT_PRODUCERS 4u
#define MT_CONSUMERS 4u
#define MT_PER_PRODUCER 100000u
#define MT_STOP UINTPTR_MAX
/* Bound of the run (ms): 0.2 s on Linux, some seconds under Wine, whose
 * every post and get is a wineserver round trip. */
#define MT_BOUND_MS (120000u * t_slack())

static atomic_uchar mt_seen[MT_PRODUCERS][MT_PER_PRODUCER];

struct mt_producer {
	apc_handle port;
	uint32_t id;
	uint32_t failures;
};

struct mt_consumer {
	apc_handle port;
	bool many;
	uint32_t received, dups, disorder, bad, errors;
	uint32_t last_error;
};

/* Join a thread of the run: its exit code. */
static uint32_t mt_join(apc_handle th)
{
	uint32_t code = T_POISON;

	cr_assert_eq(apc_wait(th, MT_BOUND_MS, false, NULL), APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_thread_exit_code(th, &code), 0);
	cr_assert_eq(apc_close(th), 0);
	return code;
}

static uint32_t mt_produce(void *arg)
{
	struct mt_producer *pr = arg;

	for (uint32_t s = 0; s < MT_PER_PRODUCER; s++)
		if (apc_port_post(pr->port, s, pr->id,
				  (apc_overlapped *)(uintptr_t)(s + 1)))
			pr->failures++;
	return 0;
}

/* One packet; false on the stop packet. */
static bool mt_take(struct mt_consumer *c, uint32_t *next, uintptr_t key,
		    uint32_t bytes, apc_overlapped *ov)
{
	uint32_t id = (uint32_t)key - 1;

	if (key == MT_STOP)
		return false;
	if (key < 1 || key > MT_PRODUCERS || bytes >= MT_PER_PRODUCER ||
	    (uintptr_t)ov != (uintptr_t)bytes + 1) {
		c->bad++;
		return true;
	}
	c->received++;
	if (atomic_exchange(&mt_seen[id][bytes], 1))
		c->dups++;
	/* FIFO: this consumer sees each producer's packets in order. */
	if (bytes < next[id])
		c->disorder++;
	next[id] = bytes + 1;
	return true;
}

static uint32_t mt_consume(void *arg)
{
	struct mt_consumer *c = arg;
	uint32_t next[MT_PRODUCERS] = {0};
	apc_overlapped_entry e[16];
	uint32_t ms = MT_BOUND_MS;

	for (;;) {
		uint32_t st, n = 0, bytes;
		uintptr_t key;
		apc_overlapped *ov;
		bool stop = false;

		if (c->many) {
			uint32_t stops = 0;

			st = apc_port_get_many(c->port, e, 16, &n, ms, false);
			for (uint32_t i = 0; st == 0 && i < n; i++)
				if (!mt_take(c, next, e[i].lpCompletionKey,
					     e[i].dwNumberOfBytesTransferred,
					     e[i].lpOverlapped))
					stops++;
			/* One stop packet each: give back the others. */
			for (; stops > 1; stops--)
				if (apc_port_post(c->port, 0, MT_STOP, NULL))
					c->errors++;
			stop = stops == 1;
		} else {
			st = apc_port_get(c->port, &bytes, &key, &ov, ms);
			if (st == 0)
				stop = !mt_take(c, next, key, bytes, ov);
		}
		if (st) {
			c->errors++;
			c->last_error = st;
			return 1;
		}
		if (stop)
			return 0;
	}
}

Test(port, many_producers_and_consumers_deliver_each_packet_once)
{
	apc_handle p = port_new(0);
	struct mt_producer pr[MT_PRODUCERS];
	struct mt_consumer co[MT_CONSUMERS];
	apc_handle pth[MT_PRODUCERS], cth[MT_CONSUMERS];
	uint64_t total = 0;
	unsigned int i;

	memset(mt_seen, 0, sizeof(mt_seen));
	memset(co, 0, sizeof(co));
	for (i = 0; i < MT_CONSUMERS; i++) {
		co[i].port = p;
		co[i].many = i % 2;
		cth[i] = t_spawn(mt_consume, &co[i]);
	}
	for (i = 0; i < MT_PRODUCERS; i++) {
		pr[i].port = p;
		pr[i].id = i + 1;
		pr[i].failures = 0;
		pth[i] = t_spawn(mt_produce, &pr[i]);
	}
	for (i = 0; i < MT_PRODUCERS; i++) {
		cr_assert_eq(mt_join(pth[i]), 0);
		cr_assert_eq(pr[i].failures, 0);
	}
	/* FIFO: the stop packets come after every producer's packets; each
	 * consumer ends at one (and posts back any other it took). */
	for (i = 0; i < MT_CONSUMERS; i++)
		post(p, 0, MT_STOP, 0);
	for (i = 0; i < MT_CONSUMERS; i++) {
		uint32_t code = mt_join(cth[i]);

		cr_assert_eq(code, 0, "consumer %u: error %u", i,
			     co[i].last_error);
		cr_assert_eq(co[i].dups, 0);
		cr_assert_eq(co[i].disorder, 0);
		cr_assert_eq(co[i].bad, 0);
		cr_assert_eq(co[i].errors, 0);
		total += co[i].received;
	}
	cr_assert_eq(total, (uint64_t)MT_PRODUCERS * MT_PER_PRODUCER);
	for (i = 0; i < MT_PRODUCERS; i++)
		for (uint32_t s = 0; s < MT_PER_PRODUCER; s++)
			if (!atomic_load(&mt_seen[i][s]))
				cr_assert_fail("producer %u packet %u lost", i,
					       s);
	expect_empty(p);
	cr_assert_eq(apc_close(p), 0);
}

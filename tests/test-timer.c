/*
 * Waitable timers: creation, relative and absolute due times, periods,
 * completion routines, and what a set, a cancel, a close or the end of
 * the setting thread does to the timer and to a routine call still
 * queued.
 *
 * Contract: D1-D17, D19-D23.  D18 (absolute due times follow the wall
 * clock) needs a clock hook: tests/test-hooks.c.
 *
 * Timing as in test-sleep.c: lower bounds are strict and come from
 * t_floor_ms() (never early on POSIX, D21 [apcrt]; one clock tick early
 * allowed on Windows, D21 [D]); upper bounds are generous (2-core CI) and
 * scaled by t_slack().  Runs with CRITERION_JOBS=1 and is_parallel false.
 * Where a test must know that an expiry has happened, it waits for the
 * timer's signal or for its routine, never a fixed time; the fixed sleeps
 * left are the subject of their rule ("the thread is busy, not
 * alertable, for N ms").
 *
 * On the win32 backend these run against kernel32 (under Wine in CI).
 * Checks that Wine fails against Microsoft's documentation carry
 * T_WINE_DEVIATION: contract J10 (D9), J11 (D5), and four that J does not
 * list yet (D4 negative period accepted, D12/D13 routine time, D15 timer
 * kept after its setting thread ended, D19 last error 722).  The [apcrt]
 * rules (D10, D21, D23) are checked on both backends, except the part of
 * D23 that Windows leaves unspecified and Wine does otherwise.
 */
#include <criterion/criterion.h>

#include <stdint.h>

#include <apc/apc.h>
#include <apc/windows.h>

#include "blocked.h"
#include "helpers.h"

TestSuite(timer, .timeout = 120);

/* ---- helpers ------------------------------------------------------------- */

/* Due times are in 100 ns units: MS(ms) is an interval, REL(ms) a due time
 * ms from now. */
#define MS(ms) ((int64_t)(ms)*10000)
#define REL(ms) (-MS(ms))

/* Bound of every wait that must end (ms). */
#define WAIT_BOUND ((uint32_t)(T_WAIT_MS * t_slack()))

/* 2020-01-01 and 2200-01-01 as FILETIMEs: a plausible "now". */
#define FT_2020 132223104000000000LL
#define FT_2200 189025920000000000LL

/* Generous upper bound: base ms plus 2 s, times the slack factor. */
static double upper(double base_ms)
{
	return (base_ms + 2000.0) * t_slack();
}

/* One clock tick (ms) on Windows; 0 on POSIX. */
static double tick_ms(void)
{
	return 1000.0 - t_floor_ms(1000);
}

/*
 * The least time (ms, on t_now_ns) from a t_now_ns() reading taken just
 * before apc_filetime_now() to the expiry of a timer set to that FILETIME
 * plus ms.  POSIX: ms less 200 ns, because both FILETIME readings (ours,
 * the library's) are truncated to 100 ns.  Windows: t_floor_ms less one
 * more tick, because GetSystemTimeAsFileTime advances once per tick.
 */
static double abs_floor_ms(uint32_t ms)
{
#if defined(_WIN32)
	return t_floor_ms(ms) - tick_ms();
#else
	return (double)ms - 0.0002;
#endif
}

static apc_handle timer_new(bool manual)
{
	apc_handle h = T_POISON_HANDLE;

	cr_assert_eq(apc_timer_create(manual, &h), 0);
	cr_assert_not_null(h);
	cr_assert_neq(h, T_POISON_HANDLE);
	return h;
}

static void timer_set(apc_handle t, int64_t due, int32_t period,
		      apc_timer_fn fn, void *arg)
{
	uint32_t st = apc_timer_set(t, due, period, fn, arg);

	cr_assert_eq(st, 0, "apc_timer_set(due %lld, period %d): %u",
		     (long long)due, (int)period, st);
}

static void timer_close(apc_handle t)
{
	cr_assert_eq(apc_timer_cancel(t), 0);
	cr_assert_eq(apc_close(t), 0);
}

/*
 * t_poll0, and if the timer was signalled, assert that the poll ended no
 * earlier than floor_ms after t0 (never early).
 */
static bool poll_not_early(apc_handle h, uint64_t t0, double floor_ms)
{
	bool s = t_poll0(h);
	double ms = t_ms_since(t0);

	if (s)
		cr_assert_geq(ms, floor_ms, "signalled after %.3f ms", ms);
	return s;
}

/* A bounded, non-alertable wait that must see the object signalled. */
static void wait_signalled(apc_handle h)
{
	uint32_t err = T_POISON;
	uint32_t r = apc_wait(h, WAIT_BOUND, false, &err);

	cr_assert_eq(r, APC_WAIT_OBJECT_0, "wait: %#x (error %u)", r, err);
	cr_assert_eq(err, T_POISON);
}

/* A bounded alertable sleep that must end because routines ran. */
static void sleep_until_routine(void)
{
	uint32_t r = apc_sleep(WAIT_BOUND, true);

	cr_assert_eq(r, APC_WAIT_IO_COMPLETION, "alertable sleep: %#x", r);
}

/* An alertable sleep of ms that must run nothing and last ms. */
static void sleep_no_routine(uint32_t ms)
{
	uint64_t t0 = t_now_ns();
	uint32_t r = apc_sleep(ms, true);
	double el = t_ms_since(t0);

	cr_assert_eq(r, 0, "alertable sleep of %u ms: %#x", ms, r);
	cr_assert_geq(el, t_floor_ms(ms), "slept %.3f ms of %u", el, ms);
}

/*
 * After a set, a cancel or a close removed a queued routine call: the
 * thread's next alertable waits run nothing, and return what they return
 * with an empty APC queue.  how 0: SleepEx(0) first; 1: a timed alertable
 * sleep first; 2: a timed alertable wait on an object first.
 */
static void check_removed(unsigned int how)
{
	apc_handle e;
	uint64_t t0;
	uint32_t r;

	switch (how % 3) {
	case 0:
		r = apc_sleep(0, true);
		cr_assert_eq(r, 0, "SleepEx(0, TRUE) after the removal: %#x",
			     r);
		sleep_no_routine(30);
		break;
	case 1:
		t0 = t_now_ns();
		r = apc_sleep(30, true);
		cr_assert_eq(r, 0,
			     "alertable 30 ms sleep after the removal: %#x", r);
		cr_assert_geq(t_ms_since(t0), t_floor_ms(30));
		cr_assert_eq(apc_sleep(0, true), 0);
		break;
	default:
		e = t_event_new(true, false);
		t0 = t_now_ns();
		r = apc_wait(e, 30, true, NULL);
		cr_assert_eq(r, APC_WAIT_TIMEOUT,
			     "alertable 30 ms wait after the removal: %#x", r);
		cr_assert_geq(t_ms_since(t0), t_floor_ms(30));
		cr_assert_eq(apc_close(e), 0);
		cr_assert_eq(apc_sleep(0, true), 0);
		break;
	}
}

static uint32_t self_tid(void)
{
	return apc_thread_id(APC_CURRENT_THREAD);
}

/* ---- routine recorders --------------------------------------------------- */

#define REC_MAX 64u

/* What the routine calls given a struct rec as argument saw. */
struct rec {
	atomic_uint runs;
	atomic_uint tid;		 /* thread of the last run */
	_Atomic int64_t time[REC_MAX];	 /* FILETIME passed to each run */
	_Atomic uint64_t at_ns[REC_MAX]; /* t_now_ns() at each run */
};

static struct rec ra, rb;

static void rec_reset(struct rec *r)
{
	unsigned int i;

	atomic_store(&r->runs, 0);
	atomic_store(&r->tid, 0);
	for (i = 0; i < REC_MAX; i++) {
		atomic_store(&r->time[i], 0);
		atomic_store(&r->at_ns[i], 0);
	}
}

static unsigned int runs(struct rec *r)
{
	return atomic_load(&r->runs);
}

/* apc_timer_fn: arg is the struct rec to record into. */
static void routine_rec(void *arg, uint32_t low, uint32_t high)
{
	struct rec *r = arg;
	unsigned int n = atomic_fetch_add(&r->runs, 1);

	atomic_store(&r->tid, self_tid());
	if (n < REC_MAX) {
		atomic_store(&r->time[n],
			     (int64_t)(((uint64_t)high << 32) | low));
		atomic_store(&r->at_ns[n], t_now_ns());
	}
}

/* apc_timer_fn: records its argument, whatever it is, then into ra. */
static _Atomic uintptr_t seen_arg;

static void routine_arg(void *arg, uint32_t low, uint32_t high)
{
	atomic_store(&seen_arg, (uintptr_t)arg);
	routine_rec(&ra, low, high);
}

/* PTIMERAPCROUTINE for the Win32 names: arg is a struct rec. */
static VOID CALLBACK routine_win(LPVOID arg, DWORD low, DWORD high)
{
	routine_rec(arg, (uint32_t)low, (uint32_t)high);
}

static void reset_all(void)
{
	rec_reset(&ra);
	rec_reset(&rb);
	atomic_store(&seen_arg, 0);
}

/* ---- waiter threads ------------------------------------------------------ */

struct waiter {
	apc_handle obj;
	atomic_uint ready;
	_Atomic uint64_t returned_ns;
	uint32_t tid;
	apc_handle thread;
};

/* Exit code: the wait's result, or 0xE0000000 | error for WAIT_FAILED. */
static uint32_t thread_waiter(void *arg)
{
	struct waiter *w = arg;
	uint32_t err = T_POISON;
	uint32_t r;

	atomic_store(&w->ready, 1);
	r = apc_wait(w->obj, WAIT_BOUND, false, &err);
	atomic_store(&w->returned_ns, t_now_ns());
	return r == APC_WAIT_FAILED ? 0xE0000000u | err : r;
}

/* Start n waiters on obj and wait until they are asleep (blocked.h). */
static void start_waiters(struct waiter *w, unsigned int n, apc_handle obj)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		w[i].obj = obj;
		atomic_init(&w[i].ready, 0);
		atomic_init(&w[i].returned_ns, 0);
		w[i].thread = t_spawn_flags(thread_waiter, &w[i], 0, &w[i].tid);
	}
	for (i = 0; i < n; i++) {
		cr_assert(t_spin_until(&w[i].ready, 1, T_WAIT_MS));
		(void)t_wait_blocked(w[i].tid);
	}
}

/* ---- D1: creation -------------------------------------------------------- */

Test(timer, D1_new_timer_is_inactive_and_unsignalled)
{
	int manual;
	uint64_t t0;
	double ms;
	HANDLE h;

	for (manual = 0; manual < 2; manual++) {
		apc_handle t = timer_new(manual);

		cr_assert_not(t_poll0(t), "manual %d", manual);
		t0 = t_now_ns();
		cr_assert_eq(apc_wait(t, 50, false, NULL), APC_WAIT_TIMEOUT);
		ms = t_ms_since(t0);
		cr_assert_geq(ms, t_floor_ms(50), "waited %.3f ms", ms);
		/* Alertable: no routine, no APC, nothing ends it early. */
		t0 = t_now_ns();
		cr_assert_eq(apc_wait(t, 20, true, NULL), APC_WAIT_TIMEOUT);
		cr_assert_geq(t_ms_since(t0), t_floor_ms(20));
		cr_assert_not(t_poll0(t), "manual %d", manual);
		cr_assert_eq(apc_close(t), 0);
	}
	cr_assert_eq(apc_timer_create(false, NULL),
		     APC_ERROR_INVALID_PARAMETER);
	cr_assert_eq(apc_timer_create(true, NULL), APC_ERROR_INVALID_PARAMETER);

	/* The Win32 names. */
	cr_assert_eq(CREATE_WAITABLE_TIMER_MANUAL_RESET, 0x1u);
	h = CreateWaitableTimerA(NULL, TRUE, NULL);
	cr_assert_not_null(h);
	cr_assert_eq(WaitForSingleObject(h, 0), WAIT_TIMEOUT);
	cr_assert(CloseHandle(h));
	h = CreateWaitableTimerW(NULL, FALSE, NULL);
	cr_assert_not_null(h);
	cr_assert_eq(WaitForSingleObject(h, 0), WAIT_TIMEOUT);
	cr_assert(CloseHandle(h));
	h = CreateWaitableTimer(NULL, FALSE, NULL);
	cr_assert_not_null(h);
	cr_assert_eq(WaitForSingleObject(h, 10), WAIT_TIMEOUT);
	cr_assert(CloseHandle(h));
}

/* ---- D2: relative and absolute due times --------------------------------- */

Test(timer, D2_relative_due_time)
{
	int manual;

	for (manual = 0; manual < 2; manual++) {
		apc_handle t = timer_new(manual);
		uint64_t t0 = t_now_ns();
		double ms;

		timer_set(t, REL(50), 0, NULL, NULL);
		/* A sync timer polled late would be consumed: manual only. */
		if (manual)
			(void)poll_not_early(t, t0, t_floor_ms(50));
		wait_signalled(t);
		ms = t_ms_since(t0);
		cr_assert_geq(ms, t_floor_ms(50), "manual %d: %.3f ms", manual,
			      ms);
		cr_assert_leq(ms, upper(50), "manual %d: %.3f ms", manual, ms);
		cr_assert_eq(t_poll0(t), (bool)manual);
		timer_close(t);
	}
}

Test(timer, D2_absolute_due_time)
{
	int manual;
	LARGE_INTEGER li;
	FILETIME ft;
	uint64_t t0;
	double ms;
	HANDLE h;

	for (manual = 0; manual < 2; manual++) {
		apc_handle t = timer_new(manual);
		int64_t now;

		t0 = t_now_ns();
		now = apc_filetime_now();
		cr_assert(now > FT_2020 && now < FT_2200, "now: %lld",
			  (long long)now);
		timer_set(t, now + MS(50), 0, NULL, NULL);
		if (manual)
			(void)poll_not_early(t, t0, abs_floor_ms(50));
		wait_signalled(t);
		ms = t_ms_since(t0);
		cr_assert_geq(ms, abs_floor_ms(50), "manual %d: %.4f ms",
			      manual, ms);
		cr_assert_leq(ms, upper(50), "manual %d: %.3f ms", manual, ms);
		timer_close(t);
	}

	/* The Win32 names. */
	h = CreateWaitableTimerA(NULL, TRUE, NULL);
	cr_assert_not_null(h);
	t0 = t_now_ns();
	GetSystemTimeAsFileTime(&ft);
	li.QuadPart = (LONGLONG)(((uint64_t)ft.dwHighDateTime << 32) |
				 ft.dwLowDateTime) +
		      MS(50);
	cr_assert(li.QuadPart > FT_2020 && li.QuadPart < FT_2200);
	cr_assert(SetWaitableTimer(h, &li, 0, NULL, NULL, FALSE));
	cr_assert_eq(WaitForSingleObject(h, WAIT_BOUND), WAIT_OBJECT_0);
	ms = t_ms_since(t0);
	cr_assert_geq(ms, abs_floor_ms(50), "%.4f ms", ms);
	li.QuadPart = REL(30);
	t0 = t_now_ns();
	cr_assert(SetWaitableTimer(h, &li, 0, NULL, NULL, FALSE));
	cr_assert_eq(WaitForSingleObject(h, WAIT_BOUND), WAIT_OBJECT_0);
	ms = t_ms_since(t0);
	cr_assert_geq(ms, t_floor_ms(30), "%.3f ms", ms);
	cr_assert_leq(ms, upper(30), "%.3f ms", ms);
	cr_assert(CancelWaitableTimer(h));
	cr_assert(CloseHandle(h));
}

/* ---- D3: due times already reached --------------------------------------- */

Test(timer, D3_past_due_time_fires_at_once)
{
	/* A period far longer than the bound: firing "after one period"
	 * would fail the bound. */
	const int32_t period = 60000;
	unsigned int i;
	int manual;

	for (manual = 0; manual < 2; manual++) {
		for (i = 0; i < 3; i++) {
			apc_handle t = timer_new(manual);
			int64_t due;
			uint64_t t0;
			double ms;

			reset_all();
			if (i == 0)
				due = -1; /* one tick of 100 ns */
			else if (i == 1)
				due = 10000; /* 1601-01-01 00:00:00.001 */
			else
				due = apc_filetime_now() - MS(10000);
			t0 = t_now_ns();
			timer_set(t, due, period, routine_rec, &ra);
			/* Asynchronously: nothing ran inside the call. */
			cr_assert_eq(runs(&ra), 0);
			wait_signalled(t);
			ms = t_ms_since(t0);
			cr_assert_leq(ms, upper(0), "due %lld: %.3f ms",
				      (long long)due, ms);
			cr_assert_lt(ms, (double)period);
			cr_assert_eq(runs(&ra), 0,
				     "ran in a non-alertable wait");
			cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION,
				     "due %lld", (long long)due);
			cr_assert_eq(runs(&ra), 1, "due %lld", (long long)due);
			timer_close(t);
		}
	}
}

/* ---- D4: period ---------------------------------------------------------- */

#define D4_WINE                                                                \
	"Wine accepts a negative period; MS SetWaitableTimer: if lPeriod is "  \
	"less than zero, the function fails"

Test(timer, D4_negative_period_fails_with_87)
{
	static const int32_t bad[] = {-1, -1000, INT32_MIN};
	apc_handle t = timer_new(false);
	LARGE_INTEGER li;
	unsigned int i;
	uint32_t st;
	HANDLE h;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		st = apc_timer_set(t, REL(60000), bad[i], NULL, NULL);
		T_WINE_DEVIATION(D4_WINE,
				 cr_assert_eq(st, APC_ERROR_INVALID_PARAMETER,
					      "period %d: %u", (int)bad[i],
					      st));
	}
	timer_close(t);

	h = CreateWaitableTimerA(NULL, FALSE, NULL);
	cr_assert_not_null(h);
	li.QuadPart = REL(60000);
	SetLastError(T_POISON);
	st = (uint32_t)SetWaitableTimer(h, &li, -1, NULL, NULL, FALSE);
	T_WINE_DEVIATION(D4_WINE, cr_assert_eq(st, 0, "returned %u", st));
	T_WINE_DEVIATION(D4_WINE,
			 cr_assert_eq(GetLastError(), ERROR_INVALID_PARAMETER));
	cr_assert(CancelWaitableTimer(h));
	cr_assert(CloseHandle(h));
}

Test(timer, D4_period_zero_fires_once)
{
	int manual;

	for (manual = 0; manual < 2; manual++) {
		apc_handle t = timer_new(manual);
		uint64_t t0;

		reset_all();
		t0 = t_now_ns();
		timer_set(t, REL(20), 0, routine_rec, &ra);
		wait_signalled(t);
		cr_assert_geq(t_ms_since(t0), t_floor_ms(20));
		cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
		cr_assert_eq(runs(&ra), 1);
		/* No second expiry: no routine, no new signal. */
		if (!manual) {
			t0 = t_now_ns();
			cr_assert_eq(apc_wait(t, 150, true, NULL),
				     APC_WAIT_TIMEOUT);
			cr_assert_geq(t_ms_since(t0), t_floor_ms(150));
		} else {
			sleep_no_routine(150);
			cr_assert(t_poll0(t));
		}
		cr_assert_eq(runs(&ra), 1, "manual %d", manual);
		timer_close(t);
	}
}

/* ---- D5: setting stops, unsignals and re-arms ---------------------------- */

Test(timer, D5_set_unsignals_manual_timer)
{
	apc_handle t = timer_new(true);
	uint64_t t0;
	double ms;
	bool s;

	timer_set(t, -1, 0, NULL, NULL);
	wait_signalled(t);
	cr_assert(t_poll0(t));

	t0 = t_now_ns();
	timer_set(t, REL(200), 0, NULL, NULL);
	s = t_poll0(t);
	ms = t_ms_since(t0);
	if (ms < t_floor_ms(200))
		cr_assert_not(s, "still signalled after the set");
	wait_signalled(t);
	ms = t_ms_since(t0);
	cr_assert_geq(ms, t_floor_ms(200), "%.3f ms", ms);
	cr_assert_leq(ms, upper(200), "%.3f ms", ms);
	cr_assert(t_poll0(t));
	timer_close(t);
}

Test(timer, D5_set_unsignals_sync_timer)
{
	apc_handle t = timer_new(false);
	uint64_t t0;
	double ms;
	bool s;

	/* The routine has run: the expiry happened, and nothing consumed
	 * the signal. */
	reset_all();
	timer_set(t, -1, 0, routine_rec, &ra);
	sleep_until_routine();
	cr_assert_eq(runs(&ra), 1);

	t0 = t_now_ns();
	timer_set(t, REL(200), 0, NULL, NULL);
	s = t_poll0(t);
	ms = t_ms_since(t0);
	if (ms < t_floor_ms(200)) {
		T_WINE_DEVIATION("Wine clears the signal on a set only for "
				 "manual-reset timers (contract J11); MS "
				 "Waitable Timer Objects: a timer that is set "
				 "becomes nonsignaled",
				 cr_assert_not(s, "still signalled after "
						  "the set"));
		s = false; /* what the poll took was the old signal */
	}
	/* Signalled once more, at the new due time only (unless the poll,
	 * late, took that already). */
	if (!s)
		wait_signalled(t);
	ms = t_ms_since(t0);
	cr_assert_geq(ms, t_floor_ms(200), "%.3f ms", ms);
	cr_assert_leq(ms, upper(200), "%.3f ms", ms);
	cr_assert_not(t_poll0(t));
	cr_assert_eq(runs(&ra), 1);
	timer_close(t);
}

Test(timer, D5_waiters_keep_waiting_through_a_set)
{
	enum { N = 2 };
	struct waiter w[N];
	apc_handle th[N];
	apc_handle t = timer_new(true);
	unsigned int i;
	uint64_t t0;

	timer_set(t, REL(60000), 0, NULL, NULL);
	start_waiters(w, N, t);
	for (i = 0; i < N; i++)
		th[i] = w[i].thread;

	/* Re-armed, not released: they wake at the new due time. */
	t0 = t_now_ns();
	timer_set(t, REL(200), 0, NULL, NULL);
	for (i = 0; i < N; i++) {
		double ms;

		cr_assert_eq(t_wait_exit(th[i]), APC_WAIT_OBJECT_0);
		ms = (double)(atomic_load(&w[i].returned_ns) - t0) / 1e6;
		cr_assert_geq(ms, t_floor_ms(200), "waiter %u: %.3f ms", i, ms);
		cr_assert_leq(ms, upper(200), "waiter %u: %.3f ms", i, ms);
		cr_assert_eq(apc_close(th[i]), 0);
	}
	timer_close(t);
}

/* ---- D6: a set removes a queued routine call ----------------------------- */

Test(timer, D6_set_removes_queued_routine_call)
{
	unsigned int round;

	for (round = 0; round < 6; round++) {
		bool manual = round & 1;
		apc_handle t = timer_new(manual);

		reset_all();
		timer_set(t, -1, 0, routine_rec, &ra);
		/* Non-alertable: it expired, its routine call is queued. */
		wait_signalled(t);
		cr_assert_eq(runs(&ra), 0);

		timer_set(t, REL(60000), 0, routine_rec, &ra);
		check_removed(round / 2);
		cr_assert_eq(runs(&ra), 0, "round %u", round);

		/* The new schedule and routine work. */
		timer_set(t, REL(20), 0, routine_rec, &rb);
		sleep_until_routine();
		cr_assert_eq(runs(&rb), 1);
		cr_assert_eq(runs(&ra), 0);
		timer_close(t);
	}
}

Test(timer, D6_set_removes_call_queued_while_busy)
{
	apc_handle t = timer_new(false);
	unsigned int how;

	/* The contract's form: a 1 ms periodic timer, the thread busy
	 * (not alertable) through many expiries. */
	for (how = 0; how < 3; how++) {
		reset_all();
		timer_set(t, REL(1), 1, routine_rec, &ra);
		cr_assert_eq(apc_sleep(50, false), 0);
		cr_assert_eq(runs(&ra), 0);
		timer_set(t, REL(60000), 0, routine_rec, &ra);
		check_removed(how);
		cr_assert_eq(runs(&ra), 0, "how %u", how);
	}
	timer_close(t);
}

/* ---- D7: manual-reset and synchronization timers ------------------------- */

Test(timer, D7_manual_releases_all)
{
	enum { N = 3 };
	struct waiter w[N];
	apc_handle t = timer_new(true);
	unsigned int i;

	start_waiters(w, N, t);
	timer_set(t, -1, 0, NULL, NULL);
	for (i = 0; i < N; i++)
		cr_assert_eq(t_join(w[i].thread), APC_WAIT_OBJECT_0,
			     "waiter %u", i);
	/* Stays signalled: any number of later waits pass. */
	for (i = 0; i < 5; i++)
		cr_assert(t_poll0(t));
	cr_assert_eq(apc_wait(t, 0, true, NULL), APC_WAIT_OBJECT_0);
	timer_close(t);
}

Test(timer, D7_sync_releases_one)
{
	enum { N = 3 };
	struct waiter w[N];
	apc_handle th[N];
	apc_handle t = timer_new(false);
	unsigned int n = N, k;

	start_waiters(w, N, t);
	for (k = 0; k < N; k++)
		th[k] = w[k].thread;
	for (k = 1; k <= N; k++) {
		int i;

		timer_set(t, -1, 0, NULL, NULL);
		i = t_one_ended(th, n, WAIT_BOUND);
		cr_assert_geq(i, 0, "expiry #%u released nobody", k);
		cr_assert_eq(t_join(th[i]), APC_WAIT_OBJECT_0);
		th[i] = th[--n];
		/* Reset by the wait it satisfied; nobody else went through. */
		if (n)
			cr_assert_eq(t_one_ended(th, n, 200), -1,
				     "expiry #%u released a second waiter", k);
		cr_assert_not(t_poll0(t), "expiry #%u: still signalled", k);
	}
	timer_close(t);
}

Test(timer, D7_sync_stays_signalled_until_a_wait)
{
	apc_handle t = timer_new(false);
	apc_handle e = t_event_new(true, false);
	apc_handle two[2];
	int round;

	two[0] = t;
	two[1] = e;
	for (round = 0; round < 2; round++) {
		reset_all();
		timer_set(t, -1, 0, routine_rec, &ra);
		sleep_until_routine();
		cr_assert_eq(runs(&ra), 1);
		if (round == 1) {
			/* A wait-all that cannot complete takes nothing. */
			cr_assert_eq(
				apc_wait_multiple(2, two, true, 0, false, NULL),
				APC_WAIT_TIMEOUT);
			cr_assert_eq(
				apc_wait_multiple(2, two, true, 20, true, NULL),
				APC_WAIT_TIMEOUT);
		}
		cr_assert(t_poll0(t), "round %d", round);
		cr_assert_not(t_poll0(t), "round %d", round);
	}
	timer_close(t);
	cr_assert_eq(apc_close(e), 0);
}

/* ---- D8: a periodic synchronization timer -------------------------------- */

Test(timer, D8_periodic_sync_signals_each_period)
{
	const uint32_t period = 300;
	apc_handle t = timer_new(false);
	uint64_t t0;
	double ms;

	t0 = t_now_ns();
	timer_set(t, -1, (int32_t)period, NULL, NULL);
	wait_signalled(t);
	ms = t_ms_since(t0);
	cr_assert_leq(ms, upper(0), "first expiry after %.3f ms", ms);
	/* Consumed; the next expiry is one period after the first. */
	if (t_poll0(t))
		cr_assert_geq(t_ms_since(t0), t_floor_ms(period));
	else
		wait_signalled(t);
	ms = t_ms_since(t0);
	cr_assert_geq(ms, t_floor_ms(period), "second after %.3f ms", ms);
	cr_assert_leq(ms, upper(period), "second after %.3f ms", ms);
	wait_signalled(t);
	ms = t_ms_since(t0);
	cr_assert_geq(ms, t_floor_ms(2 * period), "third after %.3f ms", ms);
	cr_assert_leq(ms, upper(2 * period), "third after %.3f ms", ms);
	timer_close(t);
}

/* ---- D9: a periodic manual-reset timer ----------------------------------- */

Test(timer, D9_periodic_manual_stays_signalled_routine_each_period)
{
	const uint32_t period = 20, span = 210;
	apc_handle t = timer_new(true);
	unsigned int n, most, least;
	uint64_t t0;
	double end;
	uint32_t r;

	reset_all();
	t0 = t_now_ns();
	timer_set(t, REL(period), (int32_t)period, routine_rec, &ra);
	while ((end = t_ms_since(t0)) < span) {
		r = apc_sleep((uint32_t)(span - end) + 1, true);
		cr_assert(r == 0 || r == APC_WAIT_IO_COMPLETION, "%#x", r);
	}
	end = t_ms_since(t0);
	n = runs(&ra);
	/* Expiry k is due at (k + 1) * period after t0 at the earliest. */
	most = (unsigned int)((end + tick_ms()) / period);
	least = t_slack() > 1 ? 2 : 5;
	cr_log_info("D9: %u routine calls in %.1f ms (at most %u)", n, end,
		    most);
	T_WINE_DEVIATION(
		"Wine forces the period of a manual-reset timer to "
		"0 (contract J10); MS SetWaitableTimer: a periodic "
		"timer queues its routine each period",
		cr_assert_geq(n, least, "%u calls in %.1f ms", n, end));
	cr_assert_leq(n, most, "%u calls in %.1f ms", n, end);
	cr_assert_eq(atomic_load(&ra.tid), self_tid());
	/* Signalled from the first expiry on, never reset by a period. */
	cr_assert(t_poll0(t));
	cr_assert(t_poll0(t));
	cr_assert_eq(apc_wait(t, 0, false, NULL), APC_WAIT_OBJECT_0);
	cr_assert_eq(apc_timer_cancel(t), 0);
	cr_assert_eq(apc_sleep(0, true), 0);
	cr_assert(t_poll0(t));
	cr_assert_eq(apc_close(t), 0);
}

/* ---- D10: periods do not drift ------------------------------------------- */

/*
 * The latest time (ms after t0) of the first expiry at or after a, for a
 * periodic timer whose due_0 lies in [d_min, d_max]: expiries fall on
 * due_0 + k * period, whatever happened to the earlier ones.  A wait
 * that starts at a, on a timer not signalled then by an earlier expiry,
 * ends at that expiry (or after it by the scheduling delay).
 */
static double next_expiry_max(double a, double d_min, double d_max,
			      double period)
{
	uint64_t k = 0;
	double hi;

	if (a > d_min) {
		k = (uint64_t)((a - d_min) / period);
		if (d_min + (double)k * period < a)
			k++;
	}
	hi = d_max + (double)k * period;
	/* Expiries are one period apart: the next one is less than a
	 * period away. */
	return hi < a + period ? hi : a + period;
}

Test(timer, D10_periods_do_not_drift)
{
	const uint32_t p1 = 10, p2 = 50;
	const double tol = 20.0 * t_slack();
	apc_handle t = timer_new(false);
	double d_min, d_max, prev, ms, hi, a, late;
	unsigned int k, misses = 0, i;
	uint64_t t0;

	/*
	 * 1. The contract's form: period 10 ms, a thread waiting on every
	 * expiry; the 100th expiry lands within 20 ms of due_0 + 1000 ms.
	 * The count of waits is the count of expiries unless a wait came a
	 * period late (a busy machine): then only the lower bound holds.
	 */
	t0 = t_now_ns();
	timer_set(t, REL(p1), (int32_t)p1, NULL, NULL);
	d_max = t_ms_since(t0) + p1;
	d_min = p1 - tick_ms();
	wait_signalled(t);
	prev = t_ms_since(t0);
	cr_assert_geq(prev, d_min, "expiry 0 after %.3f ms", prev);
	for (k = 1; k <= 100; k++) {
		wait_signalled(t);
		ms = t_ms_since(t0);
		if (ms - prev > 1.5 * p1)
			misses++;
		prev = ms;
	}
	cr_assert_geq(ms, d_min + 100.0 * p1, "expiry 100 after %.3f ms", ms);
	if (!misses)
		cr_assert_leq(ms, d_max + 100.0 * p1 + tol,
			      "expiry 100 after %.3f ms, due at %.3f", ms,
			      d_max + 100.0 * p1);
	else
		cr_log_warn("D10: %u expiries missed, upper bound skipped",
			    misses);
	timer_close(t);

	/*
	 * 2. Late deliveries: the thread does not wait through one to two
	 * periods, then takes the pending signal and waits for the next
	 * expiry, which must still be on due_0 + k * period.  (An expiry
	 * between the poll and a ends the wait at once: still in bounds.)
	 */
	t = timer_new(false);
	t0 = t_now_ns();
	timer_set(t, REL(p2), (int32_t)p2, NULL, NULL);
	d_max = t_ms_since(t0) + p2;
	d_min = p2 - tick_ms();
	for (i = 0; i < 5; i++) {
		late = p2 + p2 / 2.0 + 7.0 * i;
		cr_assert_eq(apc_sleep((uint32_t)late, false), 0);
		(void)t_poll0(t);
		a = t_ms_since(t0);
		wait_signalled(t);
		ms = t_ms_since(t0);
		hi = next_expiry_max(a, d_min, d_max, p2);
		cr_assert_geq(ms, a);
		cr_assert_leq(ms, hi + tol, "round %u: %.3f ms, due at %.3f", i,
			      ms, hi);
	}
	timer_close(t);
}

/* ---- D11: the routine runs in the setting thread's alertable waits ------- */

static uint32_t thread_alertable_300(void *arg)
{
	atomic_uint *ready = arg;

	atomic_store(ready, 1);
	return apc_sleep(300, true);
}

Test(timer, D11_routine_runs_in_setting_thread_alertable_wait)
{
	atomic_uint ready = 0;
	apc_handle other = t_spawn(thread_alertable_300, &ready);
	apc_handle t = timer_new(false);
	apc_handle e = t_event_new(true, false);
	LARGE_INTEGER li;
	uint64_t t0;
	double ms;
	HANDLE h;

	reset_all();
	cr_assert(t_spin_until(&ready, 1, T_WAIT_MS));
	t0 = t_now_ns();
	timer_set(t, REL(30), 0, routine_rec, &ra);
	cr_assert_eq(runs(&ra), 0);
	cr_assert_eq(apc_wait(e, WAIT_BOUND, true, NULL),
		     APC_WAIT_IO_COMPLETION);
	ms = t_ms_since(t0);
	cr_assert_geq(ms, t_floor_ms(30), "routine after %.3f ms", ms);
	cr_assert_leq(ms, upper(30), "routine after %.3f ms", ms);
	cr_assert_eq(runs(&ra), 1);
	cr_assert_eq(atomic_load(&ra.tid), self_tid());
	/* Not on the other thread, alertable all along. */
	cr_assert_eq(t_join(other), 0);

	/* Non-alertable waits leave it queued. */
	timer_set(t, -1, 0, routine_rec, &ra);
	wait_signalled(t);
	cr_assert_eq(apc_sleep(20, false), 0);
	cr_assert_eq(apc_wait(e, 20, false, NULL), APC_WAIT_TIMEOUT);
	cr_assert_eq(runs(&ra), 1);
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(runs(&ra), 2);
	cr_assert_eq(apc_sleep(0, true), 0);
	timer_close(t);
	cr_assert_eq(apc_close(e), 0);

	/* The Win32 names. */
	h = CreateWaitableTimerA(NULL, FALSE, NULL);
	cr_assert_not_null(h);
	li.QuadPart = REL(30);
	cr_assert(SetWaitableTimer(h, &li, 0, routine_win, &rb, FALSE));
	cr_assert_eq(SleepEx(WAIT_BOUND, TRUE), WAIT_IO_COMPLETION);
	cr_assert_eq(runs(&rb), 1);
	cr_assert_eq(atomic_load(&rb.tid), GetCurrentThreadId());
	cr_assert(CloseHandle(h));
}

/* ---- D12: the routine's arguments ---------------------------------------- */

#define D12_WINE                                                               \
	"Wine passes the due time, for relative and periodic timers as a "     \
	"negative monotonic time, not a FILETIME; MS PTIMERAPCROUTINE: the "   \
	"UTC time at which the timer was signaled"

Test(timer, D12_routine_gets_arg_and_signal_time)
{
	static const uintptr_t args[] = {0x5ca1ab1e, 0, UINTPTR_MAX};
	apc_handle t = timer_new(false);
	int64_t before, after, time, due;
	unsigned int i;

	/* Relative due times; the argument is passed as it is. */
	for (i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		reset_all();
		atomic_store(&seen_arg, 1);
		before = apc_filetime_now();
		timer_set(t, REL(20), 0, routine_arg, (void *)args[i]);
		sleep_until_routine();
		after = apc_filetime_now();
		cr_assert_eq(runs(&ra), 1);
		cr_assert_eq(atomic_load(&seen_arg), args[i]);
		time = atomic_load(&ra.time[0]);
		T_WINE_DEVIATION(D12_WINE,
				 cr_assert(time >= before && time <= after,
					   "time %lld not in [%lld, %lld]",
					   (long long)time, (long long)before,
					   (long long)after));
	}

	/* An absolute due time: signalled at or after it. */
	reset_all();
	before = apc_filetime_now();
	due = before + MS(20);
	timer_set(t, due, 0, routine_rec, &ra);
	sleep_until_routine();
	after = apc_filetime_now();
	time = atomic_load(&ra.time[0]);
	cr_assert_leq(time, after);
#if defined(_WIN32)
	cr_assert_geq(time, due - (int64_t)(tick_ms() * 10000),
		      "time %lld, due %lld", (long long)time, (long long)due);
#else
	cr_assert_geq(time, due, "time %lld, due %lld", (long long)time,
		      (long long)due);
#endif

	/* Periodic: each call its own, later, time. */
	reset_all();
	before = apc_filetime_now();
	timer_set(t, REL(20), 20, routine_rec, &ra);
	while (runs(&ra) < 3)
		sleep_until_routine();
	cr_assert_eq(apc_timer_cancel(t), 0);
	after = apc_filetime_now();
	for (i = 0; i < 3; i++) {
		int64_t prev = i ? atomic_load(&ra.time[i - 1]) : before;

		time = atomic_load(&ra.time[i]);
		T_WINE_DEVIATION(D12_WINE,
				 cr_assert(time > prev && time <= after,
					   "call %u: time %lld, previous "
					   "%lld, after %lld",
					   i, (long long)time, (long long)prev,
					   (long long)after));
	}
	timer_close(t);
}

/* ---- D13: at most one routine call pending ------------------------------- */

Test(timer, D13_one_pending_routine_call_per_timer)
{
	const uint32_t period = 100, busy = 350;
	apc_handle t = timer_new(false);
	unsigned int attempt;
	bool exact = false;

	/*
	 * Expiries at 100, 200 and 300 ms while the thread is busy (not
	 * alertable): one call is queued.  The drain must end before the
	 * expiry at 400 ms for the count to be exact; a slower machine
	 * tries again.
	 */
	for (attempt = 0; attempt < 3 && !exact; attempt++) {
		uint64_t t0;
		double ms;

		reset_all();
		t0 = t_now_ns();
		timer_set(t, REL(period), (int32_t)period, routine_rec, &ra);
		cr_assert_eq(apc_sleep(busy, false), 0);
		cr_assert_eq(runs(&ra), 0);
		cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
		ms = t_ms_since(t0);
		cr_assert_eq(apc_timer_cancel(t), 0);
		if (ms < t_floor_ms(4 * period)) {
			cr_assert_eq(runs(&ra), 1,
				     "%u routine calls after 3 expiries",
				     runs(&ra));
			exact = true;
		} else {
			cr_log_warn("D13: drained after %.1f ms: again", ms);
		}
	}
	cr_assert(exact, "no attempt drained before the next expiry");
	timer_close(t);
}

Test(timer, D13_one_pending_routine_call_short_period)
{
	apc_handle t = timer_new(false);
	unsigned int i, n, before_drain = 0;
	int64_t ft_drain;

	/*
	 * The contract's form: a 10 ms timer, the thread busy for 200 ms.
	 * A call whose expiry came after the drain started may legitimately
	 * run in the same drain; the calls from before it must be one.
	 */
	reset_all();
	timer_set(t, REL(10), 10, routine_rec, &ra);
	cr_assert_eq(apc_sleep(200, false), 0);
	cr_assert_eq(runs(&ra), 0);
	ft_drain = apc_filetime_now();
	cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION);
	cr_assert_eq(apc_timer_cancel(t), 0);
	n = runs(&ra);
	cr_assert_geq(n, 1);
	cr_assert_leq(n, REC_MAX);
	for (i = 0; i < n; i++)
		if (atomic_load(&ra.time[i]) < ft_drain)
			before_drain++;
	T_WINE_DEVIATION(D12_WINE,
			 cr_assert_leq(before_drain, 1,
				       "%u of %u calls were queued before the "
				       "drain",
				       before_drain, n));
	timer_close(t);
}

/* ---- D14: cancel --------------------------------------------------------- */

Test(timer, D14_cancel_keeps_state_and_removes_queued_call)
{
	apc_handle t = timer_new(true);
	unsigned int how;
	uint64_t t0;
	HANDLE h;

	/* Manual, signalled, a call queued: cancel keeps the signal and
	 * removes the call. */
	for (how = 0; how < 3; how++) {
		reset_all();
		timer_set(t, -1, 0, routine_rec, &ra);
		wait_signalled(t);
		cr_assert_eq(apc_timer_cancel(t), 0);
		cr_assert(t_poll0(t));
		check_removed(how);
		cr_assert_eq(runs(&ra), 0, "how %u", how);
		cr_assert(t_poll0(t));
	}
	timer_close(t);

	/* Synchronization, signalled: cancel keeps the signal. */
	t = timer_new(false);
	timer_set(t, -1, 0, routine_rec, &ra);
	sleep_until_routine();
	cr_assert_eq(runs(&ra), 1);
	cr_assert_eq(apc_timer_cancel(t), 0);
	cr_assert(t_poll0(t));
	cr_assert_not(t_poll0(t));

	/* Periodic: cancel stops the expiries. */
	reset_all();
	timer_set(t, -1, 20, routine_rec, &ra);
	sleep_until_routine();
	cr_assert_eq(apc_timer_cancel(t), 0);
	(void)t_poll0(t);
	t0 = t_now_ns();
	cr_assert_eq(apc_wait(t, 100, true, NULL), APC_WAIT_TIMEOUT);
	cr_assert_geq(t_ms_since(t0), t_floor_ms(100));
	cr_assert_eq(runs(&ra), 1);

	/* Before its due time: it never fires. */
	timer_set(t, REL(30), 0, routine_rec, &ra);
	cr_assert_eq(apc_timer_cancel(t), 0);
	t0 = t_now_ns();
	cr_assert_eq(apc_wait(t, 100, true, NULL), APC_WAIT_TIMEOUT);
	cr_assert_geq(t_ms_since(t0), t_floor_ms(100));
	cr_assert_eq(runs(&ra), 1);

	/* Inactive: cancel succeeds, again and again. */
	cr_assert_eq(apc_timer_cancel(t), 0);
	cr_assert_eq(apc_timer_cancel(t), 0);
	cr_assert_eq(apc_close(t), 0);
	t = timer_new(true);
	cr_assert_eq(apc_timer_cancel(t), 0);
	cr_assert_not(t_poll0(t));
	cr_assert_eq(apc_close(t), 0);

	h = CreateWaitableTimerA(NULL, TRUE, NULL);
	cr_assert_not_null(h);
	cr_assert(CancelWaitableTimer(h));
	cr_assert(CancelWaitableTimer(h));
	cr_assert(CloseHandle(h));
}

Test(timer, D14_cancel_does_not_release_waiters)
{
	struct waiter w;
	apc_handle t = timer_new(true);
	apc_handle th;

	timer_set(t, REL(60000), 0, NULL, NULL);
	start_waiters(&w, 1, t);
	th = w.thread;
	cr_assert_eq(apc_timer_cancel(t), 0);
	cr_assert_eq(t_one_ended(&th, 1, 150), -1, "the cancel released it");
	/* Still waiting, on a timer that works. */
	timer_set(t, -1, 0, NULL, NULL);
	cr_assert_eq(t_join(th), APC_WAIT_OBJECT_0);
	timer_close(t);
}

/* ---- D15: the setting thread ends ---------------------------------------- */

struct setter {
	apc_handle timer;
	int64_t due;
	int32_t period;
	bool routine;
	bool wait; /* wait (non-alertably) for the expiry before ending */
	_Atomic uint64_t set_ns;
};

static uint32_t thread_setter(void *arg)
{
	struct setter *s = arg;
	uint32_t st;

	atomic_store(&s->set_ns, t_now_ns());
	st = apc_timer_set(s->timer, s->due, s->period,
			   s->routine ? routine_rec : NULL, &ra);
	if (st)
		return st;
	if (s->wait &&
	    apc_wait(s->timer, WAIT_BOUND, false, NULL) != APC_WAIT_OBJECT_0)
		return 1000;
	return 0;
}

Test(timer, D15_thread_exit_cancels_timer_with_routine)
{
	const uint32_t due = 100 * t_slack();
	struct setter s = {0};
	unsigned int attempt;
	uint32_t r = APC_WAIT_FAILED;
	uint64_t t0;

	/* The thread ends before the due time; the timer is cancelled. */
	for (attempt = 0; attempt < 3; attempt++) {
		double ended;

		reset_all();
		s.timer = timer_new(true);
		s.due = REL(due);
		s.period = 20;
		s.routine = true;
		s.wait = false;
		cr_assert_eq(t_join(t_spawn(thread_setter, &s)), 0);
		ended = (double)(t_now_ns() - atomic_load(&s.set_ns)) / 1e6;
		if (ended < t_floor_ms(due)) {
			t0 = t_now_ns();
			r = apc_wait(s.timer, 3 * due, false, NULL);
			if (r == APC_WAIT_TIMEOUT)
				cr_assert_geq(t_ms_since(t0),
					      t_floor_ms(3 * due));
			break;
		}
		cr_log_warn("D15: the thread ended %.1f ms late: again", ended);
		timer_close(s.timer);
	}
	cr_assert_lt(attempt, 3, "the thread never ended before the due time");
	T_WINE_DEVIATION("Wine keeps running a timer whose setting thread "
			 "ended and only drops the routine; MS "
			 "SetWaitableTimer: if the thread that set the timer "
			 "terminates and there is an associated completion "
			 "routine, the timer is canceled",
			 cr_assert_eq(r, APC_WAIT_TIMEOUT, "wait: %#x", r));
	cr_assert_eq(runs(&ra), 0);
	timer_close(s.timer);
}

Test(timer, D15_thread_exit_leaves_state_as_it_was)
{
	struct setter s = {0};

	/* Expired, signalled, a call queued: the thread ends.  The signal
	 * stays; the call is gone with the thread. */
	reset_all();
	s.timer = timer_new(true);
	s.due = -1;
	s.period = 0;
	s.routine = true;
	s.wait = true;
	cr_assert_eq(t_join(t_spawn(thread_setter, &s)), 0);
	cr_assert(t_poll0(s.timer));
	cr_assert(t_poll0(s.timer));
	sleep_no_routine(20);
	cr_assert_eq(runs(&ra), 0);
	timer_close(s.timer);
}

Test(timer, D15_thread_exit_does_not_touch_timer_without_routine)
{
	struct setter s = {0};
	uint64_t t0;
	double ms;

	reset_all();
	s.timer = timer_new(false);
	s.due = REL(100);
	s.period = 50;
	s.routine = false;
	s.wait = false;
	t0 = t_now_ns();
	cr_assert_eq(t_join(t_spawn(thread_setter, &s)), 0);
	wait_signalled(s.timer);
	ms = t_ms_since(t0);
	cr_assert_geq(ms, t_floor_ms(100), "%.3f ms", ms);
	cr_assert_leq(ms, upper(100), "%.3f ms", ms);
	/* And it stays periodic. */
	wait_signalled(s.timer);
	ms = t_ms_since(t0);
	cr_assert_geq(ms, t_floor_ms(150), "%.3f ms", ms);
	cr_assert_eq(runs(&ra), 0);
	timer_close(s.timer);
}

/* ---- D16: an alertable wait on the timer's own handle -------------------- */

Test(timer, D16_alertable_wait_on_own_timer_returns_object)
{
	unsigned int round;
	int manual;
	HANDLE h;
	LARGE_INTEGER li;

	for (manual = 0; manual < 2; manual++) {
		apc_handle t = timer_new(manual);

		/* Due in 1-30 ms, and at once (-1): the wait may start
		 * before or after the expiry. */
		for (round = 0; round < 40; round++) {
			int64_t due = round % 4 == 3 ? -1 : REL(1 + round % 30);
			uint32_t r;

			reset_all();
			timer_set(t, due, 0, routine_rec, &ra);
			r = apc_wait(t, WAIT_BOUND, true, NULL);
			cr_assert_eq(r, APC_WAIT_OBJECT_0,
				     "manual %d round %u: %#x", manual, round,
				     r);
			cr_assert_eq(runs(&ra), 0, "manual %d round %u", manual,
				     round);
			cr_assert_eq(apc_sleep(0, true), APC_WAIT_IO_COMPLETION,
				     "manual %d round %u", manual, round);
			cr_assert_eq(runs(&ra), 1);
		}
		timer_close(t);
	}

	h = CreateWaitableTimerA(NULL, FALSE, NULL);
	cr_assert_not_null(h);
	reset_all();
	li.QuadPart = REL(20);
	cr_assert(SetWaitableTimer(h, &li, 0, routine_win, &ra, FALSE));
	cr_assert_eq(WaitForSingleObjectEx(h, WAIT_BOUND, TRUE), WAIT_OBJECT_0);
	cr_assert_eq(runs(&ra), 0);
	cr_assert_eq(SleepEx(0, TRUE), WAIT_IO_COMPLETION);
	cr_assert_eq(runs(&ra), 1);
	cr_assert(CloseHandle(h));
}

/* ---- D17: another thread waits, the setter gets the routine -------------- */

Test(timer, D17_other_waiter_and_setter_routine_both_notified)
{
	int manual;

	for (manual = 0; manual < 2; manual++) {
		struct waiter w;
		apc_handle t = timer_new(manual);

		reset_all();
		start_waiters(&w, 1, t);
		timer_set(t, REL(30), 0, routine_rec, &ra);
		sleep_until_routine();
		cr_assert_eq(runs(&ra), 1);
		cr_assert_eq(atomic_load(&ra.tid), self_tid());
		cr_assert_neq(atomic_load(&ra.tid), w.tid);
		cr_assert_eq(t_join(w.thread), APC_WAIT_OBJECT_0);
		/* The waiter took a synchronization timer's signal. */
		cr_assert_eq(t_poll0(t), (bool)manual, "manual %d", manual);
		timer_close(t);
	}
}

/* ---- D18: wall-clock changes --------------------------------------------- */

/*
 * Windows moves outstanding absolute timers when the system time is set
 * (D18).  Checking it means moving the wall clock: apcrt's tests do that
 * with an engine hook (tests/test-hooks.c, suite posix); on Windows it
 * needs a privilege, so there is no portable test.
 */

/* ---- D19: fResume -------------------------------------------------------- */

Test(timer, D19_resume_accepted_not_supported)
{
	HANDLE h = CreateWaitableTimerA(NULL, TRUE, NULL);
	LARGE_INTEGER li;
	DWORD err;

	cr_assert_not_null(h);
	li.QuadPart = REL(20);
	SetLastError(T_POISON);
	cr_assert(SetWaitableTimer(h, &li, 0, NULL, NULL, TRUE));
	err = GetLastError();
#if defined(_WIN32)
	/* A machine whose firmware supports wake timers resumes: no error. */
	T_WINE_DEVIATION(
		"Wine sets ERROR_TIMER_RESUME_IGNORED (722); MS "
		"SetWaitableTimer: if the system does not support a "
		"restore, GetLastError returns ERROR_NOT_SUPPORTED",
		cr_assert(err == ERROR_NOT_SUPPORTED || err == T_POISON,
			  "last error %lu", (unsigned long)err));
#else
	cr_assert_eq(err, ERROR_NOT_SUPPORTED, "last error %lu",
		     (unsigned long)err);
#endif
	/* The timer runs as usual. */
	cr_assert_eq(WaitForSingleObject(h, WAIT_BOUND), WAIT_OBJECT_0);

	/* SetWaitableTimerEx: a wake context and a tolerable delay. */
	reset_all();
	li.QuadPart = REL(20);
	cr_assert(SetWaitableTimerEx(h, &li, 0, routine_win, &ra, NULL, 0));
	cr_assert_eq(SleepEx(WAIT_BOUND, TRUE), WAIT_IO_COMPLETION);
	cr_assert_eq(runs(&ra), 1);
	cr_assert_eq(WaitForSingleObject(h, 0), WAIT_OBJECT_0);
	cr_assert(CloseHandle(h));
}

/* ---- D20: a set without routine detaches the routine --------------------- */

Test(timer, D20_set_without_routine_detaches_it)
{
	apc_handle t = timer_new(true);
	unsigned int how;
	LARGE_INTEGER li;
	HANDLE h;

	/* Before the expiry. */
	reset_all();
	timer_set(t, REL(20), 0, routine_rec, &ra);
	timer_set(t, REL(20), 0, NULL, NULL);
	wait_signalled(t);
	cr_assert_eq(apc_sleep(0, true), 0);
	sleep_no_routine(30);
	cr_assert_eq(runs(&ra), 0);

	/* A call already queued is removed. */
	for (how = 0; how < 3; how++) {
		timer_set(t, -1, 0, routine_rec, &ra);
		wait_signalled(t);
		timer_set(t, -1, 0, NULL, NULL);
		wait_signalled(t);
		check_removed(how);
		cr_assert_eq(runs(&ra), 0, "how %u", how);
	}
	timer_close(t);

	/* Periodic: the later expiries call nothing. */
	t = timer_new(false);
	timer_set(t, -1, 20, routine_rec, &ra);
	sleep_until_routine();
	cr_assert_eq(runs(&ra), 1);
	timer_set(t, REL(20), 20, NULL, NULL);
	wait_signalled(t);
	wait_signalled(t);
	cr_assert_eq(apc_sleep(0, true), 0);
	cr_assert_eq(runs(&ra), 1);
	timer_close(t);

	/* The Win32 names. */
	h = CreateWaitableTimerA(NULL, TRUE, NULL);
	cr_assert_not_null(h);
	li.QuadPart = REL(20);
	cr_assert(SetWaitableTimer(h, &li, 0, routine_win, &rb, FALSE));
	cr_assert(SetWaitableTimer(h, &li, 0, NULL, NULL, FALSE));
	cr_assert_eq(WaitForSingleObject(h, WAIT_BOUND), WAIT_OBJECT_0);
	cr_assert_eq(SleepEx(0, TRUE), 0);
	cr_assert_eq(runs(&rb), 0);
	cr_assert(CloseHandle(h));
}

/* ---- D21: never early ---------------------------------------------------- */

Test(timer, D21_timer_never_fires_early)
{
#if defined(_WIN32)
	const unsigned int n = 200; /* wineserver round trips */
#else
	const unsigned int n = 1000;
#endif
	uint64_t total0 = t_now_ns();
	unsigned int i;
	double ms;

	for (i = 0; i < n; i++) {
		apc_handle t = timer_new(i % 4 == 0);
		uint64_t t0 = t_now_ns();
		double floor_ms = t_floor_ms(2);

		switch (i % 4) {
		case 0: /* manual, relative */
		case 1: /* synchronization, relative */
			timer_set(t, REL(2), 0, NULL, NULL);
			if (i % 4 == 0)
				(void)poll_not_early(t, t0, floor_ms);
			wait_signalled(t);
			break;
		case 2: /* absolute */
			floor_ms = abs_floor_ms(2);
			timer_set(t, apc_filetime_now() + MS(2), 0, NULL, NULL);
			wait_signalled(t);
			break;
		default: /* the routine */
			rec_reset(&ra);
			timer_set(t, REL(2), 0, routine_rec, &ra);
			sleep_until_routine();
			cr_assert_eq(runs(&ra), 1);
			ms = (double)(atomic_load(&ra.at_ns[0]) - t0) / 1e6;
			cr_assert_geq(ms, floor_ms, "#%u: routine at %.4f ms",
				      i, ms);
			break;
		}
		ms = t_ms_since(t0);
		cr_assert_geq(ms, floor_ms, "timer #%u: %.4f ms", i, ms);
		cr_assert_eq(apc_close(t), 0);
	}
	ms = t_ms_since(total0);
	cr_assert_leq(ms, upper(n * 2.0 * 10), "%u timers took %.0f ms", n, ms);
}

Test(timer, D21_far_due_times_do_not_fire)
{
	/*
	 * Far due times must not fire now either: 14,600 years from now
	 * (2^62 units of 100 ns, a multiple of 2^64 ns), 585 years from now
	 * (just past 2^64 ns), the last FILETIME (year 30828), and 585
	 * years from now as an absolute time.  In nanoseconds they do not
	 * fit 64 bits.
	 */
	const int64_t dues[] = {-(INT64_C(1) << 62),
				-INT64_C(184467440737095517), INT64_MAX, 0};
	enum { N = sizeof(dues) / sizeof(dues[0]) };
	apc_handle t[N];
	uint64_t t0;
	unsigned int i;

	for (i = 0; i < N; i++) {
		int64_t due = dues[i] ? dues[i]
				      : apc_filetime_now() +
						INT64_C(184467440737095517);

		t[i] = timer_new(true);
		timer_set(t[i], due, 0, NULL, NULL);
	}
	t0 = t_now_ns();
	cr_assert_eq(apc_wait_multiple(N, t, false, 100, false, NULL),
		     APC_WAIT_TIMEOUT);
	cr_assert_geq(t_ms_since(t0), t_floor_ms(100));
	for (i = 0; i < N; i++) {
		cr_assert_not(t_poll0(t[i]), "timer #%u fired", i);
		timer_close(t[i]);
	}
}

/* ---- D22: not a timer ---------------------------------------------------- */

static uint32_t thread_return_0(void *arg)
{
	(void)arg;
	return 0;
}

Test(timer, D22_timer_calls_on_other_objects_fail)
{
	apc_handle ev = t_event_new(true, true);
	apc_handle sem = T_POISON_HANDLE, mtx = T_POISON_HANDLE;
	apc_handle th = t_spawn(thread_return_0, NULL);
	apc_handle closed;
	apc_handle bad[8];
	int32_t prev = (int32_t)T_POISON;
	LARGE_INTEGER li;
	unsigned int i;

	reset_all();
	cr_assert_eq(apc_semaphore_create(1, 5, &sem), 0);
	cr_assert_eq(apc_mutex_create(false, &mtx), 0);
	cr_assert_eq(t_wait_exit(th), 0);
	/* Last, so that no later handle can take its value (Windows). */
	closed = timer_new(false);
	cr_assert_eq(apc_close(closed), 0);

	bad[0] = ev;
	bad[1] = sem;
	bad[2] = mtx;
	bad[3] = th;
	bad[4] = closed;
	bad[5] = NULL;
	bad[6] = T_POISON_HANDLE;
	bad[7] = APC_CURRENT_THREAD;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(apc_timer_set(bad[i], REL(1), 0, routine_rec, &ra),
			     APC_ERROR_INVALID_HANDLE, "set on #%u", i);
		cr_assert_eq(apc_timer_set(bad[i], -1, 10, NULL, NULL),
			     APC_ERROR_INVALID_HANDLE, "set on #%u", i);
		cr_assert_eq(apc_timer_cancel(bad[i]), APC_ERROR_INVALID_HANDLE,
			     "cancel on #%u", i);
	}

	/* The Win32 names: FALSE and last error 6. */
	li.QuadPart = REL(1);
	SetLastError(0);
	cr_assert_not(SetWaitableTimer(ev, &li, 0, NULL, NULL, FALSE));
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
	SetLastError(0);
	cr_assert_not(CancelWaitableTimer(ev));
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
	SetLastError(0);
	cr_assert_not(SetWaitableTimer(sem, &li, 0, routine_win, &ra, FALSE));
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
	SetLastError(0);
	cr_assert_not(CancelWaitableTimer(th));
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);

	/* Nothing was queued or changed. */
	sleep_no_routine(20);
	cr_assert_eq(runs(&ra), 0);
	cr_assert(t_poll0(ev));
	cr_assert(t_poll0(ev));
	cr_assert_eq(apc_semaphore_release(sem, 1, &prev), 0);
	cr_assert_eq(prev, 1);
	cr_assert(t_poll0(mtx));
	cr_assert_eq(apc_mutex_release(mtx), 0);
	cr_assert_eq(apc_close(ev), 0);
	cr_assert_eq(apc_close(sem), 0);
	cr_assert_eq(apc_close(mtx), 0);
	cr_assert_eq(apc_close(th), 0);
}

/* ---- D23: closing the last handle cancels -------------------------------- */

Test(timer, D23_close_cancels_timer_and_routine)
{
	apc_handle t, dup = T_POISON_HANDLE;

	/* Closed before the due time: nothing runs. */
	reset_all();
	t = timer_new(false);
	timer_set(t, REL(10), 0, routine_rec, &ra);
	cr_assert_eq(apc_close(t), 0);
	sleep_no_routine(50);
	cr_assert_eq(runs(&ra), 0);

	t = timer_new(true);
	timer_set(t, REL(10), 10, routine_rec, &ra);
	cr_assert_eq(apc_close(t), 0);
	sleep_no_routine(50);
	cr_assert_eq(runs(&ra), 0);

	/* Not the last handle: the timer runs on. */
	t = timer_new(false);
	cr_assert_eq(apc_handle_duplicate(t, APC_DUPLICATE_SAME_ACCESS, &dup),
		     0);
	cr_assert_not_null(dup);
	cr_assert_neq(dup, T_POISON_HANDLE);
	timer_set(t, REL(20), 0, routine_rec, &ra);
	cr_assert_eq(apc_close(t), 0);
	sleep_until_routine();
	cr_assert_eq(runs(&ra), 1);
	wait_signalled(dup);
	timer_close(dup);
}

/*
 * A call already queued when the last handle is closed.  apcrt removes it
 * (D23 [apcrt]).  Windows leaves this unspecified, and Wine runs it: the
 * queued APC holds a reference to the timer object, so the close does not
 * destroy the timer.  POSIX only.
 */
#ifndef _WIN32
Test(timer, D23_close_removes_queued_routine_call)
{
	unsigned int round;

	for (round = 0; round < 6; round++) {
		bool manual = round & 1;
		apc_handle t = timer_new(manual);

		reset_all();
		timer_set(t, -1, 0, routine_rec, &ra);
		wait_signalled(t);
		cr_assert_eq(apc_close(t), 0);
		check_removed(round / 2);
		cr_assert_eq(runs(&ra), 0, "round %u", round);

		/* Periodic, the thread busy through a few expiries. */
		t = timer_new(manual);
		timer_set(t, REL(5), 5, routine_rec, &ra);
		cr_assert_eq(apc_sleep(40, false), 0);
		cr_assert_eq(apc_close(t), 0);
		check_removed(round / 2);
		cr_assert_eq(runs(&ra), 0, "round %u", round);
	}
}
#endif /* !_WIN32 */

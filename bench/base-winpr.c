/*
 * WinPR baselines of issue 3 item 8, no apcrt (WinPR's Win32 names would
 * collide with <apc/windows.h>).
 *
 * self-apc winpr: QueueUserAPC(fn, _GetCurrentThread(), i) then
 *	SleepEx(0, TRUE), which must return WAIT_IO_COMPLETION.  ns/op.
 * pingpong winpr, throughput winpr: the same programs as apcrt's, with
 *	CreateThread, QueueUserAPC and SleepEx(INFINITE, TRUE) -- but only if
 *	WinPR can do them.  WinPR 2.11 runs an APC queued from another thread
 *	only at the target's next alertable call: it does not wake a thread
 *	already asleep in SleepEx.  So this program first checks, with a
 *	bounded sleep, whether a cross-thread APC ends SleepEx(CHECK_SLEEP_MS,
 *	TRUE) early; if not, it prints NA for both scenarios instead of
 *	hanging.
 * sync-event winpr: SetEvent on an auto-reset event from CreateEvent,
 *	then WaitForSingleObject(INFINITE) on it.  ns per set+wait.
 * sync-mutex winpr: WaitForSingleObject(INFINITE) on an unowned mutex
 *	from CreateMutex, then ReleaseMutex.  ns per acquire+release.
 * event-pingpong winpr: bench-event-pingpong's program on WinPR's events
 *	-- if a SetEvent from another thread ends a WaitForSingleObject
 *	already asleep (checked first, with a bounded wait, as for APCs);
 *	NA otherwise.  ns per round trip.
 * mutex-contended winpr: bench-mutex-contended's program on a WinPR
 *	mutex.  Mops/s.
 *
 * WinPR 2.11 has no auto-reset events: CreateEvent(bManualReset FALSE)
 * logs "auto-reset events not yet implemented" and makes a manual-reset
 * one, which a wait does not reset.  This program checks that first; when
 * it is so, the event scenarios print NA for winpr and are measured as
 * winpr-reset instead: a manual-reset event and a ResetEvent after each
 * wait, which is what a program ported to WinPR has to do.
 */
#include <winpr/handle.h>
#include <winpr/synch.h>
#include <winpr/thread.h>
#include <winpr/version.h>

#include <sched.h>

#include "bench.h"

#define SELF_ITERS 1000000u
#define PP_ITERS 20000u
#define TPUT_ITERS 1000000u
#define EVENT_ITERS 200000u
#define MUTEX_ITERS 2000000u
#define EVENT_PP_ITERS 10000u
#define CROWD_MS 300u

#define CHECK_SLEEP_MS 400u /* the sleeper's bound */
#define CHECK_DELAY_MS 20u  /* queue this long after it went to sleep */
#define CHECK_WOKEN_MS 200u /* woken if SleepEx returned before this */

/* ---- self-APC ------------------------------------------------------ */

static uint64_t self_count;

static void self_fn(ULONG_PTR data)
{
	bench_check_seq("winpr self", data, self_count);
	self_count++;
}

static void bench_self(uint64_t n)
{
	uint64_t warm = bench_warmup(n), i, t0 = 0, t1;
	HANDLE self = _GetCurrentThread();

	for (i = 0; i < warm + n; i++) {
		if (i == warm)
			t0 = bench_now_ns();
		if (!QueueUserAPC(self_fn, self, (ULONG_PTR)i))
			bench_fail("winpr self: QueueUserAPC failed");
		if (SleepEx(0, TRUE) != WAIT_IO_COMPLETION)
			bench_fail("winpr self: SleepEx ran no APC");
	}
	t1 = bench_now_ns();
	bench_check_count("winpr self", self_count, "APCs ran", warm + n);
	bench_result_ns("self-apc", "winpr", t1 - t0, n);
}

/* ---- does a cross-thread APC wake an alertable sleep? ---------------- */

static struct {
	atomic_int asleep;
	atomic_int ran;
	DWORD result;
	uint64_t slept_ns;
} chk;

static void check_fn(ULONG_PTR data)
{
	(void)data;
	atomic_store(&chk.ran, 1);
}

static DWORD WINAPI check_thread(LPVOID arg)
{
	uint64_t t0;

	(void)arg;
	atomic_store(&chk.asleep, 1);
	t0 = bench_now_ns();
	chk.result = SleepEx(CHECK_SLEEP_MS, TRUE);
	chk.slept_ns = bench_now_ns() - t0;
	if (!atomic_load(&chk.ran))
		SleepEx(0, TRUE); /* run the late APC before exiting */
	return 0;
}

/* True when WinPR delivers an APC to a thread already asleep. */
static int cross_thread_wakes(void)
{
	HANDLE th = CreateThread(NULL, 0, check_thread, NULL, 0, NULL);

	if (th == NULL)
		bench_fail("winpr: CreateThread failed");
	while (!atomic_load(&chk.asleep))
		sched_yield();
	Sleep(CHECK_DELAY_MS);
	if (!QueueUserAPC(check_fn, th, 0))
		bench_fail("winpr: cross-thread QueueUserAPC failed");
	if (WaitForSingleObject(th, INFINITE) != WAIT_OBJECT_0)
		bench_fail("winpr: WaitForSingleObject failed");
	CloseHandle(th);
	return chk.result == WAIT_IO_COMPLETION &&
	       chk.slept_ns < (uint64_t)CHECK_WOKEN_MS * 1000000u;
}

/* ---- ping-pong (only when cross_thread_wakes()) ---------------------- */

static struct {
	HANDLE th[2];
	atomic_int go;
	atomic_int stop;
	struct bench_pp r; /* threads wait for go, not r.ready */
} pp;

static void pp_stop_fn(ULONG_PTR data)
{
	(void)data;
}

static void pp_b_fn(ULONG_PTR data);

static void pp_a_fn(ULONG_PTR data)
{
	(void)data;
	if (bench_pp_round(&pp.r)) {
		atomic_store(&pp.stop, 1);
		if (!QueueUserAPC(pp_stop_fn, pp.th[1], 0))
			bench_fail("winpr pingpong: QueueUserAPC failed");
		return;
	}
	if (!QueueUserAPC(pp_b_fn, pp.th[1], 0))
		bench_fail("winpr pingpong: QueueUserAPC failed");
}

static void pp_b_fn(ULONG_PTR data)
{
	(void)data;
	pp.r.seen_b++;
	if (!QueueUserAPC(pp_a_fn, pp.th[0], 0))
		bench_fail("winpr pingpong: QueueUserAPC failed");
}

static DWORD WINAPI pp_thread(LPVOID arg)
{
	int self = (int)(intptr_t)arg;

	bench_pin(self);
	while (!atomic_load(&pp.go))
		sched_yield();
	if (self == 1 && !QueueUserAPC(pp_a_fn, pp.th[0], 0))
		bench_fail("winpr pingpong: QueueUserAPC failed");
	while (!atomic_load(&pp.stop))
		if (SleepEx(INFINITE, TRUE) != WAIT_IO_COMPLETION)
			bench_fail("winpr pingpong: SleepEx ran no APC");
	return 0;
}

static void bench_pingpong(uint64_t n)
{
	int i;

	bench_pp_init(&pp.r, n);
	for (i = 0; i < 2; i++) {
		pp.th[i] = CreateThread(NULL, 0, pp_thread, (LPVOID)(intptr_t)i,
					0, NULL);
		if (pp.th[i] == NULL)
			bench_fail("winpr: CreateThread failed");
	}
	atomic_store(&pp.go, 1);
	for (i = 0; i < 2; i++) {
		WaitForSingleObject(pp.th[i], INFINITE);
		CloseHandle(pp.th[i]);
	}
	bench_pp_report(&pp.r, "winpr", "rounds", pp.r.total - 1);
}

/* ---- one-way throughput (only when cross_thread_wakes()) ------------- */

static struct bench_tput tp;

static void tput_fn(ULONG_PTR data)
{
	bench_tput_deliver(&tp, data);
}

static DWORD WINAPI tput_consumer(LPVOID arg)
{
	(void)arg;
	bench_pin(1);
	while (bench_tput_pending(&tp))
		SleepEx(INFINITE, TRUE);
	return 0;
}

static void bench_tput(uint64_t n)
{
	uint64_t warm = bench_warmup(n), i, t0 = 0;
	HANDLE th;

	bench_tput_init(&tp, warm + n, "winpr throughput");
	th = CreateThread(NULL, 0, tput_consumer, NULL, 0, NULL);
	if (th == NULL)
		bench_fail("winpr: CreateThread failed");
	bench_pin(0);
	for (i = 0; i < warm + n; i++) {
		if (i == warm)
			t0 = bench_tput_catch_up(&tp, warm);
		if (!QueueUserAPC(tput_fn, th, (ULONG_PTR)i))
			bench_fail("winpr throughput: QueueUserAPC failed");
	}
	WaitForSingleObject(th, INFINITE);
	CloseHandle(th);
	bench_tput_report(&tp, "winpr", "delivered", t0, n);
}

/* ---- events and mutexes, uncontended -------------------------------- */

static void wait_object(HANDLE h, const char *who)
{
	DWORD r = WaitForSingleObject(h, INFINITE);

	if (r != WAIT_OBJECT_0)
		bench_fail("%s: WaitForSingleObject returned %#lx", who,
			   (unsigned long)r);
}

static void set_event(HANDLE ev, const char *who)
{
	if (!SetEvent(ev))
		bench_fail("%s: SetEvent failed", who);
}

/*
 * The events of the event scenarios: auto-reset ones, or, if WinPR does
 * not reset them (ev_emulated), manual-reset ones that ev_wait resets.
 */
static int ev_emulated;
static const char *ev_impl = "winpr";

/* True when a wait resets WinPR's auto-reset event. */
static int auto_reset_works(void)
{
	HANDLE ev = CreateEvent(NULL, FALSE, TRUE, NULL);
	int ok;

	if (ev == NULL)
		bench_fail("winpr: CreateEvent failed");
	ok = WaitForSingleObject(ev, 0) == WAIT_OBJECT_0 &&
	     WaitForSingleObject(ev, 0) == WAIT_TIMEOUT;
	CloseHandle(ev);
	return ok;
}

static HANDLE ev_create(void)
{
	HANDLE ev = CreateEvent(NULL, ev_emulated, FALSE, NULL);

	if (ev == NULL)
		bench_fail("winpr: CreateEvent failed");
	return ev;
}

static void ev_wait(HANDLE ev, const char *who)
{
	wait_object(ev, who);
	if (ev_emulated && !ResetEvent(ev))
		bench_fail("%s: ResetEvent failed", who);
}

static void bench_sync_event(uint64_t n)
{
	struct bench_loop l = bench_loop_init(n);
	HANDLE ev = ev_create();
	uint64_t i;

	for (i = 0; i < l.total; i++) {
		bench_loop_tick(&l, i);
		set_event(ev, "winpr sync-event");
		ev_wait(ev, "winpr sync-event");
	}
	bench_loop_report(&l, "sync-event", ev_impl);
	if (WaitForSingleObject(ev, 0) != WAIT_TIMEOUT)
		bench_fail("winpr sync-event: the event stayed signalled");
	CloseHandle(ev);
}

static void bench_sync_mutex(uint64_t n)
{
	struct bench_loop l = bench_loop_init(n);
	HANDLE m = CreateMutex(NULL, FALSE, NULL);
	uint64_t i;

	if (m == NULL)
		bench_fail("winpr sync-mutex: CreateMutex failed");
	for (i = 0; i < l.total; i++) {
		bench_loop_tick(&l, i);
		wait_object(m, "winpr sync-mutex");
		if (!ReleaseMutex(m))
			bench_fail("winpr sync-mutex: ReleaseMutex failed");
	}
	bench_loop_report(&l, "sync-mutex", "winpr");
	CloseHandle(m);
}

/* ---- does a cross-thread SetEvent wake a waiter? --------------------- */

static struct {
	HANDLE ev;
	atomic_int waiting;
	DWORD result;
	uint64_t waited_ns;
} echk;

static DWORD WINAPI event_check_thread(LPVOID arg)
{
	uint64_t t0;

	(void)arg;
	atomic_store(&echk.waiting, 1);
	t0 = bench_now_ns();
	echk.result = WaitForSingleObject(echk.ev, CHECK_SLEEP_MS);
	echk.waited_ns = bench_now_ns() - t0;
	return 0;
}

/* True when WinPR's SetEvent ends another thread's wait on the event. */
static int event_wakes(void)
{
	HANDLE th;

	echk.ev = ev_create();
	th = CreateThread(NULL, 0, event_check_thread, NULL, 0, NULL);
	if (th == NULL)
		bench_fail("winpr: CreateThread failed");
	while (!atomic_load(&echk.waiting))
		sched_yield();
	Sleep(CHECK_DELAY_MS);
	set_event(echk.ev, "winpr event check");
	wait_object(th, "winpr event check");
	CloseHandle(th);
	CloseHandle(echk.ev);
	return echk.result == WAIT_OBJECT_0 &&
	       echk.waited_ns < (uint64_t)CHECK_WOKEN_MS * 1000000u;
}

/* ---- event ping-pong (only when event_wakes()) ----------------------- */

static struct {
	HANDLE ev[2]; /* auto-reset; ev[i]: thread i's turn */
	atomic_int stop;
	struct bench_pp r;
} epp;

static DWORD WINAPI epp_thread(LPVOID arg)
{
	int self = (int)(intptr_t)arg;

	bench_pp_start(&epp.r, self);
	if (self == 0) {
		for (;;) {
			ev_wait(epp.ev[0], "winpr event-pingpong");
			if (bench_pp_round(&epp.r)) {
				atomic_store(&epp.stop, 1);
				set_event(epp.ev[1], "winpr event-pingpong");
				return 0;
			}
			set_event(epp.ev[1], "winpr event-pingpong");
		}
	}
	set_event(epp.ev[0], "winpr event-pingpong");
	for (;;) {
		ev_wait(epp.ev[1], "winpr event-pingpong");
		if (atomic_load(&epp.stop))
			return 0;
		epp.r.seen_b++;
		set_event(epp.ev[0], "winpr event-pingpong");
	}
}

static void bench_event_pingpong(uint64_t n)
{
	HANDLE th[2];
	int i;

	bench_pp_init(&epp.r, n);
	for (i = 0; i < 2; i++)
		epp.ev[i] = ev_create();
	for (i = 0; i < 2; i++) {
		th[i] = CreateThread(NULL, 0, epp_thread, (LPVOID)(intptr_t)i,
				     0, NULL);
		if (th[i] == NULL)
			bench_fail("winpr: CreateThread failed");
	}
	for (i = 0; i < 2; i++) {
		wait_object(th[i], "winpr event-pingpong");
		CloseHandle(th[i]);
	}
	for (i = 0; i < 2; i++)
		CloseHandle(epp.ev[i]);
	bench_pp_report_as(&epp.r, "event-pingpong", ev_impl, "turns",
			   epp.r.total - 1);
}

/* ---- a mutex, contended -------------------------------------------- */

static HANDLE crowd_mutex;
static struct bench_crowd crowd;

static DWORD WINAPI crowd_thread(LPVOID arg)
{
	uint64_t n = 0;

	(void)arg;
	bench_crowd_enter(&crowd);
	while (bench_crowd_running(&crowd)) {
		wait_object(crowd_mutex, "winpr mutex-contended");
		crowd.counter++;
		if (!ReleaseMutex(crowd_mutex))
			bench_fail("winpr mutex-contended: ReleaseMutex "
				   "failed");
		n++;
	}
	bench_crowd_leave(&crowd, n);
	return 0;
}

static void bench_mutex_contended(uint64_t ms)
{
	HANDLE th[BENCH_CROWD];
	int i;

	bench_crowd_init(&crowd, ms);
	crowd_mutex = CreateMutex(NULL, FALSE, NULL);
	if (crowd_mutex == NULL)
		bench_fail("winpr: CreateMutex failed");
	for (i = 0; i < BENCH_CROWD; i++) {
		th[i] = CreateThread(NULL, 0, crowd_thread, NULL, 0, NULL);
		if (th[i] == NULL)
			bench_fail("winpr: CreateThread failed");
	}
	bench_crowd_run(&crowd);
	for (i = 0; i < BENCH_CROWD; i++) {
		wait_object(th[i], "winpr mutex-contended");
		CloseHandle(th[i]);
	}
	CloseHandle(crowd_mutex);
	bench_crowd_report(&crowd, "winpr");
}

/* The dispatcher-object scenarios. */
static void bench_objects(const struct bench_args *a)
{
	if (!auto_reset_works()) {
		static const char why[] =
			"no auto-reset events: a wait does not reset them "
			"(WinPR " WINPR_VERSION_FULL "); see winpr-reset";

		bench_na("sync-event", "winpr", why);
		bench_na("event-pingpong", "winpr", why);
		ev_emulated = 1;
		ev_impl = "winpr-reset";
	}
	bench_sync_event(bench_iters(a, EVENT_ITERS));
	bench_sync_mutex(bench_iters(a, MUTEX_ITERS));
	if (event_wakes())
		bench_event_pingpong(bench_iters(a, EVENT_PP_ITERS));
	else
		bench_na("event-pingpong", ev_impl,
			 "WaitForSingleObject not woken by a cross-thread "
			 "SetEvent (WinPR " WINPR_VERSION_FULL ")");
	bench_mutex_contended(bench_iters(a, CROWD_MS));
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);

	bench_self(bench_iters(&a, SELF_ITERS));
	if (!cross_thread_wakes()) {
		static const char why[] =
			"SleepEx(INFINITE,TRUE) not woken by a cross-thread "
			"QueueUserAPC (WinPR " WINPR_VERSION_FULL ")";

		bench_na("pingpong", "winpr", why);
		bench_na("throughput", "winpr", why);
	} else {
		bench_pingpong(bench_iters(&a, PP_ITERS));
		bench_tput(bench_iters(&a, TPUT_ITERS));
	}
	bench_objects(&a);
	return 0;
}

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

#define CHECK_SLEEP_MS 400u	/* the sleeper's bound */
#define CHECK_DELAY_MS 20u	/* queue this long after it went to sleep */
#define CHECK_WOKEN_MS 200u	/* woken if SleepEx returned before this */

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
		SleepEx(0, TRUE);	/* run the late APC before exiting */
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
	struct bench_pp r;	/* threads wait for go, not r.ready */
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
		pp.th[i] = CreateThread(NULL, 0, pp_thread,
					(LPVOID)(intptr_t)i, 0, NULL);
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
		return 0;
	}
	bench_pingpong(bench_iters(&a, PP_ITERS));
	bench_tput(bench_iters(&a, TPUT_ITERS));
	return 0;
}

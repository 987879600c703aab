/*
 * apcrt tests: shared helpers (t_*).
 *
 * Portable: only the public API, C11 atomics and a monotonic clock
 * (clock_gettime on POSIX, QueryPerformanceCounter on Windows), so the
 * "portable" suite builds for every backend, mingw-w64 included.  Helpers
 * that assert run on the test's main thread only; code that runs on other
 * threads (thread start routines, APCs) records what it saw in atomics and
 * the test asserts afterwards.
 */
#ifndef APC_TESTS_HELPERS_H
#define APC_TESTS_HELPERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <apc/apc.h>

#if defined(_WIN32)
/* Always the shim there: T_WINE_DEVIATION needs its t_cr_deviation_*. */
#include <criterion/criterion.h>
#endif

/* Poison values for out-parameters: set before a call, checked after. */
#define T_POISON 0xdeadbeefu
#define T_POISON_HANDLE ((apc_handle)(uintptr_t)0xdeadbeefu)

/*
 * Bound of every wait that is expected to succeed (ms), times the factor
 * from APC_TEST_TIME_FACTOR (see t_slack).  A hang becomes a failure, not
 * a stuck test.
 */
#define T_WAIT_MS 10000u

/* ---- time ---------------------------------------------------------------- */

/* Monotonic clock, nanoseconds and milliseconds since an arbitrary origin. */
uint64_t t_now_ns(void);
uint64_t t_now_ms(void);

/* Milliseconds (as a double) since a t_now_ns() value. */
double t_ms_since(uint64_t start_ns);

/*
 * Factor for generous upper bounds: APC_TEST_TIME_FACTOR from the
 * environment (the valgrind setup sets 10), 1 when unset or invalid.
 * Lower bounds are never scaled.
 */
uint32_t t_slack(void);

/*
 * The least time (ms) that a sleep or a timed-out wait of ms milliseconds
 * takes, measured with t_now_ns, on this backend.  POSIX: ms, never less
 * (contract B24, an apcrt rule).  Windows: ms less one clock tick, because
 * "the sleep may be shorter than one tick" (MS SleepEx; B24 [D]: Windows
 * may return up to one tick early).  Use it for every lower bound on an
 * elapsed time.
 */
double t_floor_ms(uint32_t ms);

/* ---- backend and Wine ---------------------------------------------------- */

/*
 * True when running under Wine (ntdll exports wine_get_version), false on
 * Windows itself and on POSIX.
 */
bool t_under_wine(void);

/*
 * T_WINE_DEVIATION(reason, check): one check where Wine does not do what
 * Microsoft documents (contract J).  Like Wine's own todo_wine, it marks
 * the check and does not weaken it: on POSIX and on real Windows the check
 * runs as written; under Wine a failure of it is printed as a known Wine
 * deviation and neither counted nor fatal, and a pass is printed too (the
 * mark may be stale).  reason names what Wine does and the documentation
 * it contradicts: "Wine does X; MS <Page>: Y".  Wrap one check only.
 */
#if defined(_WIN32)
#define T_WINE_DEVIATION(reason, ...)                                          \
	do {                                                                   \
		if (t_under_wine()) {                                          \
			t_cr_deviation_begin(reason, __FILE__, __LINE__);      \
			__VA_ARGS__;                                           \
			t_cr_deviation_end();                                  \
		} else {                                                       \
			__VA_ARGS__;                                           \
		}                                                              \
	} while (0)
#else
#define T_WINE_DEVIATION(reason, ...)                                          \
	do {                                                                   \
		__VA_ARGS__;                                                   \
	} while (0)
#endif

/* ---- spinning ------------------------------------------------------------ */

/*
 * Busy-wait (yielding with a non-alertable apc_sleep(0)) until *v >= want,
 * for at most ms milliseconds (scaled by t_slack).  Returns true if the
 * value was reached.  Runs no APC.
 */
bool t_spin_until(atomic_uint *v, unsigned int want, uint32_t ms);

/* ---- threads ------------------------------------------------------------- */

/* Create a thread; asserts success and a non-zero id. */
apc_handle t_spawn(apc_thread_fn fn, void *arg);
apc_handle t_spawn_flags(apc_thread_fn fn, void *arg, uint32_t flags,
			 uint32_t *tid);

/*
 * Wait (bounded) for the thread to end, assert the wait returned
 * APC_WAIT_OBJECT_0, read its exit code, close the handle.  Returns the
 * exit code.
 */
uint32_t t_join(apc_handle thread);

/* Same without closing the handle. */
uint32_t t_wait_exit(apc_handle thread);

/*
 * Wait up to ms (not scaled) for one of the n threads in th[] to end.
 * Returns its index, or -1 if none ended in time; any other result of
 * the wait fails the test.
 */
int t_one_ended(apc_handle *th, unsigned int n, uint32_t ms);

/*
 * Start routine: arg points to an atomic_uint gate, initially 0.  The
 * thread sets T_GATE_RUNNING in it, then spins (non-alertable, yielding)
 * until the test opens the gate (T_GATE_OPEN: atomic_store(&gate, 1)),
 * and returns 0.  Gives a thread that is running, not waiting alertably,
 * until the test releases it.  Gives up after 60 s and returns 1.
 */
#define T_GATE_OPEN 1u
#define T_GATE_RUNNING 2u
uint32_t t_thread_gated(void *arg);

/*
 * Start t_thread_gated on gate and wait (bounded, asserted) until it runs
 * its start routine.  APCs queued from then on can no longer run at its
 * start (contract A12): they stay queued until it ends (G1, G13).
 */
apc_handle t_spawn_gated(atomic_uint *gate, uint32_t *tid);

/* Wait (bounded) until a thread in t_thread_gated(gate) has started. */
bool t_gate_wait_running(atomic_uint *gate);

/* ---- objects ------------------------------------------------------------- */

/*
 * Create an event / semaphore / mutex; assert that the call returned 0
 * and gave a non-NULL handle.
 */
apc_handle t_event_new(bool manual, bool initial);
apc_handle t_semaphore_new(int32_t initial, int32_t maximum);
apc_handle t_mutex_new(bool owned);

/*
 * A 0 ms non-alertable wait: true if the object was signalled (and is now
 * acquired).  Asserts the wait returned WAIT_OBJECT_0 or WAIT_TIMEOUT and
 * left the error untouched.
 */
bool t_poll0(apc_handle h);

/* Take a semaphore's whole count with t_poll0; returns how many there
 * were (asserted below 100000). */
unsigned int t_drain(apc_handle s);

/* Start routine: a bounded non-alertable wait on the mutex arg; returns
 * the wait's result.  The thread ends owning the mutex (abandoning it). */
uint32_t t_thread_take_and_end(void *arg);

/* ---- APC recorders ------------------------------------------------------- */

/* Reset t_apc_runs and the log; every test that uses them calls it first. */
void t_reset(void);

/* Number of runs of t_apc_count (any thread). */
extern atomic_uint t_apc_runs;

/* APC: increments t_apc_runs. */
void t_apc_count(uintptr_t data);

/*
 * An append-only log of (value, thread id) pairs written by APCs and read
 * by the test.  Entries are atomics, so readers never race with writers.
 */
#define T_LOG_MAX 8192u

void t_log_reset(void);
void t_log_push(uintptr_t value);
unsigned int t_log_len(void);
uintptr_t t_log_value(unsigned int i);
uint32_t t_log_tid(unsigned int i);

/* APC: t_log_push(data). */
void t_apc_log(uintptr_t data);

/* APC: apc_thread_exit((uint32_t)data). */
void t_apc_exit(uintptr_t data);

/* Assert that the log holds exactly n values from first upwards, each
 * logged by the thread whose id is tid (0: any). */
void t_assert_log_seq(unsigned int n, uintptr_t first, uint32_t tid);

/* Alertable waits of step_ms, bounded by T_WAIT_MS * t_slack() in all,
 * until *calls reaches want (completion routines counting their calls);
 * fails the test when the bound passes. */
void t_wait_calls(atomic_uint *calls, unsigned int want, uint32_t step_ms);

#endif /* APC_TESTS_HELPERS_H */

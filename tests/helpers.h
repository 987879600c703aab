/*
 * apcrt tests: shared helpers (t_*).
 *
 * Portable: only the public API, C11 atomics and a monotonic clock, so the
 * "portable" suite builds for every backend.  Helpers that assert run on
 * the test's main thread only; code that runs on other threads (thread
 * start routines, APCs) records what it saw in atomics and the test
 * asserts afterwards.
 */
#ifndef APC_TESTS_HELPERS_H
#define APC_TESTS_HELPERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <apc/apc.h>

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
 * Start routine: spins (non-alertable, yielding) until the atomic_uint at
 * arg becomes non-zero, then returns 0.  Gives a thread that is running,
 * not waiting alertably, until the test releases it.  Gives up after 60 s
 * and returns 1.
 */
uint32_t t_thread_gated(void *arg);

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

#endif /* APC_TESTS_HELPERS_H */

/*
 * apcrt tests: shared helpers.  See helpers.h.
 */
#include "helpers.h"

#include <stdlib.h>

#if defined(_WIN32)
#include <windows.h>
#else
#include <time.h>
#endif

#include <criterion/criterion.h>

/* ---- time ---------------------------------------------------------------- */

uint64_t t_now_ns(void)
{
#if defined(_WIN32)
	LARGE_INTEGER f, c;
	uint64_t hz, n;

	/* Never fail since Windows XP; the frequency is fixed at boot. */
	QueryPerformanceFrequency(&f);
	QueryPerformanceCounter(&c);
	hz = (uint64_t)f.QuadPart;
	n = (uint64_t)c.QuadPart;
	return n / hz * 1000000000u + n % hz * 1000000000u / hz;
#else
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

uint64_t t_now_ms(void)
{
	return t_now_ns() / 1000000u;
}

double t_ms_since(uint64_t start_ns)
{
	return (double)(t_now_ns() - start_ns) / 1e6;
}

uint32_t t_slack(void)
{
	const char *s = getenv("APC_TEST_TIME_FACTOR");
	long v;

	if (!s)
		return 1;
	v = strtol(s, NULL, 10);
	if (v < 1 || v > 1000)
		return 1;
	return (uint32_t)v;
}

double t_floor_ms(uint32_t ms)
{
#if defined(_WIN32)
	DWORD adjustment = 0, increment = 0;
	BOOL disabled = TRUE;
	double tick_ms = 15.625; /* the default tick, 64 Hz */

	/* The clock interrupt period, in 100 ns units. */
	if (GetSystemTimeAdjustment(&adjustment, &increment, &disabled) &&
	    increment > 0)
		tick_ms = (double)increment / 1e4;
	return ms > tick_ms ? (double)ms - tick_ms : 0.0;
#else
	return (double)ms;
#endif
}

/* ---- backend and Wine ---------------------------------------------------- */

bool t_under_wine(void)
{
#if defined(_WIN32)
	HMODULE ntdll = GetModuleHandleA("ntdll.dll");

	return ntdll && GetProcAddress(ntdll, "wine_get_version");
#else
	return false;
#endif
}

/* ---- spinning ------------------------------------------------------------ */

bool t_spin_until(atomic_uint *v, unsigned int want, uint32_t ms)
{
	uint64_t end = t_now_ms() + (uint64_t)ms * t_slack();

	while (atomic_load(v) < want) {
		if (t_now_ms() > end)
			return atomic_load(v) >= want;
		(void)apc_sleep(0, false);
	}
	return true;
}

/* ---- threads ------------------------------------------------------------- */

apc_handle t_spawn_flags(apc_thread_fn fn, void *arg, uint32_t flags,
			 uint32_t *tid)
{
	apc_handle h = T_POISON_HANDLE;
	uint32_t id = T_POISON;
	uint32_t st;

	st = apc_thread_create(fn, arg, 0, flags, &h, &id);
	cr_assert_eq(st, 0, "apc_thread_create: %u", st);
	cr_assert_neq(h, NULL);
	cr_assert_neq(h, T_POISON_HANDLE);
	cr_assert_neq(id, 0);
	cr_assert_neq(id, T_POISON);
	if (tid)
		*tid = id;
	return h;
}

apc_handle t_spawn(apc_thread_fn fn, void *arg)
{
	return t_spawn_flags(fn, arg, 0, NULL);
}

uint32_t t_wait_exit(apc_handle thread)
{
	uint32_t err = T_POISON;
	uint32_t code = T_POISON;
	uint32_t r;

	r = apc_wait(thread, T_WAIT_MS * t_slack(), false, &err);
	cr_assert_eq(r, APC_WAIT_OBJECT_0, "thread did not end: wait %#x", r);
	cr_assert_eq(err, T_POISON);
	cr_assert_eq(apc_thread_exit_code(thread, &code), 0);
	cr_assert_neq(code, APC_STILL_ACTIVE);
	return code;
}

uint32_t t_join(apc_handle thread)
{
	uint32_t code = t_wait_exit(thread);

	cr_assert_eq(apc_close(thread), 0);
	return code;
}

int t_one_ended(apc_handle *th, unsigned int n, uint32_t ms)
{
	uint32_t err = T_POISON;
	uint32_t r = apc_wait_multiple(n, th, false, ms, false, &err);

	if (r == APC_WAIT_TIMEOUT)
		return -1;
	cr_assert_lt(r, n, "wait for the waiters: %#x (error %u)", r, err);
	return (int)r;
}

uint32_t t_thread_gated(void *arg)
{
	atomic_uint *gate = arg;
	uint64_t end = t_now_ms() + 60000u * t_slack();

	atomic_fetch_or(gate, T_GATE_RUNNING);
	while (!(atomic_load(gate) & T_GATE_OPEN)) {
		if (t_now_ms() > end)
			return 1;
		(void)apc_sleep(0, false);
	}
	return 0;
}

bool t_gate_wait_running(atomic_uint *gate)
{
	uint64_t end = t_now_ms() + (uint64_t)T_WAIT_MS * t_slack();

	while (!(atomic_load(gate) & T_GATE_RUNNING)) {
		if (t_now_ms() > end)
			return false;
		(void)apc_sleep(0, false);
	}
	return true;
}

apc_handle t_spawn_gated(atomic_uint *gate, uint32_t *tid)
{
	apc_handle h = t_spawn_flags(t_thread_gated, gate, 0, tid);

	cr_assert(t_gate_wait_running(gate), "the gated thread did not start");
	return h;
}

/* ---- objects ------------------------------------------------------------- */

apc_handle t_event_new(bool manual, bool initial)
{
	apc_handle h = T_POISON_HANDLE;

	cr_assert_eq(apc_event_create(manual, initial, &h), 0);
	cr_assert_not_null(h);
	return h;
}

apc_handle t_semaphore_new(int32_t initial, int32_t maximum)
{
	apc_handle h = T_POISON_HANDLE;

	cr_assert_eq(apc_semaphore_create(initial, maximum, &h), 0);
	cr_assert_not_null(h);
	return h;
}

apc_handle t_mutex_new(bool owned)
{
	apc_handle h = T_POISON_HANDLE;

	cr_assert_eq(apc_mutex_create(owned, &h), 0);
	cr_assert_not_null(h);
	return h;
}

bool t_poll0(apc_handle h)
{
	uint32_t err = T_POISON;
	uint32_t r = apc_wait(h, 0, false, &err);

	cr_assert(r == APC_WAIT_OBJECT_0 || r == APC_WAIT_TIMEOUT,
		  "0 ms wait: %#x (error %u)", r, err);
	cr_assert_eq(err, T_POISON);
	return r == APC_WAIT_OBJECT_0;
}

unsigned int t_drain(apc_handle s)
{
	unsigned int n = 0;

	while (t_poll0(s))
		cr_assert_lt(++n, 100000u);
	return n;
}

uint32_t t_thread_take_and_end(void *arg)
{
	return apc_wait(arg, T_WAIT_MS * t_slack(), false, NULL);
}

/* ---- APC recorders ------------------------------------------------------- */

atomic_uint t_apc_runs;

void t_apc_count(uintptr_t data)
{
	(void)data;
	atomic_fetch_add(&t_apc_runs, 1);
}

static atomic_uint log_len;
static _Atomic uintptr_t log_value[T_LOG_MAX];
static atomic_uint log_tid[T_LOG_MAX];

void t_log_reset(void)
{
	unsigned int i;

	for (i = 0; i < T_LOG_MAX; i++) {
		atomic_store(&log_value[i], 0);
		atomic_store(&log_tid[i], 0);
	}
	atomic_store(&log_len, 0);
}

/*
 * Appends are serialised by a small spin lock, and the length is
 * published after the entry: a reader that sees n entries sees all n
 * values (an earlier version bumped the length first, and a reader could
 * catch an entry not yet written).
 */
static atomic_flag log_lock = ATOMIC_FLAG_INIT;

void t_log_push(uintptr_t value)
{
	uint32_t tid = apc_thread_id(APC_CURRENT_THREAD);
	unsigned int i;

	while (atomic_flag_test_and_set(&log_lock))
		;
	i = atomic_load(&log_len);
	if (i < T_LOG_MAX) {
		atomic_store(&log_value[i], value);
		atomic_store(&log_tid[i], tid);
	}
	atomic_store(&log_len, i + 1);
	atomic_flag_clear(&log_lock);
}

unsigned int t_log_len(void)
{
	return atomic_load(&log_len);
}

uintptr_t t_log_value(unsigned int i)
{
	return i < T_LOG_MAX ? atomic_load(&log_value[i]) : 0;
}

uint32_t t_log_tid(unsigned int i)
{
	return i < T_LOG_MAX ? atomic_load(&log_tid[i]) : 0;
}

void t_reset(void)
{
	atomic_store(&t_apc_runs, 0);
	t_log_reset();
}

void t_apc_log(uintptr_t data)
{
	t_log_push(data);
}

void t_apc_exit(uintptr_t data)
{
	apc_thread_exit((uint32_t)data);
}

void t_assert_log_seq(unsigned int n, uintptr_t first, uint32_t tid)
{
	unsigned int i;

	cr_assert_eq(t_log_len(), n, "log holds %u entries, expected %u",
		     t_log_len(), n);
	for (i = 0; i < n; i++) {
		cr_assert_eq(t_log_value(i), first + i,
			     "log[%u] = %ju, expected %ju", i,
			     (uintmax_t)t_log_value(i), (uintmax_t)(first + i));
		if (tid)
			cr_assert_eq(t_log_tid(i), tid,
				     "log[%u] ran on thread %u, expected %u", i,
				     t_log_tid(i), tid);
	}
}

void t_wait_calls(atomic_uint *calls, unsigned int want, uint32_t step_ms)
{
	uint64_t end = t_now_ms() + (uint64_t)(T_WAIT_MS * t_slack());

	while (atomic_load(calls) < want) {
		cr_assert(t_now_ms() <= end, "%u of %u routines ran",
			  atomic_load(calls), want);
		(void)apc_sleep(step_ms, true);
	}
}

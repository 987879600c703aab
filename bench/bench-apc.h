/*
 * apcrt benchmarks: what the apcrt programs (bench-*.c) share on top of
 * bench.h -- apcrt calls that must succeed, or end the program through
 * bench_fail().  The baselines never include this file.
 */
#ifndef APC_BENCH_APC_H
#define APC_BENCH_APC_H

#include <apc/apc.h>

#include "bench.h"

static inline void bench_apc_queue(apc_handle thread, apc_fn fn, uintptr_t data)
{
	uint32_t st = apc_queue(thread, fn, data);

	if (st != APC_ERROR_SUCCESS)
		bench_fail("apc_queue: status %u", st);
}

/* An alertable sleep without end, which only an APC may end. */
static inline void bench_apc_sleep(void)
{
	uint32_t st = apc_sleep(APC_INFINITE, true);

	if (st != APC_WAIT_IO_COMPLETION)
		bench_fail("apc_sleep(APC_INFINITE, true) returned %#x", st);
}

/* A new thread running fn(arg). */
static inline apc_handle bench_apc_thread(apc_thread_fn fn, void *arg)
{
	apc_handle th;
	uint32_t st = apc_thread_create(fn, arg, 0, 0, &th, NULL);

	if (st != APC_ERROR_SUCCESS)
		bench_fail("apc_thread_create: status %u", st);
	return th;
}

/* Close a handle. */
static inline void bench_apc_close(apc_handle h)
{
	if (apc_close(h) != APC_ERROR_SUCCESS)
		bench_fail("apc_close failed");
}

/* Wait for thread th to end (what names it in a message), and close it. */
static inline void bench_apc_join(apc_handle th, const char *what)
{
	uint32_t err = 0;

	if (apc_wait(th, APC_INFINITE, false, &err) != APC_WAIT_OBJECT_0)
		bench_fail("apc_wait on %s failed (%u)", what, err);
	bench_apc_close(th);
}

/* ---- dispatcher objects ---------------------------------------------- */

/* A new event: manual-reset or auto-reset, signalled or not. */
static inline apc_handle bench_apc_event(bool manual, bool initial)
{
	apc_handle h;
	uint32_t st = apc_event_create(manual, initial, &h);

	if (st != APC_ERROR_SUCCESS)
		bench_fail("apc_event_create: status %u", st);
	return h;
}

static inline void bench_apc_event_set(apc_handle event)
{
	uint32_t st = apc_event_set(event);

	if (st != APC_ERROR_SUCCESS)
		bench_fail("apc_event_set: status %u", st);
}

/* A new mutex, unowned. */
static inline apc_handle bench_apc_mutex(void)
{
	apc_handle h;
	uint32_t st = apc_mutex_create(false, &h);

	if (st != APC_ERROR_SUCCESS)
		bench_fail("apc_mutex_create: status %u", st);
	return h;
}

static inline void bench_apc_mutex_release(apc_handle mutex)
{
	uint32_t st = apc_mutex_release(mutex);

	if (st != APC_ERROR_SUCCESS)
		bench_fail("apc_mutex_release: status %u", st);
}

/* A non-alertable wait without end for object h, which must end it. */
static inline void bench_apc_wait(apc_handle h)
{
	uint32_t err = 0, r = apc_wait(h, APC_INFINITE, false, &err);

	if (r != APC_WAIT_OBJECT_0)
		bench_fail("apc_wait returned %#x (error %u)", r, err);
}

#endif /* APC_BENCH_APC_H */

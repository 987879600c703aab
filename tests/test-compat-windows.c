/*
 * The Win32 names of <apc/windows.h>: BOOL results, the thread-local last
 * error, and the same behaviour as the portable API underneath.
 *
 * Contract: I1, I4, I5, I8, I9, I10 (failure rows), B6, B7 (last error
 * untouched), M1-M6 in Win32 spelling, G3, constants of 0.1.
 *
 * On the win32 backend <apc/windows.h> is the system <windows.h>: these
 * tests then run against the real Win32 API, the reference.  The few rows
 * that are apcrt decisions ([apcrt] in the contract) are skipped there,
 * each with the reason.
 */
#include <criterion/criterion.h>

#include <apc/windows.h>

#include "helpers.h"

TestSuite(compat_windows, .timeout = 60);

static atomic_uint runs;

static VOID CALLBACK apc_count(ULONG_PTR data)
{
	(void)data;
	atomic_fetch_add(&runs, 1);
}

static DWORD WINAPI thread_return_param(LPVOID param)
{
	return (DWORD)(uintptr_t)param;
}

static DWORD WINAPI thread_gated(LPVOID param)
{
	return t_thread_gated(param);
}

/* ---- constants (0.1) ----------------------------------------------------- */

Test(compat_windows, constants_have_win32_values)
{
	cr_assert_eq(WAIT_OBJECT_0, 0x0u);
	cr_assert_eq(WAIT_ABANDONED_0, 0x80u);
	cr_assert_eq(WAIT_ABANDONED, 0x80u);
	cr_assert_eq(WAIT_IO_COMPLETION, 0xC0u);
	cr_assert_eq(WAIT_TIMEOUT, 0x102u);
	cr_assert_eq(WAIT_FAILED, 0xFFFFFFFFu);
	cr_assert_eq(INFINITE, 0xFFFFFFFFu);
	cr_assert_eq(STILL_ACTIVE, 259u);
	cr_assert_eq(ERROR_SUCCESS, 0u);
	cr_assert_eq(NO_ERROR, 0u);
	cr_assert_eq(ERROR_FILE_NOT_FOUND, 2u);
	cr_assert_eq(ERROR_ACCESS_DENIED, 5u);
	cr_assert_eq(ERROR_INVALID_HANDLE, 6u);
	cr_assert_eq(ERROR_NOT_ENOUGH_MEMORY, 8u);
	cr_assert_eq(ERROR_GEN_FAILURE, 31u);
	cr_assert_eq(ERROR_NOT_SUPPORTED, 50u);
	cr_assert_eq(ERROR_INVALID_PARAMETER, 87u);
	cr_assert_eq(CREATE_SUSPENDED, 0x4u);
	cr_assert_eq(DUPLICATE_CLOSE_SOURCE, 0x1u);
	cr_assert_eq(DUPLICATE_SAME_ACCESS, 0x2u);
	cr_assert_eq((intptr_t)INVALID_HANDLE_VALUE, -1);
	cr_assert_eq((intptr_t)GetCurrentProcess(), -1);
	cr_assert_eq((intptr_t)GetCurrentThread(), -2);
	cr_assert_eq(sizeof(HANDLE), sizeof(void *));
	cr_assert_eq(sizeof(ULONG_PTR), sizeof(void *));
	cr_assert_eq(sizeof(DWORD), 4);
}

/* ---- failure rows: return value and last error --------------------------- */

Test(compat_windows, I4_QueueUserAPC_invalid_handle)
{
	HANDLE h;

	atomic_store(&runs, 0);
	SetLastError(0xdeadbeef);
	cr_assert_eq(QueueUserAPC(apc_count, (HANDLE)(ULONG_PTR)0xdeadbeef, 0),
		     0);
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);

	SetLastError(0xdeadbeef);
	cr_assert_eq(QueueUserAPC(apc_count, NULL, 0), 0);
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);

	/* A closed handle. */
	h = CreateThread(NULL, 0, thread_return_param, NULL, 0, NULL);
	cr_assert_not_null(h);
	cr_assert_eq(WaitForSingleObject(h, T_WAIT_MS), WAIT_OBJECT_0);
	cr_assert(CloseHandle(h));
	SetLastError(0xdeadbeef);
	cr_assert_eq(QueueUserAPC(apc_count, h, 0), 0);
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);

	cr_assert_eq(SleepEx(0, TRUE), 0);
	cr_assert_eq(atomic_load(&runs), 0);
}

Test(compat_windows, I5_QueueUserAPC_ended_thread)
{
	HANDLE h = CreateThread(NULL, 0, thread_return_param, NULL, 0, NULL);

	atomic_store(&runs, 0);
	cr_assert_not_null(h);
	cr_assert_eq(WaitForSingleObject(h, T_WAIT_MS), WAIT_OBJECT_0);
	SetLastError(0xdeadbeef);
	cr_assert_eq(QueueUserAPC(apc_count, h, 0), 0);
	cr_assert_eq(GetLastError(), ERROR_GEN_FAILURE);
	cr_assert(CloseHandle(h));
	cr_assert_eq(atomic_load(&runs), 0);
}

/*
 * Skipped on Windows: refusing a NULL routine is apcrt's rule (A21, I8
 * [apcrt]).  Windows' QueueUserAPC does not check it, so there is no
 * Win32 failure row to check (the portable apc_queue refuses it on both
 * backends: test-apc-queue.c, A21_null_function).
 */
Test(compat_windows, I8_QueueUserAPC_null_function)
{
#ifdef _WIN32
	cr_skip_test("I8 (apcrt): Windows does not refuse a NULL APC routine");
#else
	SetLastError(0xdeadbeef);
	cr_assert_eq(QueueUserAPC(NULL, GetCurrentThread(), 0), 0);
	cr_assert_eq(GetLastError(), ERROR_INVALID_PARAMETER);
	cr_assert_eq(SleepEx(10, TRUE), 0);
#endif
}

/*
 * Skipped on Windows: the queue limit is an apcrt rule (A23, I9
 * [apcrt]), and apc_set_queue_limit does not exist on the win32 backend.
 */
Test(compat_windows, I9_QueueUserAPC_queue_limit)
{
#ifdef _WIN32
	cr_skip_test("I9 (apcrt): no apc_set_queue_limit on Windows");
#else
	int i;

	atomic_store(&runs, 0);
	apc_set_queue_limit(4);
	for (i = 0; i < 4; i++) {
		SetLastError(0xdeadbeef);
		cr_assert_neq(QueueUserAPC(apc_count, GetCurrentThread(), 0),
			      0);
		/* I1: success leaves the last error alone. */
		cr_assert_eq(GetLastError(), 0xdeadbeef);
	}
	SetLastError(0xdeadbeef);
	cr_assert_eq(QueueUserAPC(apc_count, GetCurrentThread(), 0), 0);
	cr_assert_eq(GetLastError(), ERROR_NOT_ENOUGH_MEMORY);
	cr_assert_eq(SleepEx(0, TRUE), WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&runs), 4);
	apc_set_queue_limit(0);
#endif
}

Test(compat_windows, I10_WaitForSingleObject_invalid_handle)
{
	SetLastError(0xdeadbeef);
	cr_assert_eq(WaitForSingleObject(NULL, 0), WAIT_FAILED);
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);

	SetLastError(0xdeadbeef);
	cr_assert_eq(WaitForSingleObject((HANDLE)(ULONG_PTR)0xdeadbeef, 10),
		     WAIT_FAILED);
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);

	SetLastError(0xdeadbeef);
	cr_assert_eq(WaitForSingleObjectEx(NULL, 0, TRUE), WAIT_FAILED);
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);

	SetLastError(0xdeadbeef);
	cr_assert_eq(WaitForSingleObjectEx((HANDLE)(ULONG_PTR)0xdeadbeef,
					   INFINITE, TRUE),
		     WAIT_FAILED);
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
}

/* ---- B6, B7: the last error is left alone -------------------------------- */

Test(compat_windows, B6_sleep_leaves_last_error)
{
	SetLastError(0xdeadbeef);
	Sleep(0);
	cr_assert_eq(GetLastError(), 0xdeadbeef);
	Sleep(5);
	cr_assert_eq(GetLastError(), 0xdeadbeef);
	cr_assert_eq(SleepEx(0, FALSE), 0);
	cr_assert_eq(GetLastError(), 0xdeadbeef);
	cr_assert_eq(SleepEx(5, FALSE), 0);
	cr_assert_eq(GetLastError(), 0xdeadbeef);
	cr_assert_eq(SleepEx(0, TRUE), 0);
	cr_assert_eq(GetLastError(), 0xdeadbeef);
	cr_assert_eq(SleepEx(5, TRUE), 0);
	cr_assert_eq(GetLastError(), 0xdeadbeef);

	/* With an APC that does not touch it (A26). */
	cr_assert(QueueUserAPC(apc_count, GetCurrentThread(), 0));
	Sleep(1);
	cr_assert_eq(GetLastError(), 0xdeadbeef);
	cr_assert_eq(SleepEx(0, TRUE), WAIT_IO_COMPLETION);
	cr_assert_eq(GetLastError(), 0xdeadbeef);
	cr_assert(QueueUserAPC(apc_count, GetCurrentThread(), 0));
	cr_assert_eq(SleepEx(INFINITE, TRUE), WAIT_IO_COMPLETION);
	cr_assert_eq(GetLastError(), 0xdeadbeef);
}

Test(compat_windows, B7_waits_leave_last_error)
{
	atomic_uint gate = 0;
	HANDLE h = CreateThread(NULL, 0, thread_gated, &gate, 0, NULL);

	cr_assert_not_null(h);
	SetLastError(0xdeadbeef);
	cr_assert_eq(WaitForSingleObject(h, 0), WAIT_TIMEOUT);
	cr_assert_eq(GetLastError(), 0xdeadbeef);
	cr_assert_eq(WaitForSingleObject(h, 10), WAIT_TIMEOUT);
	cr_assert_eq(GetLastError(), 0xdeadbeef);
	cr_assert_eq(WaitForSingleObjectEx(h, 0, TRUE), WAIT_TIMEOUT);
	cr_assert_eq(GetLastError(), 0xdeadbeef);

	cr_assert(QueueUserAPC(apc_count, GetCurrentThread(), 0));
	cr_assert_eq(WaitForSingleObjectEx(h, 1000, TRUE), WAIT_IO_COMPLETION);
	cr_assert_eq(GetLastError(), 0xdeadbeef);

	atomic_store(&gate, 1);
	cr_assert_eq(WaitForSingleObject(h, T_WAIT_MS), WAIT_OBJECT_0);
	cr_assert_eq(GetLastError(), 0xdeadbeef);
	cr_assert_eq(WaitForSingleObjectEx(h, 0, TRUE), WAIT_OBJECT_0);
	cr_assert_eq(GetLastError(), 0xdeadbeef);
	cr_assert(CloseHandle(h));
	cr_assert_eq(GetLastError(), 0xdeadbeef);
}

/* ---- threads: CreateThread, ResumeThread, GetExitCodeThread, ids --------- */

static atomic_uint order[4];
static atomic_uint order_n;

static VOID CALLBACK apc_order(ULONG_PTR data)
{
	atomic_store(&order[atomic_fetch_add(&order_n, 1) & 3],
		     (unsigned int)data);
}

static DWORD WINAPI thread_order(LPVOID param)
{
	(void)param;
	apc_order(3);
	return GetCurrentThreadId();
}

Test(compat_windows, M6_CreateThread_suspended_ResumeThread)
{
	DWORD tid = 0xdeadbeef;
	DWORD code = 0xdeadbeef;
	HANDLE h;

	atomic_store(&order_n, 0);
	h = CreateThread(NULL, 0, thread_order, NULL, CREATE_SUSPENDED, &tid);
	cr_assert_not_null(h);
	cr_assert_neq(tid, 0xdeadbeef);
	cr_assert_neq(tid, 0);
	cr_assert_eq(GetThreadId(h), tid);
	cr_assert(QueueUserAPC(apc_order, h, 1));
	cr_assert(QueueUserAPC(apc_order, h, 2));

	cr_assert_eq(WaitForSingleObject(h, 50), WAIT_TIMEOUT);
	cr_assert(GetExitCodeThread(h, &code));
	cr_assert_eq(code, STILL_ACTIVE);
	cr_assert_eq(atomic_load(&order_n), 0);

	cr_assert_eq(ResumeThread(h), 1);
	cr_assert_eq(WaitForSingleObject(h, T_WAIT_MS), WAIT_OBJECT_0);
	cr_assert(GetExitCodeThread(h, &code));
	cr_assert_eq(code, tid);
	cr_assert_eq(atomic_load(&order_n), 3);
	cr_assert_eq(atomic_load(&order[0]), 1);
	cr_assert_eq(atomic_load(&order[1]), 2);
	cr_assert_eq(atomic_load(&order[2]), 3);

	cr_assert_eq(ResumeThread(h), 0);
	cr_assert(CloseHandle(h));
}

Test(compat_windows, M6_ResumeThread_failure)
{
	SetLastError(0xdeadbeef);
	cr_assert_eq(ResumeThread(NULL), (DWORD)-1);
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
	SetLastError(0xdeadbeef);
	cr_assert_eq(ResumeThread((HANDLE)(ULONG_PTR)0xdeadbeef), (DWORD)-1);
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
}

Test(compat_windows, C46_GetExitCodeThread)
{
	atomic_uint gate = 0;
	DWORD code = 0xdeadbeef;
	HANDLE h = CreateThread(NULL, 0, thread_gated, &gate, 0, NULL);
	HANDLE h2;

	cr_assert_not_null(h);
	cr_assert(GetExitCodeThread(h, &code));
	cr_assert_eq(code, STILL_ACTIVE);
	atomic_store(&gate, 1);
	cr_assert_eq(WaitForSingleObject(h, T_WAIT_MS), WAIT_OBJECT_0);
	cr_assert(CloseHandle(h));

	h2 = CreateThread(NULL, 0, thread_return_param, (LPVOID)(uintptr_t)99,
			  0, NULL);
	cr_assert_not_null(h2);
	cr_assert_eq(WaitForSingleObject(h2, T_WAIT_MS), WAIT_OBJECT_0);
	code = 0xdeadbeef;
	cr_assert(GetExitCodeThread(h2, &code));
	cr_assert_eq(code, 99);
	cr_assert(CloseHandle(h2));

	SetLastError(0xdeadbeef);
	cr_assert_eq(GetExitCodeThread(h2, &code), FALSE);
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
	SetLastError(0xdeadbeef);
	cr_assert_eq(CloseHandle(h2), FALSE);
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
}

/*
 * Skipped on Windows: apcrt refuses a NULL start routine with 87 (the
 * portable apc_thread_create does on both backends: test-thread.c).
 * Windows' CreateThread documents no such check: the thread would start
 * at address 0 and fault, which ends the process.
 */
Test(compat_windows, CreateThread_failure)
{
#ifdef _WIN32
	cr_skip_test("apcrt only: Windows takes a NULL start routine");
#else
	DWORD tid = 0xdeadbeef;

	SetLastError(0xdeadbeef);
	cr_assert_null(CreateThread(NULL, 0, NULL, NULL, 0, &tid));
	cr_assert_eq(GetLastError(), ERROR_INVALID_PARAMETER);
#endif
}

Test(compat_windows, thread_ids)
{
	SetLastError(0xdeadbeef);
	cr_assert_neq(GetCurrentThreadId(), 0);
	cr_assert_eq(GetCurrentThreadId(), apc_thread_id(APC_CURRENT_THREAD));
	cr_assert_eq(GetThreadId(GetCurrentThread()), GetCurrentThreadId());
	cr_assert_eq(GetLastError(), 0xdeadbeef);
	cr_assert_eq(GetThreadId((HANDLE)(ULONG_PTR)0xdeadbeef), 0);
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
}

/* ---- DuplicateHandle ----------------------------------------------------- */

static DWORD WINAPI thread_queue_to(LPVOID param)
{
	return QueueUserAPC(apc_count, (HANDLE)param, 0) ? 0 : GetLastError();
}

Test(compat_windows, M2_M3_DuplicateHandle_current_thread)
{
	HANDLE dup = (HANDLE)(ULONG_PTR)0xdeadbeef;
	DWORD code = 0xdeadbeef;
	HANDLE h;

	atomic_store(&runs, 0);
	SetLastError(0xdeadbeef);
	cr_assert(DuplicateHandle(GetCurrentProcess(), GetCurrentThread(),
				  GetCurrentProcess(), &dup, 0, FALSE,
				  DUPLICATE_SAME_ACCESS));
	cr_assert_eq(GetLastError(), 0xdeadbeef);
	cr_assert_not_null(dup);
	cr_assert_neq(dup, (HANDLE)(ULONG_PTR)0xdeadbeef);
	cr_assert_neq(dup, GetCurrentThread());
	cr_assert_eq(GetThreadId(dup), GetCurrentThreadId());

	h = CreateThread(NULL, 0, thread_queue_to, dup, 0, NULL);
	cr_assert_not_null(h);
	cr_assert_eq(WaitForSingleObject(h, T_WAIT_MS), WAIT_OBJECT_0);
	cr_assert(GetExitCodeThread(h, &code));
	cr_assert_eq(code, 0);
	cr_assert(CloseHandle(h));

	cr_assert_eq(atomic_load(&runs), 0);
	cr_assert_eq(SleepEx(T_WAIT_MS, TRUE), WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&runs), 1);
	cr_assert(CloseHandle(dup));
}

Test(compat_windows, M5_DuplicateHandle_close_source)
{
	HANDLE h = CreateThread(NULL, 0, thread_return_param,
				(LPVOID)(uintptr_t)8, 0, NULL);
	HANDLE dup = NULL;
	DWORD code = 0xdeadbeef;

	cr_assert_not_null(h);
	cr_assert(DuplicateHandle(
		GetCurrentProcess(), h, GetCurrentProcess(), &dup, 0, FALSE,
		DUPLICATE_CLOSE_SOURCE | DUPLICATE_SAME_ACCESS));
	/*
	 * The source's value names nothing now, unless Windows gave it to
	 * the duplicate (Wine's server reuses the source's entry in place;
	 * Microsoft documents no handle values, MS DuplicateHandle).  apcrt
	 * never reuses a closed value.
	 */
#ifdef _WIN32
	if (dup != h)
#else
	cr_assert_neq(dup, h);
#endif
	{
		SetLastError(0xdeadbeef);
		cr_assert_eq(CloseHandle(h), FALSE);
		cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
	}
	cr_assert_eq(WaitForSingleObject(dup, T_WAIT_MS), WAIT_OBJECT_0);
	cr_assert(GetExitCodeThread(dup, &code));
	cr_assert_eq(code, 8);
	cr_assert(CloseHandle(dup));
}

Test(compat_windows, M2_DuplicateHandle_other_process_fails)
{
	HANDLE h = CreateThread(NULL, 0, thread_return_param, NULL, 0, NULL);
	HANDLE dup = NULL;

	cr_assert_not_null(h);
	SetLastError(0xdeadbeef);
	cr_assert_eq(DuplicateHandle((HANDLE)(ULONG_PTR)0x1234, h,
				     GetCurrentProcess(), &dup, 0, FALSE,
				     DUPLICATE_SAME_ACCESS),
		     FALSE);
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);

	/* With DUPLICATE_CLOSE_SOURCE the source is closed even so (M5). */
	SetLastError(0xdeadbeef);
	cr_assert_eq(DuplicateHandle(GetCurrentProcess(), h,
				     (HANDLE)(ULONG_PTR)0x1234, &dup, 0, FALSE,
				     DUPLICATE_CLOSE_SOURCE),
		     FALSE);
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
	SetLastError(0xdeadbeef);
	cr_assert_eq(CloseHandle(h), FALSE);
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
}

Test(compat_windows, M1_CloseHandle_pseudo_handle)
{
	SetLastError(0xdeadbeef);
	cr_assert(CloseHandle(GetCurrentThread()));
	cr_assert_eq(GetLastError(), 0xdeadbeef);
}

/* ---- G3 in Win32 names --------------------------------------------------- */

static VOID CALLBACK apc_exit_thread(ULONG_PTR code)
{
	ExitThread((DWORD)code);
}

static atomic_uint g3_returned;

static DWORD WINAPI thread_exit_in_apc(LPVOID param)
{
	(void)param;
	QueueUserAPC(apc_exit_thread, GetCurrentThread(), 7);
	QueueUserAPC(apc_count, GetCurrentThread(), 0);
	SleepEx(INFINITE, TRUE);
	atomic_store(&g3_returned, 1);
	return 99;
}

Test(compat_windows, G3_ExitThread_from_apc)
{
	HANDLE h = CreateThread(NULL, 0, thread_exit_in_apc, NULL, 0, NULL);
	DWORD code = 0xdeadbeef;

	atomic_store(&runs, 0);
	cr_assert_not_null(h);
	cr_assert_eq(WaitForSingleObject(h, T_WAIT_MS), WAIT_OBJECT_0);
	cr_assert(GetExitCodeThread(h, &code));
	cr_assert_eq(code, 7);
	cr_assert_eq(atomic_load(&runs), 0);
	cr_assert_eq(atomic_load(&g3_returned), 0);
	cr_assert(CloseHandle(h));
}

/*
 * Threads, handles, APCs, sleeps and waits on kernel32.
 */
#include "internal.h"

/*
 * The portable thread routine returns uint32_t; LPTHREAD_START_ROUTINE
 * returns DWORD (unsigned long) with WINAPI.  On x86_64 both are the same
 * 32-bit return in eax under the one Windows calling convention, so the
 * routine is passed to CreateThread as it is, without a trampoline (no
 * allocation, and the thread starts exactly as a native one).
 */
_Static_assert(sizeof(void *) == 8, "the Windows backend is x86_64 only");

uint32_t apc_thread_create(apc_thread_fn fn, void *arg, size_t stack_size,
			   uint32_t flags, apc_handle *out, uint32_t *tid)
{
	DWORD id;
	HANDLE h;

	if (out)
		*out = NULL;
	if (!fn || !out || (flags & ~APC_THREAD_SUSPENDED))
		return APC_ERROR_INVALID_PARAMETER;
	h = CreateThread(NULL, stack_size,
			 (LPTHREAD_START_ROUTINE)(void (*)(void))fn, arg, flags,
			 &id);
	if (!h)
		return GetLastError();
	*out = h;
	if (tid)
		*tid = id;
	return 0;
}

uint32_t apc_thread_resume(apc_handle thread, uint32_t *prev_count)
{
	DWORD prev = ResumeThread(thread);

	if (prev == (DWORD)-1)
		return GetLastError();
	if (prev_count)
		*prev_count = prev;
	return 0;
}

uint32_t apc_thread_self(apc_handle *out)
{
	if (!out)
		return APC_ERROR_INVALID_PARAMETER;
	*out = NULL;
	if (!DuplicateHandle(GetCurrentProcess(), GetCurrentThread(),
			     GetCurrentProcess(), out, 0, FALSE,
			     DUPLICATE_SAME_ACCESS))
		return GetLastError();
	return 0;
}

void apc_thread_exit(uint32_t code)
{
	ExitThread(code);
}

uint32_t apc_thread_exit_code(apc_handle thread, uint32_t *code)
{
	DWORD c;

	if (!code)
		return APC_ERROR_INVALID_PARAMETER;
	if (!GetExitCodeThread(thread, &c))
		return GetLastError();
	*code = c;
	return 0;
}

uint32_t apc_thread_id(apc_handle thread)
{
	if (thread == APC_CURRENT_THREAD)
		return GetCurrentThreadId();
	return GetThreadId(thread);
}

uint32_t apc_close(apc_handle handle)
{
	return CloseHandle(handle) ? 0 : GetLastError();
}

uint32_t apc_handle_duplicate(apc_handle src, uint32_t options, apc_handle *out)
{
	if (out)
		*out = NULL;
	if (!out || (options & ~(APC_DUPLICATE_CLOSE_SOURCE |
				 APC_DUPLICATE_SAME_ACCESS))) {
		/* Same rule as POSIX: the source is closed even so (M5). */
		if (options & APC_DUPLICATE_CLOSE_SOURCE)
			CloseHandle(src);
		return APC_ERROR_INVALID_PARAMETER;
	}
	/*
	 * The access mask is ignored on POSIX, where handles carry full
	 * access; here SAME_ACCESS is always added so the duplicate can do
	 * whatever the source could (contract M5).
	 */
	if (!DuplicateHandle(GetCurrentProcess(), src, GetCurrentProcess(), out,
			     0, FALSE, options | DUPLICATE_SAME_ACCESS))
		return GetLastError();
	return 0;
}

uint32_t apc_queue(apc_handle thread, apc_fn fn, uintptr_t data)
{
	/*
	 * Windows accepts a NULL routine and drops it; the portable API
	 * refuses it, on both backends (contract A21).
	 */
	if (!fn)
		return APC_ERROR_INVALID_PARAMETER;
	return QueueUserAPC(fn, thread, data) ? 0 : GetLastError();
}

uint32_t apc_sleep(uint32_t ms, bool alertable)
{
	return SleepEx(ms, alertable);
}

uint32_t apc_wait(apc_handle handle, uint32_t ms, bool alertable,
		  uint32_t *error)
{
	DWORD r = WaitForSingleObjectEx(handle, ms, alertable);

	if (r == WAIT_FAILED && error)
		*error = GetLastError();
	return r;
}

/*
 * NtTestAlert runs the caller's pending user APCs without waiting.  It is
 * an ntdll export without a kernel32 wrapper; it is looked up once.  If it
 * were missing, SleepEx(0, TRUE) -- which runs them too, and yields when
 * there is none -- stands in.
 */
typedef LONG(NTAPI *nt_test_alert_fn)(void);

static nt_test_alert_fn nt_test_alert;

static BOOL CALLBACK find_nt_test_alert(PINIT_ONCE once, PVOID param,
					PVOID *ctx)
{
	HMODULE ntdll = GetModuleHandleA("ntdll.dll");

	(void)once;
	(void)param;
	(void)ctx;
	if (ntdll)
		nt_test_alert = (nt_test_alert_fn)(void (*)(
			void))GetProcAddress(ntdll, "NtTestAlert");
	return TRUE;
}

uint32_t apc_test_alert(void)
{
	static INIT_ONCE once = INIT_ONCE_STATIC_INIT;

	InitOnceExecuteOnce(&once, find_nt_test_alert, NULL, NULL);
	if (nt_test_alert)
		nt_test_alert();
	else
		SleepEx(0, TRUE);
	return 0;
}

uint32_t apc_last_error(void)
{
	return GetLastError();
}

void apc_set_last_error(uint32_t error)
{
	SetLastError(error);
}

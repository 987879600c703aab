/*
 * Waitable timers on kernel32.
 */
#include "internal.h"

uint32_t apc_timer_create(bool manual_reset, apc_handle *out)
{
	HANDLE h;

	if (!out)
		return APC_ERROR_INVALID_PARAMETER;
	*out = NULL;
	h = CreateWaitableTimerW(NULL, manual_reset, NULL);
	if (!h)
		return GetLastError();
	*out = h;
	return 0;
}

/*
 * apc_timer_fn takes (void *, uint32_t, uint32_t); PTIMERAPCROUTINE takes
 * (LPVOID, DWORD, DWORD): the same call on x86_64 Windows, where DWORD is
 * a 32-bit unsigned long, so the routine is passed as it is.
 */
uint32_t apc_timer_set(apc_handle timer, int64_t due, int32_t period_ms,
		       apc_timer_fn fn, void *arg)
{
	LARGE_INTEGER li;

	li.QuadPart = due;
	if (!SetWaitableTimer(timer, &li, period_ms,
			      (PTIMERAPCROUTINE)(void (*)(void))fn, arg, FALSE))
		return GetLastError();
	return 0;
}

uint32_t apc_timer_cancel(apc_handle timer)
{
	return CancelWaitableTimer(timer) ? 0 : GetLastError();
}

int64_t apc_filetime_now(void)
{
	FILETIME ft;

	GetSystemTimeAsFileTime(&ft);
	return (int64_t)(((uint64_t)ft.dwHighDateTime << 32) |
			 ft.dwLowDateTime);
}

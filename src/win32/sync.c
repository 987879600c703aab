/*
 * Events, semaphores, mutexes and multi-object waits on kernel32.
 */
#include "internal.h"

/* A creation's result: the handle, or NULL and the Win32 error. */
static uint32_t created(HANDLE h, apc_handle *out)
{
	if (!h)
		return GetLastError();
	*out = h;
	return 0;
}

uint32_t apc_event_create(bool manual_reset, bool initial_state,
			  apc_handle *out)
{
	if (!out)
		return APC_ERROR_INVALID_PARAMETER;
	*out = NULL;
	return created(CreateEventW(NULL, manual_reset, initial_state, NULL),
		       out);
}

uint32_t apc_event_set(apc_handle event)
{
	return SetEvent(event) ? 0 : GetLastError();
}

uint32_t apc_event_reset(apc_handle event)
{
	return ResetEvent(event) ? 0 : GetLastError();
}

uint32_t apc_event_pulse(apc_handle event)
{
	return PulseEvent(event) ? 0 : GetLastError();
}

uint32_t apc_semaphore_create(int32_t initial, int32_t maximum, apc_handle *out)
{
	if (!out)
		return APC_ERROR_INVALID_PARAMETER;
	*out = NULL;
	return created(CreateSemaphoreW(NULL, initial, maximum, NULL), out);
}

uint32_t apc_semaphore_release(apc_handle semaphore, int32_t count,
			       int32_t *previous)
{
	LONG prev;

	if (!ReleaseSemaphore(semaphore, count, &prev))
		return GetLastError();
	if (previous)
		*previous = prev;
	return 0;
}

uint32_t apc_mutex_create(bool initial_owner, apc_handle *out)
{
	if (!out)
		return APC_ERROR_INVALID_PARAMETER;
	*out = NULL;
	return created(CreateMutexW(NULL, initial_owner, NULL), out);
}

uint32_t apc_mutex_release(apc_handle mutex)
{
	return ReleaseMutex(mutex) ? 0 : GetLastError();
}

uint32_t apc_wait_multiple(uint32_t count, const apc_handle *handles,
			   bool wait_all, uint32_t ms, bool alertable,
			   uint32_t *error)
{
	DWORD r = WaitForMultipleObjectsEx(count, handles, wait_all, ms,
					   alertable);

	if (r == WAIT_FAILED && error)
		*error = GetLastError();
	return r;
}

uint32_t apc_signal_and_wait(apc_handle signal, apc_handle wait, uint32_t ms,
			     bool alertable, uint32_t *error)
{
	DWORD r = SignalObjectAndWait(signal, wait, ms, alertable);

	if (r == WAIT_FAILED && error)
		*error = GetLastError();
	return r;
}

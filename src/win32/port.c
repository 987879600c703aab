/*
 * I/O completion ports on kernel32.
 *
 * apc_overlapped_entry is OVERLAPPED_ENTRY (asserted below), so
 * GetQueuedCompletionStatusEx fills the caller's array directly.
 */
#include "internal.h"

_Static_assert(sizeof(apc_overlapped_entry) == sizeof(OVERLAPPED_ENTRY),
	       "apc_overlapped_entry has the size of OVERLAPPED_ENTRY");
_Static_assert(offsetof(apc_overlapped_entry, lpCompletionKey) ==
		       offsetof(OVERLAPPED_ENTRY, lpCompletionKey),
	       "lpCompletionKey");
_Static_assert(offsetof(apc_overlapped_entry, lpOverlapped) ==
		       offsetof(OVERLAPPED_ENTRY, lpOverlapped),
	       "lpOverlapped");
_Static_assert(offsetof(apc_overlapped_entry, Internal) ==
		       offsetof(OVERLAPPED_ENTRY, Internal),
	       "Internal");
_Static_assert(offsetof(apc_overlapped_entry, dwNumberOfBytesTransferred) ==
		       offsetof(OVERLAPPED_ENTRY, dwNumberOfBytesTransferred),
	       "dwNumberOfBytesTransferred");

uint32_t apc_port_create(uint32_t concurrency, apc_handle *out)
{
	HANDLE port;

	if (!out)
		return APC_ERROR_INVALID_PARAMETER;
	*out = NULL;
	port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0,
				      concurrency);
	if (!port)
		return GetLastError();
	*out = port;
	return 0;
}

/*
 * CreateIoCompletionPort with a NULL port would create a new one; the
 * portable call binds to an existing port only, so NULL is an invalid
 * handle there.
 */
uint32_t apc_port_bind(apc_handle port, apc_handle h, uintptr_t key)
{
	if (!port)
		return APC_ERROR_INVALID_HANDLE;
	if (!CreateIoCompletionPort(h, port, key, 0))
		return GetLastError();
	return 0;
}

uint32_t apc_port_post(apc_handle port, uint32_t bytes, uintptr_t key,
		       apc_overlapped *ov)
{
	if (!PostQueuedCompletionStatus(port, bytes, key, (LPOVERLAPPED)ov))
		return GetLastError();
	return 0;
}

/*
 * GetQueuedCompletionStatus: FALSE with an OVERLAPPED is a packet for a
 * failed operation (all three values set); FALSE without one is a
 * timeout, a closed port or a bad handle (*ov NULL).  NULL out-pointers
 * are allowed and skipped.
 */
uint32_t apc_port_get(apc_handle port, uint32_t *bytes, uintptr_t *key,
		      apc_overlapped **ov, uint32_t ms)
{
	DWORD n = 0;
	ULONG_PTR k = 0;
	LPOVERLAPPED o = NULL;
	uint32_t err = 0;

	if (!GetQueuedCompletionStatus(port, &n, &k, &o, ms))
		err = GetLastError();
	if (ov)
		*ov = (apc_overlapped *)o;
	if (!err || o) {
		if (bytes)
			*bytes = n;
		if (key)
			*key = k;
	}
	return err;
}

uint32_t apc_port_get_many(apc_handle port, apc_overlapped_entry *entries,
			   uint32_t n, uint32_t *removed, uint32_t ms,
			   bool alertable)
{
	ULONG got = 0;

	if (removed)
		*removed = 0;
	if (!GetQueuedCompletionStatusEx(port, (LPOVERLAPPED_ENTRY)entries, n,
					 &got, ms, alertable))
		return GetLastError();
	/*
	 * Internal is the packet's NTSTATUS, 32 bits, and the system writes
	 * those only (Wine leaves the upper half as it was; Microsoft calls
	 * the member reserved).  The portable API promises the status, so
	 * the upper half is cleared.
	 */
	for (ULONG i = 0; i < got; i++)
		entries[i].Internal = (uint32_t)entries[i].Internal;
	if (removed)
		*removed = got;
	return 0;
}

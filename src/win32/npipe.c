/*
 * Named pipes on kernel32 (contract N3-N7).
 *
 * Each call is its kernel32 counterpart with the portable API's checks in
 * front: names are UTF-8 and must be in the local namespace \\.\pipe\
 * (kernel32 would take any path, and CreateFile would open a file), and
 * the mode bits are the ones <apc/npipe.h> names.  Every status returned
 * is the Win32 error kernel32 left in GetLastError().  Three additions,
 * each so that the portable API means the same on both backends:
 *  - instances are created with PIPE_REJECT_REMOTE_CLIENTS: on POSIX a
 *    pipe is a local socket, so no client from another machine exists;
 *  - a client opened for reading also gets FILE_WRITE_ATTRIBUTES, which
 *    SetNamedPipeHandleState needs, so that apc_npipe_set_mode works on
 *    every client handle (MS SetNamedPipeHandleState: a read-only client
 *    needs GENERIC_READ and FILE_WRITE_ATTRIBUTES);
 *  - a client opens with SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
 *    so that the server may learn who the client is but not act as it
 *    (impersonation has no POSIX counterpart).
 */
#include "internal.h"

#include <stdlib.h>

_Static_assert(APC_PIPE_ACCESS_INBOUND == PIPE_ACCESS_INBOUND, "INBOUND");
_Static_assert(APC_PIPE_ACCESS_OUTBOUND == PIPE_ACCESS_OUTBOUND, "OUTBOUND");
_Static_assert(APC_PIPE_ACCESS_DUPLEX == PIPE_ACCESS_DUPLEX, "DUPLEX");
_Static_assert(APC_FILE_FLAG_FIRST_PIPE_INSTANCE ==
		       FILE_FLAG_FIRST_PIPE_INSTANCE,
	       "FIRST_PIPE_INSTANCE");
_Static_assert(APC_FILE_FLAG_OVERLAPPED == FILE_FLAG_OVERLAPPED, "OVERLAPPED");
_Static_assert(APC_PIPE_TYPE_MESSAGE == PIPE_TYPE_MESSAGE, "TYPE_MESSAGE");
_Static_assert(APC_PIPE_READMODE_MESSAGE == PIPE_READMODE_MESSAGE,
	       "READMODE_MESSAGE");
_Static_assert(APC_PIPE_NOWAIT == PIPE_NOWAIT, "NOWAIT");
_Static_assert(APC_PIPE_UNLIMITED_INSTANCES == PIPE_UNLIMITED_INSTANCES,
	       "UNLIMITED_INSTANCES");
_Static_assert(APC_NMPWAIT_USE_DEFAULT_WAIT == NMPWAIT_USE_DEFAULT_WAIT,
	       "USE_DEFAULT_WAIT");
_Static_assert(APC_NMPWAIT_WAIT_FOREVER == NMPWAIT_WAIT_FOREVER,
	       "WAIT_FOREVER");

/* The bits apc_npipe_create takes (<apc/npipe.h>). */
#define OPEN_MODE_BITS                                                         \
	(APC_PIPE_ACCESS_DUPLEX | APC_FILE_FLAG_OVERLAPPED |                   \
	 APC_FILE_FLAG_FIRST_PIPE_INSTANCE)
#define PIPE_MODE_BITS (APC_PIPE_TYPE_MESSAGE | APC_PIPE_READMODE_MESSAGE)

/*
 * A name in the local pipe namespace: "\\.\pipe\" and at least one more
 * character.  "pipe" is matched without case, as Windows matches pipe
 * names (MS Pipe Names); the rest is passed on as it is.
 */
static bool pipe_name_ok(const char *name)
{
	static const char prefix[] = "\\\\.\\pipe\\";
	size_t i;

	for (i = 0; i < sizeof(prefix) - 1; i++) {
		char c = name[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != prefix[i])
			return false;
	}
	return name[i] != '\0';
}

/* The name checked and widened; NULL with *err set. */
static WCHAR *pipe_name(const char *name, uint32_t *err)
{
	if (!name) {
		*err = APC_ERROR_INVALID_PARAMETER;
		return NULL;
	}
	if (!pipe_name_ok(name)) {
		*err = APC_ERROR_INVALID_NAME;
		return NULL;
	}
	return apc__utf8_to_wide(name, APC_ERROR_INVALID_NAME, err);
}

/*
 * A name with a missing path component is ERROR_PATH_NOT_FOUND (3) for
 * kernel32; the portable API has the one code for a name nobody serves.
 */
static uint32_t not_found(uint32_t err)
{
	return err == ERROR_PATH_NOT_FOUND ? APC_ERROR_FILE_NOT_FOUND : err;
}

uint32_t apc_npipe_create(const char *name, uint32_t open_mode,
			  uint32_t pipe_mode, uint32_t max_instances,
			  uint32_t out_size, uint32_t in_size,
			  uint32_t default_ms, apc_handle *out)
{
	uint32_t err = 0;
	WCHAR *wname;
	HANDLE h;

	if (!out)
		return APC_ERROR_INVALID_PARAMETER;
	*out = NULL;
	/* PIPE_NOWAIT (LAN Manager's non-blocking mode, which Microsoft
	 * says not to use) is not offered on either backend. */
	if (pipe_mode & APC_PIPE_NOWAIT)
		return APC_ERROR_NOT_SUPPORTED;
	/*
	 * The instance count is checked here too: MS CreateNamedPipe allows
	 * 1 to PIPE_UNLIMITED_INSTANCES, and Wine 8.0 takes any value (0
	 * then means 1).
	 */
	if ((open_mode & ~OPEN_MODE_BITS) || (pipe_mode & ~PIPE_MODE_BITS) ||
	    max_instances < 1 || max_instances > APC_PIPE_UNLIMITED_INSTANCES)
		return APC_ERROR_INVALID_PARAMETER;
	wname = pipe_name(name, &err);
	if (!wname)
		return err;
	h = CreateNamedPipeW(
		wname, open_mode, pipe_mode | PIPE_REJECT_REMOTE_CLIENTS,
		max_instances, out_size, in_size, default_ms, NULL);
	err = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
	free(wname);
	if (err)
		return not_found(err);
	*out = h;
	return 0;
}

/*
 * ConnectNamedPipe: FALSE with ERROR_IO_PENDING, ERROR_PIPE_CONNECTED or
 * ERROR_NO_DATA is returned as that status, also without ov (Windows
 * reports ERROR_PIPE_CONNECTED to a blocking call too).
 */
uint32_t apc_npipe_connect(apc_handle server, apc_overlapped *ov)
{
	return ConnectNamedPipe(server, (LPOVERLAPPED)ov) ? 0 : GetLastError();
}

uint32_t apc_npipe_disconnect(apc_handle server)
{
	return DisconnectNamedPipe(server) ? 0 : GetLastError();
}

uint32_t apc_npipe_open(const char *name, uint32_t access, uint32_t flags,
			apc_handle *out)
{
	uint32_t err = 0;
	DWORD rights = access;
	WCHAR *wname;
	HANDLE h;

	if (!out)
		return APC_ERROR_INVALID_PARAMETER;
	*out = NULL;
	if (access & ~(APC_GENERIC_READ | APC_GENERIC_WRITE))
		return APC_ERROR_INVALID_PARAMETER;
	wname = pipe_name(name, &err);
	if (!wname)
		return err;
	if (access & APC_GENERIC_READ)
		rights |= FILE_WRITE_ATTRIBUTES;
	h = CreateFileW(wname, rights, 0, NULL, OPEN_EXISTING,
			(flags & APC_FILE_FLAG_OVERLAPPED) |
				SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
			NULL);
	err = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
	free(wname);
	if (err)
		return not_found(err);
	*out = h;
	return 0;
}

uint32_t apc_npipe_wait(const char *name, uint32_t ms)
{
	uint32_t err = 0;
	WCHAR *wname = pipe_name(name, &err);

	if (!wname)
		return err;
	err = WaitNamedPipeW(wname, ms) ? 0 : GetLastError();
	free(wname);
	return not_found(err);
}

uint32_t apc_npipe_peek(apc_handle h, uint32_t *available,
			uint32_t *message_left)
{
	DWORD avail = 0, left = 0;

	if (available)
		*available = 0;
	if (message_left)
		*message_left = 0;
	if (!PeekNamedPipe(h, NULL, 0, NULL, &avail, &left))
		return GetLastError();
	if (available)
		*available = avail;
	if (message_left)
		*message_left = left;
	return 0;
}

/*
 * SetNamedPipeHandleState sets the read mode and the wait mode together;
 * the portable call changes the read mode only, so the wait mode is read
 * first and given back as it was.
 */
uint32_t apc_npipe_set_mode(apc_handle h, uint32_t read_mode)
{
	DWORD state = 0;
	DWORD mode;

	if (read_mode != APC_PIPE_READMODE_BYTE &&
	    read_mode != APC_PIPE_READMODE_MESSAGE)
		return APC_ERROR_INVALID_PARAMETER;
	if (!GetNamedPipeHandleStateW(h, &state, NULL, NULL, NULL, NULL, 0))
		return GetLastError();
	mode = read_mode | (state & PIPE_NOWAIT);
	return SetNamedPipeHandleState(h, &mode, NULL, NULL) ? 0
							     : GetLastError();
}

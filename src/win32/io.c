/*
 * Files, anonymous pipes, overlapped I/O, completion routines and
 * cancellation on kernel32.
 *
 * apc_overlapped is OVERLAPPED (the asserts below prove the layout), so
 * it is passed to kernel32 as it is, and Internal / InternalHigh are the
 * system's own NTSTATUS and byte count.  Every status returned is the
 * Win32 error kernel32 left in GetLastError(), which apc_* returns instead
 * of storing.
 */
#include "internal.h"

#include <stdlib.h>

/* ---- apc_overlapped is OVERLAPPED ---------------------------------------- */

_Static_assert(sizeof(apc_overlapped) == sizeof(OVERLAPPED),
	       "apc_overlapped has the size of OVERLAPPED");
_Static_assert(offsetof(apc_overlapped, Internal) ==
		       offsetof(OVERLAPPED, Internal),
	       "Internal");
_Static_assert(offsetof(apc_overlapped, InternalHigh) ==
		       offsetof(OVERLAPPED, InternalHigh),
	       "InternalHigh");
_Static_assert(offsetof(apc_overlapped, Offset) == offsetof(OVERLAPPED, Offset),
	       "Offset");
_Static_assert(offsetof(apc_overlapped, OffsetHigh) ==
		       offsetof(OVERLAPPED, OffsetHigh),
	       "OffsetHigh");
_Static_assert(offsetof(apc_overlapped, Pointer) ==
		       offsetof(OVERLAPPED, Pointer),
	       "Pointer");
_Static_assert(offsetof(apc_overlapped, hEvent) == offsetof(OVERLAPPED, hEvent),
	       "hEvent");
_Static_assert(sizeof(((apc_overlapped *)0)->Internal) ==
			       sizeof(((OVERLAPPED *)0)->Internal) &&
		       sizeof(((apc_overlapped *)0)->InternalHigh) ==
			       sizeof(((OVERLAPPED *)0)->InternalHigh),
	       "Internal and InternalHigh are ULONG_PTR");

/* The NT statuses of <apc/io.h> are the system's. */
_Static_assert(APC_STATUS_PENDING == STATUS_PENDING, "STATUS_PENDING");

/*
 * The completion routine: apc_io_fn takes (uint32_t, uint32_t,
 * apc_overlapped *), LPOVERLAPPED_COMPLETION_ROUTINE takes (DWORD, DWORD,
 * LPOVERLAPPED) with WINAPI.  On x86_64 Windows there is one calling
 * convention and DWORD is a 32-bit unsigned long, so the routine is
 * passed as it is (thread.c says the same of the thread routine).
 */
static LPOVERLAPPED_COMPLETION_ROUTINE routine(apc_io_fn fn)
{
	return (LPOVERLAPPED_COMPLETION_ROUTINE)(void (*)(void))fn;
}

/* ---- opening ------------------------------------------------------------- */

WCHAR *apc__utf8_to_wide(const char *s, uint32_t bad, uint32_t *err)
{
	int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL,
				    0);
	WCHAR *w;

	if (n <= 0) {
		*err = bad;
		return NULL;
	}
	w = malloc((size_t)n * sizeof(*w));
	if (!w) {
		*err = APC_ERROR_NOT_ENOUGH_MEMORY;
		return NULL;
	}
	if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) !=
	    n) {
		free(w);
		*err = bad;
		return NULL;
	}
	return w;
}

uint32_t apc_file_open(const char *path, uint32_t access, uint32_t disposition,
		       uint32_t flags, apc_handle *out)
{
	uint32_t err = 0;
	WCHAR *wpath;
	HANDLE h;

	if (!out)
		return APC_ERROR_INVALID_PARAMETER;
	*out = NULL;
	/* The portable API knows these two rights only (<apc/io.h>). */
	if (!path || (access & ~(APC_GENERIC_READ | APC_GENERIC_WRITE)))
		return APC_ERROR_INVALID_PARAMETER;
	wpath = apc__utf8_to_wide(path, APC_ERROR_INVALID_PARAMETER, &err);
	if (!wpath)
		return err;
	/*
	 * POSIX files are always shared, so every sharing mode is given;
	 * flags other than overlapped are ignored, as documented.
	 */
	h = CreateFileW(wpath, access,
			FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
			NULL, disposition,
			FILE_ATTRIBUTE_NORMAL |
				(flags & APC_FILE_FLAG_OVERLAPPED),
			NULL);
	err = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
	free(wpath);
	if (err) {
		/*
		 * A missing directory is ERROR_PATH_NOT_FOUND (3) here and
		 * ENOENT, ERROR_FILE_NOT_FOUND, on POSIX: the portable API
		 * documents the one code.
		 */
		return err == ERROR_PATH_NOT_FOUND ? APC_ERROR_FILE_NOT_FOUND
						   : err;
	}
	*out = h;
	return 0;
}

uint32_t apc_pipe_create(apc_handle *read, apc_handle *write, uint32_t size)
{
	HANDLE r, w;

	if (!read || !write)
		return APC_ERROR_INVALID_PARAMETER;
	*read = NULL;
	*write = NULL;
	if (!CreatePipe(&r, &w, NULL, size))
		return GetLastError();
	*read = r;
	*write = w;
	return 0;
}

/* ---- reading and writing ------------------------------------------------- */

/*
 * ReadFile / WriteFile.  The count is taken from the call also for an
 * overlapped operation that finished at once: its notification may
 * already have let another thread reuse the OVERLAPPED, so InternalHigh
 * is not read back.
 */
uint32_t apc_read(apc_handle h, void *buf, uint32_t len, uint32_t *bytes,
		  apc_overlapped *ov)
{
	DWORD n = 0;
	DWORD err;

	if (bytes)
		*bytes = 0;
	if (!ReadFile(h, buf, len, &n, (LPOVERLAPPED)ov)) {
		/*
		 * A message longer than the buffer (named pipes, N6): the
		 * part that fit was read, and ReadFile gives its length
		 * (0 for an overlapped read, whose count is InternalHigh).
		 */
		err = GetLastError();
		if (err == ERROR_MORE_DATA && bytes)
			*bytes = n;
		return err;
	}
	if (bytes)
		*bytes = n;
	return 0;
}

uint32_t apc_write(apc_handle h, const void *buf, uint32_t len, uint32_t *bytes,
		   apc_overlapped *ov)
{
	DWORD n = 0;

	if (bytes)
		*bytes = 0;
	if (!WriteFile(h, buf, len, &n, (LPOVERLAPPED)ov))
		return GetLastError();
	if (bytes)
		*bytes = n;
	return 0;
}

/*
 * ReadFileEx / WriteFileEx.  Windows takes a NULL routine (the operation
 * then completes unseen); the portable API refuses it, as it refuses a
 * NULL APC routine (contract A21).
 */
uint32_t apc_read_ex(apc_handle h, void *buf, uint32_t len, apc_overlapped *ov,
		     apc_io_fn fn)
{
	if (!ov || !fn)
		return APC_ERROR_INVALID_PARAMETER;
	if (!ReadFileEx(h, buf, len, (LPOVERLAPPED)ov, routine(fn)))
		return GetLastError();
	return 0;
}

uint32_t apc_write_ex(apc_handle h, const void *buf, uint32_t len,
		      apc_overlapped *ov, apc_io_fn fn)
{
	if (!ov || !fn)
		return APC_ERROR_INVALID_PARAMETER;
	if (!WriteFileEx(h, buf, len, (LPOVERLAPPED)ov, routine(fn)))
		return GetLastError();
	return 0;
}

/*
 * GetOverlappedResultEx.  Its last-error outcomes are already the
 * documented returns: ERROR_IO_INCOMPLETE (pending, ms 0), WAIT_TIMEOUT,
 * WAIT_IO_COMPLETION, the wait's own error (an invalid event or handle),
 * or the operation's error, in which case the count is InternalHigh as
 * for a success (contract E30).
 */
uint32_t apc_overlapped_result(apc_handle h, apc_overlapped *ov,
			       uint32_t *bytes, uint32_t ms, bool alertable)
{
	DWORD n = 0;
	DWORD err;

	if (!ov)
		return APC_ERROR_INVALID_PARAMETER;
	if (GetOverlappedResultEx(h, (LPOVERLAPPED)ov, &n, ms, alertable)) {
		if (bytes)
			*bytes = n;
		return 0;
	}
	err = GetLastError();
	if (bytes && err != ERROR_IO_INCOMPLETE && err != WAIT_TIMEOUT &&
	    err != WAIT_IO_COMPLETION)
		*bytes = n;
	return err;
}

/* ---- cancellation -------------------------------------------------------- */

uint32_t apc_cancel_io(apc_handle h)
{
	return CancelIo(h) ? 0 : GetLastError();
}

uint32_t apc_cancel_io_ex(apc_handle h, apc_overlapped *ov)
{
	return CancelIoEx(h, (LPOVERLAPPED)ov) ? 0 : GetLastError();
}

uint32_t apc_cancel_synchronous_io(apc_handle thread)
{
	return CancelSynchronousIo(thread) ? 0 : GetLastError();
}

uint32_t apc_set_completion_modes(apc_handle h, uint32_t modes)
{
	return SetFileCompletionNotificationModes(h, (UCHAR)modes)
		       ? 0
		       : GetLastError();
}

/* ---- the engine ---------------------------------------------------------- */

const char *apc_io_engine(void)
{
	return "win32";
}

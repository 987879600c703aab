/*
 * apcrt: the Win32 names, for porting.
 *
 * A Win32 program that uses the names below builds on POSIX against
 * apcrt by changing its `#include <windows.h>` to `#include <apc/windows.h>`.
 * Every function is a one-line static inline wrapper over the portable
 * apc_* API, with no logic but the Win32 calling convention: BOOL results
 * and a thread-local last error (set only where Win32 sets it).  No
 * symbol is exported from here, so apcrt links next to Wine or WinPR.
 *
 * The names and their apcrt counterparts are listed in README.md.
 */
#ifndef APC_WINDOWS_H
#define APC_WINDOWS_H

#if defined(_WIN32)
/*
 * On Windows the Win32 names are the system's own: this header adds
 * nothing, so one program builds against the real API there and against
 * apcrt on POSIX.
 */
#include <windows.h>
#else /* !_WIN32 */

#include <stdlib.h>
#include <unistd.h>
#include <wchar.h>

#include "apc.h"

/* ---- base types ------------------------------------------------------ */

#ifndef WINAPI
#define WINAPI
#endif
#ifndef CALLBACK
#define CALLBACK
#endif
#ifndef VOID
#define VOID void
#endif
#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

typedef int BOOL;
typedef unsigned char BYTE;
typedef uint16_t WORD;
typedef uint32_t DWORD;
typedef int32_t LONG;
typedef uint32_t ULONG;
typedef uintptr_t ULONG_PTR;
typedef uintptr_t DWORD_PTR;
typedef intptr_t LONG_PTR;
typedef size_t SIZE_T;
typedef char CHAR;
typedef wchar_t WCHAR;
typedef unsigned char UCHAR;
typedef const CHAR *LPCSTR;
typedef const WCHAR *LPCWSTR;
typedef void *PVOID;
typedef void *LPVOID;
typedef const void *LPCVOID;
typedef DWORD *LPDWORD;
typedef BOOL *LPBOOL;
typedef apc_handle HANDLE;
typedef HANDLE *PHANDLE;
typedef HANDLE *LPHANDLE;

typedef int64_t LONGLONG;
typedef union _LARGE_INTEGER {
	struct {
		DWORD LowPart;
		LONG HighPart;
	} u;
	LONGLONG QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;

typedef struct _FILETIME {
	DWORD dwLowDateTime;
	DWORD dwHighDateTime;
} FILETIME, *PFILETIME, *LPFILETIME;

typedef struct _REASON_CONTEXT REASON_CONTEXT, *PREASON_CONTEXT;

typedef struct _SECURITY_ATTRIBUTES {
	DWORD nLength;
	LPVOID lpSecurityDescriptor;
	BOOL bInheritHandle;
} SECURITY_ATTRIBUTES, *PSECURITY_ATTRIBUTES, *LPSECURITY_ATTRIBUTES;

typedef VOID(CALLBACK *PAPCFUNC)(ULONG_PTR dwParam);
typedef DWORD(WINAPI *PTHREAD_START_ROUTINE)(LPVOID lpThreadParameter);
typedef PTHREAD_START_ROUTINE LPTHREAD_START_ROUTINE;
typedef VOID(CALLBACK *PTIMERAPCROUTINE)(LPVOID lpArgToCompletionRoutine,
					 DWORD dwTimerLowValue,
					 DWORD dwTimerHighValue);

/* ---- constants --------------------------------------------------------- */

#define INFINITE APC_INFINITE
#define INVALID_HANDLE_VALUE ((HANDLE)(LONG_PTR)-1)

#define WAIT_OBJECT_0 APC_WAIT_OBJECT_0
#define WAIT_ABANDONED_0 APC_WAIT_ABANDONED_0
#define WAIT_ABANDONED APC_WAIT_ABANDONED_0
#define WAIT_IO_COMPLETION APC_WAIT_IO_COMPLETION
#define WAIT_TIMEOUT APC_WAIT_TIMEOUT
#define WAIT_FAILED APC_WAIT_FAILED
#define STILL_ACTIVE APC_STILL_ACTIVE

#define ERROR_SUCCESS APC_ERROR_SUCCESS
#define NO_ERROR APC_ERROR_SUCCESS
#define ERROR_FILE_NOT_FOUND APC_ERROR_FILE_NOT_FOUND
#define ERROR_ACCESS_DENIED APC_ERROR_ACCESS_DENIED
#define ERROR_INVALID_HANDLE APC_ERROR_INVALID_HANDLE
#define ERROR_NOT_ENOUGH_MEMORY APC_ERROR_NOT_ENOUGH_MEMORY
#define ERROR_GEN_FAILURE APC_ERROR_GEN_FAILURE
#define ERROR_NOT_SUPPORTED APC_ERROR_NOT_SUPPORTED
#define ERROR_INVALID_PARAMETER APC_ERROR_INVALID_PARAMETER
#define ERROR_NOT_OWNER APC_ERROR_NOT_OWNER
#define ERROR_TOO_MANY_POSTS APC_ERROR_TOO_MANY_POSTS
#define ERROR_MUTANT_LIMIT_EXCEEDED APC_ERROR_MUTANT_LIMIT_EXCEEDED
#define MAXIMUM_WAIT_OBJECTS APC_MAXIMUM_WAIT_OBJECTS
#define CREATE_WAITABLE_TIMER_MANUAL_RESET 0x1u

#define CREATE_SUSPENDED APC_THREAD_SUSPENDED
#define DUPLICATE_CLOSE_SOURCE APC_DUPLICATE_CLOSE_SOURCE
#define DUPLICATE_SAME_ACCESS APC_DUPLICATE_SAME_ACCESS

/* ---- last error -------------------------------------------------------- */

static inline DWORD GetLastError(void)
{
	return apc_last_error();
}

static inline VOID SetLastError(DWORD dwErrCode)
{
	apc_set_last_error(dwErrCode);
}

/*
 * Helpers of this header (not Win32 names): turn a portable status into
 * the Win32 BOOL convention.
 */
static inline BOOL apc__win_bool(uint32_t status)
{
	if (status == APC_ERROR_SUCCESS)
		return TRUE;
	apc_set_last_error(status);
	return FALSE;
}

/* A wait's result; on WAIT_FAILED its error becomes the last error. */
static inline DWORD apc__win_wait(uint32_t r, uint32_t err)
{
	if (r == APC_WAIT_FAILED)
		apc_set_last_error(err);
	return r;
}

/* ---- threads and handles ----------------------------------------------- */

static inline HANDLE GetCurrentThread(void)
{
	return APC_CURRENT_THREAD;
}

static inline HANDLE GetCurrentProcess(void)
{
	return APC_CURRENT_PROCESS;
}

static inline DWORD GetCurrentThreadId(void)
{
	return apc_thread_id(APC_CURRENT_THREAD);
}

/* The POSIX process id (pid_t has 32 bits on Linux). */
static inline DWORD GetCurrentProcessId(void)
{
	return (DWORD)getpid();
}

static inline DWORD GetThreadId(HANDLE Thread)
{
	DWORD id = apc_thread_id(Thread);

	if (id == 0)
		apc_set_last_error(APC_ERROR_INVALID_HANDLE);
	return id;
}

/* Security attributes are accepted and ignored (contract M5). */
static inline HANDLE CreateThread(LPSECURITY_ATTRIBUTES lpThreadAttributes,
				  SIZE_T dwStackSize,
				  LPTHREAD_START_ROUTINE lpStartAddress,
				  LPVOID lpParameter, DWORD dwCreationFlags,
				  LPDWORD lpThreadId)
{
	HANDLE h;
	uint32_t st;

	(void)lpThreadAttributes;
	st = apc_thread_create(lpStartAddress, lpParameter, dwStackSize,
			       dwCreationFlags, &h, lpThreadId);
	if (st != APC_ERROR_SUCCESS) {
		apc_set_last_error(st);
		return NULL;
	}
	return h;
}

static inline DWORD ResumeThread(HANDLE hThread)
{
	uint32_t prev;
	uint32_t st = apc_thread_resume(hThread, &prev);

	if (st != APC_ERROR_SUCCESS) {
		apc_set_last_error(st);
		return (DWORD)-1;
	}
	return prev;
}

static inline APC_NORETURN VOID ExitThread(DWORD dwExitCode)
{
	apc_thread_exit(dwExitCode);
}

static inline BOOL GetExitCodeThread(HANDLE hThread, LPDWORD lpExitCode)
{
	return apc__win_bool(apc_thread_exit_code(hThread, lpExitCode));
}

static inline BOOL CloseHandle(HANDLE hObject)
{
	return apc__win_bool(apc_close(hObject));
}

/*
 * Only the current process exists for apcrt (contract M2): both process
 * arguments must be GetCurrentProcess().  dwDesiredAccess and
 * bInheritHandle are ignored (M5).
 */
static inline BOOL
DuplicateHandle(HANDLE hSourceProcessHandle, HANDLE hSourceHandle,
		HANDLE hTargetProcessHandle, LPHANDLE lpTargetHandle,
		DWORD dwDesiredAccess, BOOL bInheritHandle, DWORD dwOptions)
{
	(void)dwDesiredAccess;
	(void)bInheritHandle;
	if (hSourceProcessHandle != APC_CURRENT_PROCESS ||
	    hTargetProcessHandle != APC_CURRENT_PROCESS) {
		if (dwOptions & APC_DUPLICATE_CLOSE_SOURCE)
			(void)apc_close(hSourceHandle);
		return apc__win_bool(APC_ERROR_INVALID_HANDLE);
	}
	return apc__win_bool(
		apc_handle_duplicate(hSourceHandle, dwOptions, lpTargetHandle));
}

/* ---- APCs, sleeps and waits -------------------------------------------- */

static inline DWORD QueueUserAPC(PAPCFUNC pfnAPC, HANDLE hThread,
				 ULONG_PTR dwData)
{
	return apc__win_bool(apc_queue(hThread, pfnAPC, dwData));
}

/* Sleep and SleepEx never change the last error (contract B6). */
static inline DWORD SleepEx(DWORD dwMilliseconds, BOOL bAlertable)
{
	return apc_sleep(dwMilliseconds, bAlertable != FALSE);
}

static inline VOID Sleep(DWORD dwMilliseconds)
{
	(void)apc_sleep(dwMilliseconds, false);
}

static inline DWORD WaitForSingleObjectEx(HANDLE hHandle, DWORD dwMilliseconds,
					  BOOL bAlertable)
{
	uint32_t err = APC_ERROR_SUCCESS;
	uint32_t r =
		apc_wait(hHandle, dwMilliseconds, bAlertable != FALSE, &err);

	if (r == APC_WAIT_FAILED)
		apc_set_last_error(err);
	return r;
}

static inline DWORD WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds)
{
	return WaitForSingleObjectEx(hHandle, dwMilliseconds, FALSE);
}

/* ---- events, semaphores, mutexes, multi-object waits ------------------- */

/*
 * Named objects are out of scope on POSIX: a non-NULL name fails with
 * ERROR_NOT_SUPPORTED.  Security attributes are accepted and ignored.
 */
/* (status is computed before the call: C leaves argument order free.) */
static inline HANDLE apc__win_created(uint32_t status, HANDLE h)
{
	if (status != APC_ERROR_SUCCESS) {
		apc_set_last_error(status);
		return NULL;
	}
	return h;
}

static inline HANDLE apc__win_event(BOOL manual, BOOL initial, int named)
{
	HANDLE h = NULL;
	uint32_t st;

	if (named)
		return apc__win_created(APC_ERROR_NOT_SUPPORTED, NULL);
	st = apc_event_create(manual != FALSE, initial != FALSE, &h);
	return apc__win_created(st, h);
}

static inline HANDLE CreateEventA(LPSECURITY_ATTRIBUTES lpEventAttributes,
				  BOOL bManualReset, BOOL bInitialState,
				  LPCSTR lpName)
{
	(void)lpEventAttributes;
	return apc__win_event(bManualReset, bInitialState, lpName != NULL);
}

static inline HANDLE CreateEventW(LPSECURITY_ATTRIBUTES lpEventAttributes,
				  BOOL bManualReset, BOOL bInitialState,
				  LPCWSTR lpName)
{
	(void)lpEventAttributes;
	return apc__win_event(bManualReset, bInitialState, lpName != NULL);
}

static inline BOOL SetEvent(HANDLE hEvent)
{
	return apc__win_bool(apc_event_set(hEvent));
}

static inline BOOL ResetEvent(HANDLE hEvent)
{
	return apc__win_bool(apc_event_reset(hEvent));
}

static inline BOOL PulseEvent(HANDLE hEvent)
{
	return apc__win_bool(apc_event_pulse(hEvent));
}

static inline HANDLE apc__win_semaphore(LONG initial, LONG maximum, int named)
{
	HANDLE h = NULL;
	uint32_t st;

	if (named)
		return apc__win_created(APC_ERROR_NOT_SUPPORTED, NULL);
	st = apc_semaphore_create(initial, maximum, &h);
	return apc__win_created(st, h);
}

static inline HANDLE
CreateSemaphoreA(LPSECURITY_ATTRIBUTES lpSemaphoreAttributes,
		 LONG lInitialCount, LONG lMaximumCount, LPCSTR lpName)
{
	(void)lpSemaphoreAttributes;
	return apc__win_semaphore(lInitialCount, lMaximumCount, lpName != NULL);
}

static inline HANDLE
CreateSemaphoreW(LPSECURITY_ATTRIBUTES lpSemaphoreAttributes,
		 LONG lInitialCount, LONG lMaximumCount, LPCWSTR lpName)
{
	(void)lpSemaphoreAttributes;
	return apc__win_semaphore(lInitialCount, lMaximumCount, lpName != NULL);
}

static inline BOOL ReleaseSemaphore(HANDLE hSemaphore, LONG lReleaseCount,
				    LONG *lpPreviousCount)
{
	return apc__win_bool(apc_semaphore_release(hSemaphore, lReleaseCount,
						   lpPreviousCount));
}

static inline HANDLE apc__win_mutex(BOOL initial_owner, int named)
{
	HANDLE h = NULL;
	uint32_t st;

	if (named)
		return apc__win_created(APC_ERROR_NOT_SUPPORTED, NULL);
	st = apc_mutex_create(initial_owner != FALSE, &h);
	return apc__win_created(st, h);
}

static inline HANDLE CreateMutexA(LPSECURITY_ATTRIBUTES lpMutexAttributes,
				  BOOL bInitialOwner, LPCSTR lpName)
{
	(void)lpMutexAttributes;
	return apc__win_mutex(bInitialOwner, lpName != NULL);
}

static inline HANDLE CreateMutexW(LPSECURITY_ATTRIBUTES lpMutexAttributes,
				  BOOL bInitialOwner, LPCWSTR lpName)
{
	(void)lpMutexAttributes;
	return apc__win_mutex(bInitialOwner, lpName != NULL);
}

static inline BOOL ReleaseMutex(HANDLE hMutex)
{
	return apc__win_bool(apc_mutex_release(hMutex));
}

#ifdef UNICODE
#define CreateEvent CreateEventW
#define CreateSemaphore CreateSemaphoreW
#define CreateMutex CreateMutexW
#else
#define CreateEvent CreateEventA
#define CreateSemaphore CreateSemaphoreA
#define CreateMutex CreateMutexA
#endif

static inline DWORD
WaitForMultipleObjectsEx(DWORD nCount, const HANDLE *lpHandles, BOOL bWaitAll,
			 DWORD dwMilliseconds, BOOL bAlertable)
{
	uint32_t err = APC_ERROR_SUCCESS;
	uint32_t r =
		apc_wait_multiple(nCount, lpHandles, bWaitAll != FALSE,
				  dwMilliseconds, bAlertable != FALSE, &err);

	return apc__win_wait(r, err);
}

static inline DWORD WaitForMultipleObjects(DWORD nCount,
					   const HANDLE *lpHandles,
					   BOOL bWaitAll, DWORD dwMilliseconds)
{
	return WaitForMultipleObjectsEx(nCount, lpHandles, bWaitAll,
					dwMilliseconds, FALSE);
}

static inline DWORD SignalObjectAndWait(HANDLE hObjectToSignal,
					HANDLE hObjectToWaitOn,
					DWORD dwMilliseconds, BOOL bAlertable)
{
	uint32_t err = APC_ERROR_SUCCESS;
	uint32_t r =
		apc_signal_and_wait(hObjectToSignal, hObjectToWaitOn,
				    dwMilliseconds, bAlertable != FALSE, &err);

	return apc__win_wait(r, err);
}

/* ---- waitable timers --------------------------------------------------- */

static inline HANDLE apc__win_timer(BOOL manual, int named)
{
	HANDLE h = NULL;
	uint32_t st;

	if (named)
		return apc__win_created(APC_ERROR_NOT_SUPPORTED, NULL);
	st = apc_timer_create(manual != FALSE, &h);
	return apc__win_created(st, h);
}

static inline HANDLE
CreateWaitableTimerA(LPSECURITY_ATTRIBUTES lpTimerAttributes, BOOL bManualReset,
		     LPCSTR lpTimerName)
{
	(void)lpTimerAttributes;
	return apc__win_timer(bManualReset, lpTimerName != NULL);
}

static inline HANDLE
CreateWaitableTimerW(LPSECURITY_ATTRIBUTES lpTimerAttributes, BOOL bManualReset,
		     LPCWSTR lpTimerName)
{
	(void)lpTimerAttributes;
	return apc__win_timer(bManualReset, lpTimerName != NULL);
}

/*
 * The routine's PTIMERAPCROUTINE shape (void *, DWORD, DWORD) is the
 * portable apc_timer_fn's on every LP64 system, so it is passed as is.
 * fResume is accepted and never supported: the call succeeds and sets the
 * last error to ERROR_NOT_SUPPORTED, as Windows does without the
 * hardware (D19).
 */
static inline BOOL
SetWaitableTimer(HANDLE hTimer, const LARGE_INTEGER *lpDueTime, LONG lPeriod,
		 PTIMERAPCROUTINE pfnCompletionRoutine,
		 LPVOID lpArgToCompletionRoutine, BOOL fResume)
{
	uint32_t st;

	if (!lpDueTime)
		return apc__win_bool(APC_ERROR_INVALID_PARAMETER);
	st = apc_timer_set(hTimer, lpDueTime->QuadPart, lPeriod,
			   (apc_timer_fn)pfnCompletionRoutine,
			   lpArgToCompletionRoutine);
	if (st == APC_ERROR_SUCCESS && fResume)
		apc_set_last_error(APC_ERROR_NOT_SUPPORTED);
	return apc__win_bool(st);
}

/* The wake context and tolerable delay are accepted and ignored. */
static inline BOOL
SetWaitableTimerEx(HANDLE hTimer, const LARGE_INTEGER *lpDueTime, LONG lPeriod,
		   PTIMERAPCROUTINE pfnCompletionRoutine,
		   LPVOID lpArgToCompletionRoutine, PREASON_CONTEXT WakeContext,
		   ULONG TolerableDelay)
{
	(void)WakeContext;
	(void)TolerableDelay;
	return SetWaitableTimer(hTimer, lpDueTime, lPeriod,
				pfnCompletionRoutine, lpArgToCompletionRoutine,
				FALSE);
}

static inline BOOL CancelWaitableTimer(HANDLE hTimer)
{
	return apc__win_bool(apc_timer_cancel(hTimer));
}

static inline VOID GetSystemTimeAsFileTime(LPFILETIME lpSystemTimeAsFileTime)
{
	int64_t ft = apc_filetime_now();

	lpSystemTimeAsFileTime->dwLowDateTime = (DWORD)ft;
	lpSystemTimeAsFileTime->dwHighDateTime = (DWORD)((uint64_t)ft >> 32);
}

#ifdef UNICODE
#define CreateWaitableTimer CreateWaitableTimerW
#else
#define CreateWaitableTimer CreateWaitableTimerA
#endif

/* ---- files, pipes and overlapped I/O ----------------------------------- */

/*
 * Contract sections E, N1-N2.  OVERLAPPED is apc_overlapped (the Win32
 * layout and member names), and a completion routine has apc_io_fn's
 * shape, so both pass through unchanged.
 */
typedef ULONG *PULONG;
typedef ULONG_PTR *PULONG_PTR;
typedef apc_overlapped OVERLAPPED, *LPOVERLAPPED;
typedef apc_overlapped_entry OVERLAPPED_ENTRY, *LPOVERLAPPED_ENTRY;
typedef VOID(WINAPI *LPOVERLAPPED_COMPLETION_ROUTINE)(
	DWORD dwErrorCode, DWORD dwNumberOfBytesTransfered,
	LPOVERLAPPED lpOverlapped);

#define ERROR_TOO_MANY_OPEN_FILES APC_ERROR_TOO_MANY_OPEN_FILES
#define ERROR_HANDLE_EOF APC_ERROR_HANDLE_EOF
#define ERROR_FILE_EXISTS APC_ERROR_FILE_EXISTS
#define ERROR_BROKEN_PIPE APC_ERROR_BROKEN_PIPE
#define ERROR_DISK_FULL APC_ERROR_DISK_FULL
#define ERROR_SEM_TIMEOUT APC_ERROR_SEM_TIMEOUT
#define ERROR_INVALID_NAME APC_ERROR_INVALID_NAME
#define ERROR_ALREADY_EXISTS APC_ERROR_ALREADY_EXISTS
#define ERROR_INVALID_FUNCTION APC_ERROR_INVALID_FUNCTION
#define ERROR_BAD_PIPE APC_ERROR_BAD_PIPE
#define ERROR_PIPE_BUSY APC_ERROR_PIPE_BUSY
#define ERROR_NO_DATA APC_ERROR_NO_DATA
#define ERROR_PIPE_NOT_CONNECTED APC_ERROR_PIPE_NOT_CONNECTED
#define ERROR_MORE_DATA APC_ERROR_MORE_DATA
#define ERROR_PIPE_CONNECTED APC_ERROR_PIPE_CONNECTED
#define ERROR_PIPE_LISTENING APC_ERROR_PIPE_LISTENING
#define ERROR_ABANDONED_WAIT_0 APC_ERROR_ABANDONED_WAIT_0
#define ERROR_OPERATION_ABORTED APC_ERROR_OPERATION_ABORTED
#define ERROR_IO_INCOMPLETE APC_ERROR_IO_INCOMPLETE
#define ERROR_IO_PENDING APC_ERROR_IO_PENDING
#define ERROR_NOACCESS APC_ERROR_NOACCESS
#define ERROR_NOT_FOUND APC_ERROR_NOT_FOUND
#define ERROR_INVALID_USER_BUFFER APC_ERROR_INVALID_USER_BUFFER

/*
 * NT statuses as OVERLAPPED.Internal holds them.  The first seven come
 * from <windows.h> on Windows, the others from <ntstatus.h>.
 * STATUS_BUFFER_OVERFLOW is the warning of a message read into a short
 * buffer (ERROR_MORE_DATA).
 */
#define STATUS_WAIT_0 ((DWORD)APC_WAIT_OBJECT_0)
#define STATUS_ABANDONED_WAIT_0 ((DWORD)APC_WAIT_ABANDONED_0)
#define STATUS_USER_APC ((DWORD)APC_WAIT_IO_COMPLETION)
#define STATUS_TIMEOUT ((DWORD)APC_WAIT_TIMEOUT)
#define STATUS_PENDING ((DWORD)APC_STATUS_PENDING)
#define STATUS_INVALID_HANDLE ((DWORD)APC_STATUS_INVALID_HANDLE)
#define STATUS_INVALID_PARAMETER ((DWORD)APC_STATUS_INVALID_PARAMETER)
#define STATUS_SUCCESS ((DWORD)APC_STATUS_SUCCESS)
#define STATUS_END_OF_FILE ((DWORD)APC_STATUS_END_OF_FILE)
#define STATUS_ACCESS_DENIED ((DWORD)APC_STATUS_ACCESS_DENIED)
#define STATUS_CANCELLED ((DWORD)APC_STATUS_CANCELLED)
#define STATUS_PIPE_BROKEN ((DWORD)APC_STATUS_PIPE_BROKEN)
#define STATUS_BUFFER_OVERFLOW ((DWORD)APC_STATUS_BUFFER_OVERFLOW)

#define GENERIC_READ APC_GENERIC_READ
#define GENERIC_WRITE APC_GENERIC_WRITE
#define FILE_SHARE_READ 0x00000001u
#define FILE_SHARE_WRITE 0x00000002u
#define FILE_SHARE_DELETE 0x00000004u
#define CREATE_NEW APC_CREATE_NEW
#define CREATE_ALWAYS APC_CREATE_ALWAYS
#define OPEN_EXISTING APC_OPEN_EXISTING
#define OPEN_ALWAYS APC_OPEN_ALWAYS
#define TRUNCATE_EXISTING APC_TRUNCATE_EXISTING
#define FILE_FLAG_OVERLAPPED APC_FILE_FLAG_OVERLAPPED
/* Accepted and ignored: attributes and caching hints. */
#define FILE_ATTRIBUTE_NORMAL 0x00000080u
#define FILE_FLAG_NO_BUFFERING 0x20000000u
#define FILE_FLAG_RANDOM_ACCESS 0x10000000u
#define FILE_FLAG_SEQUENTIAL_SCAN 0x08000000u

/* HasOverlappedIoCompleted (E5), a macro as in Win32. */
#define HasOverlappedIoCompleted(lpOverlapped) apc_overlapped_done(lpOverlapped)

/*
 * The path of CreateFileW as UTF-8, on the heap (free it); NULL with
 * *status set (ERROR_INVALID_NAME for a lone surrogate or a value beyond
 * U+10FFFF, ERROR_NOT_ENOUGH_MEMORY).  WCHAR is UTF-32 on Linux and
 * UTF-16 where wchar_t has 16 bits.
 */
static inline char *apc__win_utf8(LPCWSTR w, uint32_t *status)
{
	size_t len = 0, i;
	char *s, *p;

	while (w[len])
		len++;
	s = (char *)malloc(len * 4 + 1);
	if (!s) {
		*status = APC_ERROR_NOT_ENOUGH_MEMORY;
		return NULL;
	}
	p = s;
	for (i = 0; i < len; i++) {
		uint32_t c = (uint32_t)w[i];
		uint32_t d = (uint32_t)w[i + 1];

		if (sizeof(WCHAR) == 2 && c >= 0xD800u && c < 0xDC00u &&
		    d >= 0xDC00u && d < 0xE000u) {
			c = 0x10000u + ((c - 0xD800u) << 10) + (d - 0xDC00u);
			i++;
		}
		if ((c >= 0xD800u && c < 0xE000u) || c > 0x10FFFFu) {
			free(s);
			*status = APC_ERROR_INVALID_NAME;
			return NULL;
		}
		if (c < 0x80u) {
			*p++ = (char)c;
		} else if (c < 0x800u) {
			*p++ = (char)(0xC0u | (c >> 6));
			*p++ = (char)(0x80u | (c & 0x3Fu));
		} else if (c < 0x10000u) {
			*p++ = (char)(0xE0u | (c >> 12));
			*p++ = (char)(0x80u | ((c >> 6) & 0x3Fu));
			*p++ = (char)(0x80u | (c & 0x3Fu));
		} else {
			*p++ = (char)(0xF0u | (c >> 18));
			*p++ = (char)(0x80u | ((c >> 12) & 0x3Fu));
			*p++ = (char)(0x80u | ((c >> 6) & 0x3Fu));
			*p++ = (char)(0x80u | (c & 0x3Fu));
		}
	}
	*p = '\0';
	return s;
}

/*
 * A name in the local pipe namespace, "\\.\pipe\..." with "pipe" in
 * any case (pipe names are not case-sensitive, MS Pipe Names).
 */
static inline int apc__win_is_pipe_name(const char *path)
{
	static const char prefix[] = "\\\\.\\pipe\\";
	size_t i;

	for (i = 0; i < sizeof(prefix) - 1; i++) {
		char c = path[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != prefix[i])
			return 0;
	}
	return 1;
}

/*
 * CreateFile: a pipe name ("\\.\pipe\NAME") is a named-pipe client,
 * apc_npipe_open (N5), whatever the disposition; any other path is a
 * file, apc_file_open.
 *
 * For files: regular files only.  Access rights other than GENERIC_READ
 * and GENERIC_WRITE, the sharing mode (POSIX files are always shared),
 * the security attributes (apcrt handles are never inherited), the
 * template and every flag but FILE_FLAG_OVERLAPPED are ignored (for pipe
 * names too).  As in Win32, CREATE_ALWAYS
 * and OPEN_ALWAYS set the last error to ERROR_ALREADY_EXISTS when the
 * file was there and to 0 when it was made; a file that appears between
 * the two steps of OPEN_ALWAYS reads as made.
 */
static inline HANDLE apc__win_create_file(const char *path, DWORD access,
					  DWORD disposition, DWORD flags)
{
	HANDLE h = NULL;
	uint32_t acc = access & (APC_GENERIC_READ | APC_GENERIC_WRITE);
	uint32_t fl = flags & APC_FILE_FLAG_OVERLAPPED;
	uint32_t existed = APC_ERROR_SUCCESS;
	uint32_t st;

	if (apc__win_is_pipe_name(path)) {
		st = apc_npipe_open(path, acc, fl, &h);
		if (st != APC_ERROR_SUCCESS) {
			apc_set_last_error(st);
			return INVALID_HANDLE_VALUE;
		}
		return h;
	}
	if (disposition == APC_CREATE_ALWAYS) {
		st = apc_file_open(path, acc, APC_CREATE_NEW, fl, &h);
		if (st == APC_ERROR_FILE_EXISTS) {
			existed = APC_ERROR_ALREADY_EXISTS;
			st = apc_file_open(path, acc, APC_CREATE_ALWAYS, fl,
					   &h);
		}
	} else if (disposition == APC_OPEN_ALWAYS) {
		st = apc_file_open(path, acc, APC_OPEN_EXISTING, fl, &h);
		if (st == APC_ERROR_SUCCESS)
			existed = APC_ERROR_ALREADY_EXISTS;
		else if (st == APC_ERROR_FILE_NOT_FOUND)
			st = apc_file_open(path, acc, APC_OPEN_ALWAYS, fl, &h);
	} else {
		st = apc_file_open(path, acc, disposition, fl, &h);
	}
	if (st != APC_ERROR_SUCCESS) {
		apc_set_last_error(st);
		return INVALID_HANDLE_VALUE;
	}
	if (disposition == APC_CREATE_ALWAYS || disposition == APC_OPEN_ALWAYS)
		apc_set_last_error(existed);
	return h;
}

static inline HANDLE CreateFileA(LPCSTR lpFileName, DWORD dwDesiredAccess,
				 DWORD dwShareMode,
				 LPSECURITY_ATTRIBUTES lpSecurityAttributes,
				 DWORD dwCreationDisposition,
				 DWORD dwFlagsAndAttributes,
				 HANDLE hTemplateFile)
{
	(void)dwShareMode;
	(void)lpSecurityAttributes;
	(void)hTemplateFile;
	return apc__win_create_file(lpFileName, dwDesiredAccess,
				    dwCreationDisposition,
				    dwFlagsAndAttributes);
}

static inline HANDLE CreateFileW(LPCWSTR lpFileName, DWORD dwDesiredAccess,
				 DWORD dwShareMode,
				 LPSECURITY_ATTRIBUTES lpSecurityAttributes,
				 DWORD dwCreationDisposition,
				 DWORD dwFlagsAndAttributes,
				 HANDLE hTemplateFile)
{
	uint32_t st = APC_ERROR_INVALID_PARAMETER;
	char *path = lpFileName ? apc__win_utf8(lpFileName, &st) : NULL;
	HANDLE h;

	(void)dwShareMode;
	(void)lpSecurityAttributes;
	(void)hTemplateFile;
	if (!path) {
		apc_set_last_error(st);
		return INVALID_HANDLE_VALUE;
	}
	h = apc__win_create_file(path, dwDesiredAccess, dwCreationDisposition,
				 dwFlagsAndAttributes);
	free(path);
	return h;
}

/*
 * CreatePipe (N1).  The security attributes are ignored.  On POSIX both
 * ends also take overlapped operations; that does not port back to
 * Windows, where they are synchronous.
 */
static inline BOOL CreatePipe(PHANDLE hReadPipe, PHANDLE hWritePipe,
			      LPSECURITY_ATTRIBUTES lpPipeAttributes,
			      DWORD nSize)
{
	(void)lpPipeAttributes;
	return apc__win_bool(apc_pipe_create(hReadPipe, hWritePipe, nSize));
}

/* ReadFile / WriteFile: FALSE with ERROR_IO_PENDING while in flight. */
static inline BOOL ReadFile(HANDLE hFile, LPVOID lpBuffer,
			    DWORD nNumberOfBytesToRead,
			    LPDWORD lpNumberOfBytesRead,
			    LPOVERLAPPED lpOverlapped)
{
	return apc__win_bool(apc_read(hFile, lpBuffer, nNumberOfBytesToRead,
				      lpNumberOfBytesRead, lpOverlapped));
}

static inline BOOL WriteFile(HANDLE hFile, LPCVOID lpBuffer,
			     DWORD nNumberOfBytesToWrite,
			     LPDWORD lpNumberOfBytesWritten,
			     LPOVERLAPPED lpOverlapped)
{
	return apc__win_bool(apc_write(hFile, lpBuffer, nNumberOfBytesToWrite,
				       lpNumberOfBytesWritten, lpOverlapped));
}

static inline BOOL
ReadFileEx(HANDLE hFile, LPVOID lpBuffer, DWORD nNumberOfBytesToRead,
	   LPOVERLAPPED lpOverlapped,
	   LPOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)
{
	return apc__win_bool(apc_read_ex(hFile, lpBuffer, nNumberOfBytesToRead,
					 lpOverlapped, lpCompletionRoutine));
}

static inline BOOL
WriteFileEx(HANDLE hFile, LPCVOID lpBuffer, DWORD nNumberOfBytesToWrite,
	    LPOVERLAPPED lpOverlapped,
	    LPOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)
{
	return apc__win_bool(apc_write_ex(hFile, lpBuffer,
					  nNumberOfBytesToWrite, lpOverlapped,
					  lpCompletionRoutine));
}

/*
 * GetOverlappedResult(Ex) (E30-E35): the last error is the operation's
 * error, ERROR_IO_INCOMPLETE, WAIT_TIMEOUT or WAIT_IO_COMPLETION.
 */
static inline BOOL GetOverlappedResultEx(HANDLE hFile,
					 LPOVERLAPPED lpOverlapped,
					 LPDWORD lpNumberOfBytesTransferred,
					 DWORD dwMilliseconds, BOOL bAlertable)
{
	return apc__win_bool(apc_overlapped_result(
		hFile, lpOverlapped, lpNumberOfBytesTransferred, dwMilliseconds,
		bAlertable != FALSE));
}

static inline BOOL GetOverlappedResult(HANDLE hFile, LPOVERLAPPED lpOverlapped,
				       LPDWORD lpNumberOfBytesTransferred,
				       BOOL bWait)
{
	return GetOverlappedResultEx(hFile, lpOverlapped,
				     lpNumberOfBytesTransferred,
				     bWait ? APC_INFINITE : 0, FALSE);
}

static inline BOOL CancelIo(HANDLE hFile)
{
	return apc__win_bool(apc_cancel_io(hFile));
}

static inline BOOL CancelIoEx(HANDLE hFile, LPOVERLAPPED lpOverlapped)
{
	return apc__win_bool(apc_cancel_io_ex(hFile, lpOverlapped));
}

static inline BOOL CancelSynchronousIo(HANDLE hThread)
{
	return apc__win_bool(apc_cancel_synchronous_io(hThread));
}

#define FILE_SKIP_COMPLETION_PORT_ON_SUCCESS                                   \
	APC_FILE_SKIP_COMPLETION_PORT_ON_SUCCESS
#define FILE_SKIP_SET_EVENT_ON_HANDLE APC_FILE_SKIP_SET_EVENT_ON_HANDLE

static inline BOOL SetFileCompletionNotificationModes(HANDLE FileHandle,
						      UCHAR Flags)
{
	return apc__win_bool(apc_set_completion_modes(FileHandle, Flags));
}

#ifdef UNICODE
#define CreateFile CreateFileW
#else
#define CreateFile CreateFileA
#endif

/* ---- named pipes ------------------------------------------------------- */

/*
 * Contract N3-N7.  A named-pipe handle is an I/O handle: ReadFile,
 * WriteFile, their Ex forms, GetOverlappedResult, the cancel calls and
 * completion ports take it as above.  On POSIX a pipe name is a
 * Unix-domain socket that only its user can reach (README).
 */
#define PIPE_ACCESS_INBOUND APC_PIPE_ACCESS_INBOUND
#define PIPE_ACCESS_OUTBOUND APC_PIPE_ACCESS_OUTBOUND
#define PIPE_ACCESS_DUPLEX APC_PIPE_ACCESS_DUPLEX
#define FILE_FLAG_FIRST_PIPE_INSTANCE APC_FILE_FLAG_FIRST_PIPE_INSTANCE
#define PIPE_TYPE_BYTE APC_PIPE_TYPE_BYTE
#define PIPE_TYPE_MESSAGE APC_PIPE_TYPE_MESSAGE
#define PIPE_READMODE_BYTE APC_PIPE_READMODE_BYTE
#define PIPE_READMODE_MESSAGE APC_PIPE_READMODE_MESSAGE
#define PIPE_WAIT APC_PIPE_WAIT
#define PIPE_NOWAIT APC_PIPE_NOWAIT
#define PIPE_ACCEPT_REMOTE_CLIENTS 0x00000000u
#define PIPE_REJECT_REMOTE_CLIENTS 0x00000008u
#define PIPE_UNLIMITED_INSTANCES APC_PIPE_UNLIMITED_INSTANCES
#define NMPWAIT_USE_DEFAULT_WAIT APC_NMPWAIT_USE_DEFAULT_WAIT
#define NMPWAIT_NOWAIT 0x00000001u
#define NMPWAIT_WAIT_FOREVER APC_NMPWAIT_WAIT_FOREVER
/* Accepted and ignored by CreateNamedPipe (see there). */
#define FILE_FLAG_WRITE_THROUGH 0x80000000u
#define WRITE_DAC 0x00040000u
#define ACCESS_SYSTEM_SECURITY 0x01000000u

/*
 * CreateNamedPipe (N3).  Ignored: the security attributes (the socket is
 * private to its user), FILE_FLAG_WRITE_THROUGH, WRITE_DAC and
 * ACCESS_SYSTEM_SECURITY in dwOpenMode (WRITE_OWNER has the bit of
 * FILE_FLAG_FIRST_PIPE_INSTANCE, which is what it means here), and
 * PIPE_ACCEPT/REJECT_REMOTE_CLIENTS (no client is ever remote).  Any
 * other unknown bit is ERROR_INVALID_PARAMETER.
 */
static inline HANDLE apc__win_named_pipe(const char *name, DWORD open_mode,
					 DWORD pipe_mode, DWORD max_instances,
					 DWORD out_size, DWORD in_size,
					 DWORD default_ms)
{
	HANDLE h = NULL;
	uint32_t st = apc_npipe_create(
		name,
		open_mode & ~(FILE_FLAG_WRITE_THROUGH | WRITE_DAC |
			      ACCESS_SYSTEM_SECURITY),
		pipe_mode & ~PIPE_REJECT_REMOTE_CLIENTS, max_instances,
		out_size, in_size, default_ms, &h);

	if (st != APC_ERROR_SUCCESS) {
		apc_set_last_error(st);
		return INVALID_HANDLE_VALUE;
	}
	return h;
}

static inline HANDLE
CreateNamedPipeA(LPCSTR lpName, DWORD dwOpenMode, DWORD dwPipeMode,
		 DWORD nMaxInstances, DWORD nOutBufferSize, DWORD nInBufferSize,
		 DWORD nDefaultTimeOut,
		 LPSECURITY_ATTRIBUTES lpSecurityAttributes)
{
	(void)lpSecurityAttributes;
	return apc__win_named_pipe(lpName, dwOpenMode, dwPipeMode,
				   nMaxInstances, nOutBufferSize, nInBufferSize,
				   nDefaultTimeOut);
}

static inline HANDLE
CreateNamedPipeW(LPCWSTR lpName, DWORD dwOpenMode, DWORD dwPipeMode,
		 DWORD nMaxInstances, DWORD nOutBufferSize, DWORD nInBufferSize,
		 DWORD nDefaultTimeOut,
		 LPSECURITY_ATTRIBUTES lpSecurityAttributes)
{
	uint32_t st = APC_ERROR_INVALID_PARAMETER;
	char *name = lpName ? apc__win_utf8(lpName, &st) : NULL;
	HANDLE h;

	(void)lpSecurityAttributes;
	if (!name) {
		apc_set_last_error(st);
		return INVALID_HANDLE_VALUE;
	}
	h = apc__win_named_pipe(name, dwOpenMode, dwPipeMode, nMaxInstances,
				nOutBufferSize, nInBufferSize, nDefaultTimeOut);
	free(name);
	return h;
}

/*
 * ConnectNamedPipe (N4): FALSE with ERROR_IO_PENDING (started),
 * ERROR_PIPE_CONNECTED (a client came first: connected) or ERROR_NO_DATA
 * (the last client left; DisconnectNamedPipe first).
 */
static inline BOOL ConnectNamedPipe(HANDLE hNamedPipe,
				    LPOVERLAPPED lpOverlapped)
{
	return apc__win_bool(apc_npipe_connect(hNamedPipe, lpOverlapped));
}

static inline BOOL DisconnectNamedPipe(HANDLE hNamedPipe)
{
	return apc__win_bool(apc_npipe_disconnect(hNamedPipe));
}

/* WaitNamedPipe (N5): FALSE with ERROR_SEM_TIMEOUT or ERROR_FILE_NOT_FOUND. */
static inline BOOL WaitNamedPipeA(LPCSTR lpNamedPipeName, DWORD nTimeOut)
{
	return apc__win_bool(apc_npipe_wait(lpNamedPipeName, nTimeOut));
}

static inline BOOL WaitNamedPipeW(LPCWSTR lpNamedPipeName, DWORD nTimeOut)
{
	uint32_t st = APC_ERROR_INVALID_PARAMETER;
	char *name =
		lpNamedPipeName ? apc__win_utf8(lpNamedPipeName, &st) : NULL;

	if (!name)
		return apc__win_bool(st);
	st = apc_npipe_wait(name, nTimeOut);
	free(name);
	return apc__win_bool(st);
}

/*
 * PeekNamedPipe: the counts only (bytes waiting, bytes left in the head
 * message; 0 for a byte pipe).  Copying data out (lpBuffer with a
 * non-zero nBufferSize) would need a portable call that <apc/npipe.h>
 * does not have, and fails with ERROR_NOT_SUPPORTED; *lpBytesRead is 0.
 * As on Windows, the out-parameters are written only on success.
 */
static inline BOOL PeekNamedPipe(HANDLE hNamedPipe, LPVOID lpBuffer,
				 DWORD nBufferSize, LPDWORD lpBytesRead,
				 LPDWORD lpTotalBytesAvail,
				 LPDWORD lpBytesLeftThisMessage)
{
	uint32_t avail = 0, left = 0;
	uint32_t st;

	if (lpBuffer && nBufferSize)
		return apc__win_bool(APC_ERROR_NOT_SUPPORTED);
	st = apc_npipe_peek(hNamedPipe, &avail, &left);
	if (st != APC_ERROR_SUCCESS)
		return apc__win_bool(st);
	if (lpBytesRead)
		*lpBytesRead = 0;
	if (lpTotalBytesAvail)
		*lpTotalBytesAvail = avail;
	if (lpBytesLeftThisMessage)
		*lpBytesLeftThisMessage = left;
	return TRUE;
}

/*
 * SetNamedPipeHandleState: the read mode only.  lpMode NULL changes
 * nothing; PIPE_NOWAIT in *lpMode is ERROR_NOT_SUPPORTED (a handle's wait
 * mode is set when the instance is created); the collection count and
 * time-out are for remote pipes and must be NULL, as Windows requires of
 * local ones (else ERROR_INVALID_PARAMETER).
 */
static inline BOOL SetNamedPipeHandleState(HANDLE hNamedPipe, LPDWORD lpMode,
					   LPDWORD lpMaxCollectionCount,
					   LPDWORD lpCollectDataTimeout)
{
	if (lpMaxCollectionCount || lpCollectDataTimeout)
		return apc__win_bool(APC_ERROR_INVALID_PARAMETER);
	if (!lpMode)
		return TRUE;
	if (*lpMode & PIPE_NOWAIT)
		return apc__win_bool(APC_ERROR_NOT_SUPPORTED);
	return apc__win_bool(apc_npipe_set_mode(hNamedPipe, *lpMode));
}

#ifdef UNICODE
#define CreateNamedPipe CreateNamedPipeW
#define WaitNamedPipe WaitNamedPipeW
#else
#define CreateNamedPipe CreateNamedPipeA
#define WaitNamedPipe WaitNamedPipeA
#endif

/* ---- completion ports -------------------------------------------------- */

/*
 * CreateIoCompletionPort's four cases (F1-F5): INVALID_HANDLE_VALUE and
 * no port creates a port; INVALID_HANDLE_VALUE with a port is NULL /
 * ERROR_INVALID_PARAMETER (F3); a file and no port creates a port and
 * binds the file; a file and a port binds the file and returns the port.
 */
static inline HANDLE CreateIoCompletionPort(HANDLE FileHandle,
					    HANDLE ExistingCompletionPort,
					    ULONG_PTR CompletionKey,
					    DWORD NumberOfConcurrentThreads)
{
	HANDLE port = ExistingCompletionPort;
	uint32_t st;

	if (FileHandle == INVALID_HANDLE_VALUE) {
		if (port)
			return apc__win_created(APC_ERROR_INVALID_PARAMETER,
						NULL);
		st = apc_port_create(NumberOfConcurrentThreads, &port);
		return apc__win_created(st, port);
	}
	if (port) {
		st = apc_port_bind(port, FileHandle, CompletionKey);
		return apc__win_created(st, port);
	}
	st = apc_port_create(NumberOfConcurrentThreads, &port);
	if (st == APC_ERROR_SUCCESS) {
		st = apc_port_bind(port, FileHandle, CompletionKey);
		if (st != APC_ERROR_SUCCESS)
			(void)apc_close(port);
	}
	return apc__win_created(st, port);
}

/*
 * GetQueuedCompletionStatus (F11-F14): FALSE with *lpOverlapped set is a
 * packet for a failed operation (the last error is its error); FALSE with
 * it NULL is WAIT_TIMEOUT, ERROR_ABANDONED_WAIT_0 or a bad handle.
 */
static inline BOOL GetQueuedCompletionStatus(HANDLE CompletionPort,
					     LPDWORD lpNumberOfBytesTransferred,
					     PULONG_PTR lpCompletionKey,
					     LPOVERLAPPED *lpOverlapped,
					     DWORD dwMilliseconds)
{
	return apc__win_bool(
		apc_port_get(CompletionPort, lpNumberOfBytesTransferred,
			     lpCompletionKey, lpOverlapped, dwMilliseconds));
}

static inline BOOL
GetQueuedCompletionStatusEx(HANDLE CompletionPort,
			    LPOVERLAPPED_ENTRY lpCompletionPortEntries,
			    ULONG ulCount, PULONG ulNumEntriesRemoved,
			    DWORD dwMilliseconds, BOOL fAlertable)
{
	return apc__win_bool(apc_port_get_many(
		CompletionPort, lpCompletionPortEntries, ulCount,
		ulNumEntriesRemoved, dwMilliseconds, fAlertable != FALSE));
}

static inline BOOL PostQueuedCompletionStatus(HANDLE CompletionPort,
					      DWORD dwNumberOfBytesTransferred,
					      ULONG_PTR dwCompletionKey,
					      LPOVERLAPPED lpOverlapped)
{
	return apc__win_bool(apc_port_post(CompletionPort,
					   dwNumberOfBytesTransferred,
					   dwCompletionKey, lpOverlapped));
}

#endif /* !_WIN32 */
#endif /* APC_WINDOWS_H */

/*
 * apc-worker: a small Win32 program that hands work to a thread through
 * APCs.  It builds unchanged on Windows with <windows.h>; on POSIX the
 * only change is the include line below.
 *
 * The main thread starts a worker suspended, queues it a greeting that
 * must run before the worker's own code, resumes it, then sends it jobs
 * as APCs.  The worker sleeps alertably until a "stop" APC arrives and
 * reports how many jobs it ran as its exit code.
 */
#include <stdio.h>

#include <apc/windows.h> /* on Windows: #include <windows.h> */

#define JOBS 5

static volatile LONG stop_requested;
static DWORD jobs_done;
static DWORD greeted_before_start;
static DWORD started;

static VOID CALLBACK greet(ULONG_PTR data)
{
	(void)data;
	if (!started)
		greeted_before_start = 1;
	printf("worker %lu: hello, before my start routine\n",
	       (unsigned long)GetCurrentThreadId());
}

static VOID CALLBACK job(ULONG_PTR n)
{
	jobs_done++;
	printf("worker: job %lu done\n", (unsigned long)n);
}

static VOID CALLBACK stop(ULONG_PTR data)
{
	(void)data;
	stop_requested = 1;
}

static DWORD WINAPI worker(LPVOID arg)
{
	(void)arg;
	started = 1;
	while (!stop_requested) {
		/* Only an alertable wait runs queued APCs. */
		if (SleepEx(INFINITE, TRUE) != WAIT_IO_COMPLETION)
			return 1000;
	}
	return jobs_done;
}

int main(void)
{
	HANDLE thread;
	DWORD tid, code = 0;
	ULONG_PTR i;

	thread = CreateThread(NULL, 0, worker, NULL, CREATE_SUSPENDED, &tid);
	if (!thread) {
		printf("CreateThread failed: %lu\n",
		       (unsigned long)GetLastError());
		return 1;
	}
	if (!QueueUserAPC(greet, thread, 0)) {
		printf("QueueUserAPC failed: %lu\n",
		       (unsigned long)GetLastError());
		return 1;
	}
	if (ResumeThread(thread) != 1) {
		printf("ResumeThread did not report a suspended thread\n");
		return 1;
	}
	for (i = 1; i <= JOBS; i++)
		QueueUserAPC(job, thread, i);
	QueueUserAPC(stop, thread, 0);

	if (WaitForSingleObject(thread, 10000) != WAIT_OBJECT_0) {
		printf("the worker did not finish\n");
		return 1;
	}
	GetExitCodeThread(thread, &code);
	CloseHandle(thread);

	/* A thread that has ended takes no more APCs. */
	printf("main: worker %lu ran %lu jobs\n", (unsigned long)tid,
	       (unsigned long)code);
	if (code != JOBS || !greeted_before_start) {
		printf("unexpected result\n");
		return 1;
	}
	return 0;
}

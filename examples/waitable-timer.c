/*
 * waitable-timer: a waitable timer with a completion routine, the
 * scenario of Microsoft's "Using a Waitable Timer with an Asynchronous
 * Procedure Call".  It builds unchanged on Windows with <windows.h>; on
 * POSIX the only change is the include line below.
 *
 * The main thread sets a timer to fire first in 100 ms and then every
 * 100 ms, with a routine that prints the UTC time it receives.  The
 * routine runs only while the thread that set the timer waits
 * alertably, so the main thread sleeps in SleepEx(..., TRUE), which
 * returns WAIT_IO_COMPLETION after each call.  After CALLS calls it
 * cancels the timer and closes it.
 *
 * Run as a test, it exits non-zero on anything a Win32 program would not
 * see on Windows: a failed call, a SleepEx that does not end with the
 * routine, a wrong argument, a routine on another thread, or a call that
 * came before its due time (call k is due first_due + k * period), judged
 * from the time the routine receives.  Wine, which runs this program in
 * the tests of apcrt's Windows backend, passes the routine no FILETIME
 * for a relative or periodic timer (a known Wine deviation): there the
 * program says so and judges those calls by the clock read in the routine.
 */
#include <stdio.h>

#include <apc/windows.h> /* on Windows: #include <windows.h> */

#define CALLS 5
#define FIRST_MS 100
#define PERIOD_MS 100
#define UNITS_PER_MS 10000ull /* FILETIME counts 100 ns units */

/*
 * Windows documents that a timer may expire up to one clock tick early
 * (SetWaitableTimer), and GetSystemTimeAsFileTime advances once per tick
 * (15.625 ms by default): two ticks of slack there.  apcrt's timers are
 * never early.
 */
#if defined(_WIN32)
#define EARLY_SLACK (2 * 156250ull)
#else
#define EARLY_SLACK 0ull
#endif

struct timer_log {
	int calls;
	DWORD thread; /* the thread that set the timer */
	int wrong_thread;
	unsigned long long time[CALLS];	 /* the time each call received */
	unsigned long long clock[CALLS]; /* the clock when each call ran */
};

static struct timer_log *expected_arg;
static int wrong_arg;

static unsigned long long filetime_value(FILETIME ft)
{
	return ((unsigned long long)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
}

/*
 * Write a FILETIME as "YYYY-MM-DD hh:mm:ss.mmm" (UTC).  1601-01-01 starts
 * a 400-year cycle of the Gregorian calendar: 146097 days, made of three
 * centuries of 36524 days and a last one of 36525 (2000 is a leap year),
 * each made of 4-year blocks of 1461 days whose fourth year is the leap
 * one (a century's last block has 1460 days).
 */
static void format_utc(unsigned long long ft, char *buf, size_t size)
{
	static const unsigned int month_days[12] = {31, 28, 31, 30, 31, 30,
						    31, 31, 30, 31, 30, 31};
	unsigned long long seconds = ft / 10000000u;
	unsigned long long days = seconds / 86400u;
	unsigned int second_of_day = (unsigned int)(seconds % 86400u);
	unsigned int millis = (unsigned int)(ft % 10000000u / 10000u);
	unsigned long long year = 1601;
	unsigned int n, month, leap;

	year += 400 * (days / 146097);
	days %= 146097;
	n = (unsigned int)(days / 36524);
	if (n == 4) /* 31 December of the cycle's last year */
		n = 3;
	year += 100 * n;
	days -= 36524ull * n;
	n = (unsigned int)(days / 1461);
	year += 4 * n;
	days -= 1461ull * n;
	n = (unsigned int)(days / 365);
	if (n == 4) /* 31 December of a leap year */
		n = 3;
	year += n;
	days -= 365ull * n;

	leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	for (month = 0; month < 11; month++) {
		unsigned int length = month_days[month] + (month == 1 && leap);

		if (days < length)
			break;
		days -= length;
	}
	snprintf(buf, size, "%04u-%02u-%02u %02u:%02u:%02u.%03u",
		 (unsigned int)year, month + 1, (unsigned int)days + 1,
		 second_of_day / 3600, second_of_day / 60 % 60,
		 second_of_day % 60, millis);
}

/* True when running under Wine, which runs this program in apcrt's
 * tests of its Windows backend. */
#if defined(_WIN32)
static int under_wine(void)
{
	HMODULE ntdll = GetModuleHandleA("ntdll.dll");

	return ntdll && GetProcAddress(ntdll, "wine_get_version") != NULL;
}
#else
static int under_wine(void)
{
	return 0;
}
#endif

/* The completion routine (PTIMERAPCROUTINE). */
static VOID CALLBACK timer_routine(LPVOID arg, DWORD time_low, DWORD time_high)
{
	struct timer_log *log = arg;
	unsigned long long t = ((unsigned long long)time_high << 32) | time_low;
	FILETIME now;
	char text[40];

	GetSystemTimeAsFileTime(&now);
	if (log != expected_arg) {
		wrong_arg = 1;
		return;
	}
	if (GetCurrentThreadId() != log->thread)
		log->wrong_thread = 1;
	if (log->calls < CALLS) {
		log->time[log->calls] = t;
		log->clock[log->calls] = filetime_value(now);
	}
	log->calls++;
	if (t >= 0x8000000000000000ull) {
		/* Not a FILETIME (FileTimeToSystemTime refuses it). */
		printf("routine call %d: received %08lx%08lx, not a FILETIME\n",
		       log->calls, (unsigned long)time_high,
		       (unsigned long)time_low);
		return;
	}
	format_utc(t, text, sizeof(text));
	printf("routine call %d: the timer was signalled at %s UTC\n",
	       log->calls, text);
}

int main(void)
{
	struct timer_log log = {0};
	unsigned long long first_due, due_k, t, prev = 0;
	LARGE_INTEGER due;
	FILETIME now;
	HANDLE timer;
	DWORD r;
	int k, failed = 0;

	log.thread = GetCurrentThreadId();
	expected_arg = &log;

	timer = CreateWaitableTimer(NULL, FALSE, NULL);
	if (!timer) {
		printf("CreateWaitableTimer failed: %lu\n",
		       (unsigned long)GetLastError());
		return 1;
	}

	/* Negative: relative to now, in 100 ns units. */
	GetSystemTimeAsFileTime(&now);
	first_due = filetime_value(now) + FIRST_MS * UNITS_PER_MS;
	due.QuadPart = -(LONGLONG)(FIRST_MS * UNITS_PER_MS);
	if (!SetWaitableTimer(timer, &due, PERIOD_MS, timer_routine, &log,
			      FALSE)) {
		printf("SetWaitableTimer failed: %lu\n",
		       (unsigned long)GetLastError());
		CloseHandle(timer);
		return 1;
	}

	/* Each alertable sleep ends once the routine has run. */
	for (k = 1; k <= CALLS; k++) {
		r = SleepEx(10 * PERIOD_MS, TRUE);
		if (r != WAIT_IO_COMPLETION) {
			printf("SleepEx returned %lu, not WAIT_IO_COMPLETION\n",
			       (unsigned long)r);
			failed = 1;
			break;
		}
		if (log.calls != k) {
			printf("after %d alertable sleeps: %d routine calls\n",
			       k, log.calls);
			failed = 1;
			break;
		}
	}

	/* Cancelling also removes a call queued and not yet run. */
	if (!CancelWaitableTimer(timer)) {
		printf("CancelWaitableTimer failed: %lu\n",
		       (unsigned long)GetLastError());
		failed = 1;
	}
	r = SleepEx(2 * PERIOD_MS + 50, TRUE);
	if (r != 0) {
		printf("SleepEx after the cancel returned %lu\n",
		       (unsigned long)r);
		failed = 1;
	}
	if (!CloseHandle(timer)) {
		printf("CloseHandle failed: %lu\n",
		       (unsigned long)GetLastError());
		failed = 1;
	}

	if (wrong_arg) {
		printf("the routine received a wrong argument\n");
		failed = 1;
	}
	if (log.wrong_thread) {
		printf("the routine ran on another thread\n");
		failed = 1;
	}
	if (log.calls != CALLS) {
		printf("%d routine calls, expected %d\n", log.calls, CALLS);
		failed = 1;
	}

	/* Call k is due no earlier than first_due + k * period. */
	for (k = 0; k < log.calls && k < CALLS; k++) {
		t = log.time[k];
		due_k = first_due +
			(unsigned long long)k * PERIOD_MS * UNITS_PER_MS;
		if (t >= 0x8000000000000000ull && under_wine()) {
			/* Wine passes the timer's due time instead, as a
			 * negative monotonic time for relative timers: use
			 * the routine's own clock reading. */
			printf("call %d: Wine passed no FILETIME (a known Wine "
			       "deviation); using the routine's clock\n",
			       k + 1);
			t = log.clock[k];
		}
		if (t + EARLY_SLACK < due_k) {
			printf("call %d came %lu us before its due time\n",
			       k + 1, (unsigned long)((due_k - t) / 10));
			failed = 1;
		}
		if (t > log.clock[k]) {
			printf("call %d received a time after its own run\n",
			       k + 1);
			failed = 1;
		}
		if (k > 0 && t <= prev) {
			printf("call %d received a time not after call %d's\n",
			       k + 1, k);
			failed = 1;
		}
		prev = t;
	}

	if (failed)
		return 1;
	printf("main: %d routine calls, each at or after its due time\n",
	       CALLS);
	return 0;
}

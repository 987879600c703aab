/*
 * The runner behind shim/criterion/criterion.h.  See that header.
 *
 * Every test runs in a child process of its own, one at a time, in
 * suite/name order:
 * - POSIX: fork(); alarm() bounds the child by its suite's .timeout.
 * - Windows: the program starts itself again (CreateProcess) with
 *   --t-cr-run=SUITE/NAME, and the parent waits for that child for the
 *   suite's .timeout plus T_CR_START_MS (process start, slower under Wine),
 *   then terminates it.
 * A test passes when its child exits with status 0; a failed check exits
 * with 1 after printing what failed; cr_skip_test exits with
 * T_CR_SKIP_CODE after printing why; anything else (a signal, an
 * exception, a timeout, a non-zero exit after the body) is reported and
 * counted as a failure.
 */
#if defined(_WIN32)
/* C99 printf formats (%zu, %ju) in the test messages, also on msvcrt. */
#define __USE_MINGW_ANSI_STDIO 1
#endif

#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#include <wchar.h>
#include <windows.h>
#else
#include <fnmatch.h>
#include <time.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

/*
 * Windows: what a child gets on top of its suite's timeout for starting
 * (Wine takes about 0.5 s per process, a few seconds on a cold prefix).
 */
#define T_CR_START_MS 5000u

/* Windows: the exit code of a child ended by the runner. */
#define T_CR_TIMEOUT_CODE 0x7e57u

/* The exit code of a skipped test's child (77, as automake and meson). */
#define T_CR_SKIP_CODE 77

static struct t_cr_test *tests;
static struct t_cr_suite *suites;
static unsigned int expect_failures;

/* The T_WINE_DEVIATION block running now, if any (test thread only). */
static const char *deviation_reason;
static const char *deviation_file;
static int deviation_line;
static unsigned int deviation_hits;

void t_cr_register_test(struct t_cr_test *test)
{
	struct t_cr_test **p = &tests;

	/* Keep the list sorted by suite, then name, like Criterion. */
	while (*p && (strcmp((*p)->suite, test->suite) < 0 ||
		      (strcmp((*p)->suite, test->suite) == 0 &&
		       strcmp((*p)->name, test->name) < 0)))
		p = &(*p)->next;
	test->next = *p;
	*p = test;
}

void t_cr_register_suite(struct t_cr_suite *suite)
{
	suite->next = suites;
	suites = suite;
}

void t_cr_log(const char *level, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[----] %s: ", level);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Ends the test's child process now, with status 1 (a failed check). */
__attribute__((noreturn)) static void fail_now(void)
{
	fflush(stdout);
	fflush(stderr);
#if defined(_WIN32)
	/*
	 * Not exit(): other threads of the test may hold locks that
	 * ExitProcess's DLL detach would then wait for.
	 */
	TerminateProcess(GetCurrentProcess(), 1);
#endif
	_exit(1);
}

void t_cr_fail(bool fatal, const char *file, int line, const char *expr,
	       const char *fmt, ...)
{
	va_list ap;

	if (deviation_reason) {
		/* A known Wine deviation: reported, not counted. */
		deviation_hits++;
		fprintf(stderr,
			"[WINE] %s:%d: known Wine deviation (not counted): "
			"%s\n",
			deviation_file, deviation_line, deviation_reason);
		fprintf(stderr, "[WINE]   %s:%d: %s is false.\n", file, line,
			expr);
	} else {
		fprintf(stderr, "[----] %s:%d: %s failed\n", file, line,
			fatal ? "Assertion" : "Expectation");
		fprintf(stderr, "[----]   %s is false.\n", expr);
	}
	if (fmt && *fmt) {
		fputs(deviation_reason ? "[WINE]   " : "[----]   ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fflush(stderr);
	if (deviation_reason)
		return;
	if (!fatal) {
		expect_failures++;
		return;
	}
	fail_now();
}

void t_cr_skip(const char *fmt, ...)
{
	va_list ap;

	fputs("[----] skipped: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stdout);
	fflush(stderr);
	exit(T_CR_SKIP_CODE);
}

void t_cr_deviation_begin(const char *reason, const char *file, int line)
{
	deviation_reason = reason;
	deviation_file = file;
	deviation_line = line;
	deviation_hits = 0;
}

void t_cr_deviation_end(void)
{
	if (!deviation_hits)
		fprintf(stderr,
			"[WINE] %s:%d: known Wine deviation did not occur "
			"(fixed in this Wine?): %s\n",
			deviation_file, deviation_line, deviation_reason);
	deviation_reason = NULL;
}

enum result { PASSED, FAILED, SKIPPED };

static double suite_timeout(const char *name)
{
	const struct t_cr_suite *s;

	for (s = suites; s; s = s->next)
		if (strcmp(s->name, name) == 0)
			return s->opts.timeout;
	return 0;
}

/* Seconds, for the durations printed (msvcrt has no timespec_get). */
static double now_s(void)
{
#if defined(_WIN32)
	return (double)GetTickCount64() / 1e3;
#else
	struct timespec ts;

	timespec_get(&ts, TIME_UTC);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
#endif
}

#if defined(_WIN32)
/* fnmatch() without flags, enough for --filter: '*', '?' and literals. */
static bool glob_match(const char *p, const char *s)
{
	for (; *p; p++, s++) {
		if (*p == '*') {
			while (p[1] == '*')
				p++;
			if (!p[1])
				return true;
			for (; *s; s++)
				if (glob_match(p + 1, s))
					return true;
			return false;
		}
		if (!*s || (*p != '?' && *p != *s))
			return false;
	}
	return !*s;
}
#endif

static bool selected(const struct t_cr_test *t, const char *filter)
{
	char full[512];

	if (!filter)
		return true;
	snprintf(full, sizeof(full), "%s/%s", t->suite, t->name);
#if defined(_WIN32)
	return glob_match(filter, full);
#else
	return fnmatch(filter, full, 0) == 0;
#endif
}

/* The child's part: runs the body, exits 0 or 1. */
__attribute__((noreturn)) static void run_body(const struct t_cr_test *t)
{
	expect_failures = 0;
	t->fn();
	fflush(stdout);
	fflush(stderr);
	/* exit(), not _exit(): sanitizers report at exit. */
	exit(expect_failures ? 1 : 0);
}

#if defined(_WIN32)

static const struct t_cr_test *child_test;

/*
 * An exception nobody handled ends the child with its code, reported
 * here: no debugger is started (Wine would run winedbg), no dialog shown.
 */
static LONG WINAPI child_exception(EXCEPTION_POINTERS *ep)
{
	fprintf(stderr, "[----] %s::%s: unhandled exception %#lx at %p\n",
		child_test->suite, child_test->name,
		ep->ExceptionRecord->ExceptionCode,
		ep->ExceptionRecord->ExceptionAddress);
	fflush(stderr);
	TerminateProcess(GetCurrentProcess(),
			 ep->ExceptionRecord->ExceptionCode);
	return EXCEPTION_EXECUTE_HANDLER;
}

static int child_main(const char *id)
{
	const struct t_cr_test *t;
	char full[512];

	for (t = tests; t; t = t->next) {
		snprintf(full, sizeof(full), "%s/%s", t->suite, t->name);
		if (strcmp(full, id) == 0)
			break;
	}
	if (!t) {
		fprintf(stderr, "[----] no test named %s\n", id);
		return 2;
	}
	child_test = t;
	SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX |
		     SEM_NOOPENFILEERRORBOX);
	SetUnhandledExceptionFilter(child_exception);
	run_body(t);
	return 2;
}

/* Lets a child write to the same stdout/stderr as this process. */
static HANDLE inheritable_std(DWORD which)
{
	HANDLE h = GetStdHandle(which);

	if (h && h != INVALID_HANDLE_VALUE)
		SetHandleInformation(h, HANDLE_FLAG_INHERIT,
				     HANDLE_FLAG_INHERIT);
	return h;
}

/*
 * cmd[cap] = "EXE" --t-cr-run=SUITE/NAME (names are C identifiers, so no
 * quoting is needed).  Returns false if it does not fit.
 */
static bool child_command_line(wchar_t *cmd, size_t cap, const wchar_t *exe,
			       const struct t_cr_test *t)
{
	static const char opt[] = "--t-cr-run=";
	const char *parts[] = {opt, t->suite, "/", t->name};
	size_t n = 0;
	unsigned int i;
	const char *c;

	if (wcslen(exe) + strlen(t->suite) + strlen(t->name) + 16 > cap)
		return false;
	cmd[n++] = L'"';
	while (*exe)
		cmd[n++] = *exe++;
	cmd[n++] = L'"';
	cmd[n++] = L' ';
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		for (c = parts[i]; *c; c++)
			cmd[n++] = (wchar_t)(unsigned char)*c;
	cmd[n] = 0;
	return true;
}

/* Runs one test in a child process. */
static enum result run_one(const struct t_cr_test *t)
{
	double timeout = suite_timeout(t->suite);
	/* A module path, and a command line, hold at most 32767 characters. */
	static wchar_t exe[32768];
	static wchar_t cmd[32768];
	STARTUPINFOW si;
	PROCESS_INFORMATION pi;
	DWORD limit, r, code = 0;

	if (!GetModuleFileNameW(NULL, exe, sizeof(exe) / sizeof(exe[0]))) {
		fprintf(stderr, "[----] GetModuleFileName: error %lu\n",
			GetLastError());
		return FAILED;
	}
	if (!child_command_line(cmd, sizeof(cmd) / sizeof(cmd[0]), exe, t)) {
		fprintf(stderr, "[----] %s::%s: command line too long\n",
			t->suite, t->name);
		return FAILED;
	}

	memset(&si, 0, sizeof(si));
	si.cb = sizeof(si);
	si.dwFlags = STARTF_USESTDHANDLES;
	si.hStdInput = inheritable_std(STD_INPUT_HANDLE);
	si.hStdOutput = inheritable_std(STD_OUTPUT_HANDLE);
	si.hStdError = inheritable_std(STD_ERROR_HANDLE);

	fflush(stdout);
	fflush(stderr);
	/*
	 * Wine's CreateProcess now and then fails with ERROR_INTERNAL_ERROR
	 * (1359) when processes come and go fast; the test has not started
	 * then, so starting it again is fair.  Three tries, 100 ms apart.
	 */
	for (int attempt = 1;; attempt++) {
		if (CreateProcessW(exe, cmd, NULL, NULL, TRUE, 0, NULL, NULL,
				   &si, &pi))
			break;
		if (attempt == 3) {
			fprintf(stderr,
				"[----] %s::%s: CreateProcess: error %lu\n",
				t->suite, t->name, GetLastError());
			return FAILED;
		}
		Sleep(100);
	}
	CloseHandle(pi.hThread);

	limit = timeout > 0 ? (DWORD)(timeout * 1000.0) + T_CR_START_MS
			    : INFINITE;
	r = WaitForSingleObject(pi.hProcess, limit);
	if (r != WAIT_OBJECT_0) {
		TerminateProcess(pi.hProcess, T_CR_TIMEOUT_CODE);
		WaitForSingleObject(pi.hProcess, 10000);
		CloseHandle(pi.hProcess);
		if (r == WAIT_TIMEOUT)
			fprintf(stderr,
				"[----] %s::%s: timed out (%.0f s + %.0f s "
				"to start), terminated\n",
				t->suite, t->name, timeout,
				T_CR_START_MS / 1000.0);
		else
			fprintf(stderr,
				"[----] %s::%s: waiting for the child "
				"failed: %#lx, error %lu\n",
				t->suite, t->name, r, GetLastError());
		return FAILED;
	}
	if (!GetExitCodeProcess(pi.hProcess, &code))
		code = T_CR_TIMEOUT_CODE;
	CloseHandle(pi.hProcess);
	if (code == 0)
		return PASSED;
	if (code == T_CR_SKIP_CODE)
		return SKIPPED;
	if (code >= 0xC0000000u)
		fprintf(stderr, "[----] %s::%s: crashed (exception %#lx)\n",
			t->suite, t->name, code);
	else if (code != 1)
		fprintf(stderr, "[----] %s::%s: exited with status %#lx\n",
			t->suite, t->name, code);
	return FAILED;
}

#else /* !_WIN32 */

/* Runs one test in a child process. */
static enum result run_one(const struct t_cr_test *t)
{
	double timeout = suite_timeout(t->suite);
	int status = 0;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return FAILED;
	}
	if (pid == 0) {
		if (timeout > 0)
			alarm((unsigned int)timeout + 1u);
		run_body(t);
	}
	while (waitpid(pid, &status, 0) < 0)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return PASSED;
	if (WIFEXITED(status) && WEXITSTATUS(status) == T_CR_SKIP_CODE)
		return SKIPPED;
	if (WIFSIGNALED(status)) {
		if (WTERMSIG(status) == SIGALRM)
			fprintf(stderr, "[----] %s::%s: timed out (%.0f s)\n",
				t->suite, t->name, timeout);
		else
			fprintf(stderr, "[----] %s::%s: killed by signal %d\n",
				t->suite, t->name, WTERMSIG(status));
	} else if (WIFEXITED(status) && WEXITSTATUS(status) != 1) {
		fprintf(stderr, "[----] %s::%s: exited with status %d\n",
			t->suite, t->name, WEXITSTATUS(status));
	}
	return FAILED;
}

#endif /* !_WIN32 */

int main(int argc, char **argv)
{
	const char *filter = NULL;
	unsigned int passed = 0, failed = 0;
	const struct t_cr_test *t;
	bool list = false;
	double t0;
	int i;

#if defined(_WIN32)
	/* The parent's lines and the children's, in the order written. */
	setvbuf(stderr, NULL, _IONBF, 0);
#endif
	for (i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--filter=", 9) == 0)
			filter = argv[i] + 9;
		else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc)
			filter = argv[++i];
		else if (strcmp(argv[i], "--list") == 0 ||
			 strcmp(argv[i], "-l") == 0)
			list = true;
#if defined(_WIN32)
		else if (strncmp(argv[i], "--t-cr-run=", 11) == 0)
			return child_main(argv[i] + 11);
#endif
	}

	for (t = tests; t; t = t->next) {
		if (!selected(t, filter))
			continue;
		if (list) {
			printf("%s::%s\n", t->suite, t->name);
			continue;
		}
		t0 = now_s();
		switch (run_one(t)) {
		case PASSED:
			passed++;
			fprintf(stderr, "[PASS] %s::%s: (%.2fs)\n", t->suite,
				t->name, now_s() - t0);
			break;
		case SKIPPED:
			fprintf(stderr, "[SKIP] %s::%s\n", t->suite, t->name);
			break;
		default:
			failed++;
			fprintf(stderr, "[FAIL] %s::%s: (%.2fs)\n", t->suite,
				t->name, now_s() - t0);
		}
	}
	if (!list)
		fprintf(stderr,
			"[====] Synthesis: Tested: %u | Passing: %u | "
			"Failing: %u (criterion shim)\n",
			passed + failed, passed, failed);
	return failed ? 1 : 0;
}

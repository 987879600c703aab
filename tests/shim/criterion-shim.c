/*
 * The runner behind shim/criterion/criterion.h.  See that header.
 */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if !defined(_WIN32)
#include <fnmatch.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#define T_CR_FORK 1
#else
#include <setjmp.h>
#define T_CR_FORK 0
#endif

static struct t_cr_test *tests;
static struct t_cr_suite *suites;
static unsigned int expect_failures;

#if !T_CR_FORK
static jmp_buf abort_jmp;
#endif

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

void t_cr_fail(bool fatal, const char *file, int line, const char *expr,
	       const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[----] %s:%d: %s failed\n", file, line,
		fatal ? "Assertion" : "Expectation");
	fprintf(stderr, "[----]   %s is false.\n", expr);
	if (fmt && *fmt) {
		fputs("[----]   ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fflush(stderr);
	if (!fatal) {
		expect_failures++;
		return;
	}
#if T_CR_FORK
	_exit(1);
#else
	longjmp(abort_jmp, 1);
#endif
}

static double suite_timeout(const char *name)
{
	const struct t_cr_suite *s;

	for (s = suites; s; s = s->next)
		if (strcmp(s->name, name) == 0)
			return s->opts.timeout;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	timespec_get(&ts, TIME_UTC);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool selected(const struct t_cr_test *t, const char *filter)
{
	char full[512];

	if (!filter)
		return true;
	snprintf(full, sizeof(full), "%s/%s", t->suite, t->name);
#if T_CR_FORK
	return fnmatch(filter, full, 0) == 0;
#else
	return strstr(full, filter) != NULL;
#endif
}

/* Runs one test; returns true if it passed. */
static bool run_one(const struct t_cr_test *t)
{
	double timeout = suite_timeout(t->suite);
#if T_CR_FORK
	int status = 0;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return false;
	}
	if (pid == 0) {
		if (timeout > 0)
			alarm((unsigned int)timeout + 1u);
		expect_failures = 0;
		t->fn();
		/* exit(), not _exit(): sanitizers report at exit. */
		exit(expect_failures ? 1 : 0);
	}
	while (waitpid(pid, &status, 0) < 0)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
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
	return false;
#else
	(void)timeout;
	expect_failures = 0;
	if (setjmp(abort_jmp))
		return false;
	t->fn();
	return expect_failures == 0;
#endif
}

int main(int argc, char **argv)
{
	const char *filter = NULL;
	unsigned int passed = 0, failed = 0;
	const struct t_cr_test *t;
	bool list = false;
	double t0;
	int i;

	for (i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--filter=", 9) == 0)
			filter = argv[i] + 9;
		else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc)
			filter = argv[++i];
		else if (strcmp(argv[i], "--list") == 0 ||
			 strcmp(argv[i], "-l") == 0)
			list = true;
	}

	for (t = tests; t; t = t->next) {
		if (!selected(t, filter))
			continue;
		if (list) {
			printf("%s::%s\n", t->suite, t->name);
			continue;
		}
		t0 = now_s();
		if (run_one(t)) {
			passed++;
			fprintf(stderr, "[PASS] %s::%s: (%.2fs)\n", t->suite,
				t->name, now_s() - t0);
		} else {
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

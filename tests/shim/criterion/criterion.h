/*
 * A stand-in for <criterion/criterion.h>: the subset the apcrt tests use.
 *
 * Built instead of Criterion where Criterion cannot run: under
 * ThreadSanitizer (BoxFort's arena cannot be mapped next to TSan's
 * reserved ranges, Snaipe/Criterion#274), under the other sanitizers (see
 * tests/meson.build) and for the win32 backend (Criterion is not packaged
 * for mingw-w64).  tests/meson.build picks it.
 *
 * Offered: Test(suite, name), TestSuite(suite, .timeout = seconds),
 * cr_assert, cr_assert_not, cr_assert_eq/neq/lt/leq/gt/geq,
 * cr_assert_null/not_null, cr_assert_fail, the cr_expect_* forms of each,
 * cr_log_info/warn/error, cr_skip_test.  Every test runs in its own child
 * process, in order, one at a time: on POSIX a fork() bounded by alarm(),
 * on Windows the program itself started again with CreateProcess and
 * --t-cr-run=SUITE/NAME, bounded by WaitForSingleObject and
 * TerminateProcess.  A test that runs out of time fails.  The program
 * prints Criterion's "[====] Synthesis" line and exits non-zero if any
 * test failed; skipped tests are listed with their reason and, as in
 * Criterion, not counted.  A child that exits non-zero after its body
 * passed (a sanitizer report at exit) fails its test, which is what
 * Criterion does not do.  Arguments: --filter=GLOB on "suite/name",
 * --list.
 *
 * Beyond Criterion, for T_WINE_DEVIATION (tests/helpers.h): between
 * t_cr_deviation_begin and _end, a failed check is printed as a known
 * Wine deviation and neither counted nor fatal.
 */
#ifndef APC_TESTS_CRITERION_SHIM_H
#define APC_TESTS_CRITERION_SHIM_H

#include <stdbool.h>
#include <stddef.h>

struct t_cr_suite_opts {
	double timeout;
	int unused_;
};

struct t_cr_test {
	const char *suite;
	const char *name;
	void (*fn)(void);
	struct t_cr_test *next;
};

struct t_cr_suite {
	const char *name;
	struct t_cr_suite_opts opts;
	struct t_cr_suite *next;
};

void t_cr_register_test(struct t_cr_test *test);
void t_cr_register_suite(struct t_cr_suite *suite);
void t_cr_fail(bool fatal, const char *file, int line, const char *expr,
	       const char *fmt, ...);
void t_cr_log(const char *level, const char *fmt, ...);
__attribute__((noreturn)) void t_cr_skip(const char *fmt, ...);
void t_cr_deviation_begin(const char *reason, const char *file, int line);
void t_cr_deviation_end(void);

/* Test(suite, name): the trailing 0 keeps the variadic part non-empty. */
#define Test(...) T_CR_TEST_(__VA_ARGS__, 0)
#define T_CR_TEST_(suite, name, ...)                                           \
	static void t_cr_fn_##suite##_##name(void);                            \
	static struct t_cr_test t_cr_test_##suite##_##name = {                 \
		#suite, #name, t_cr_fn_##suite##_##name, NULL};                \
	__attribute__((constructor)) static void t_cr_reg_##suite##_##name(    \
		void)                                                          \
	{                                                                      \
		t_cr_register_test(&t_cr_test_##suite##_##name);               \
	}                                                                      \
	static void t_cr_fn_##suite##_##name(void)

/* TestSuite(suite, .timeout = N): the trailing 0 fills unused_. */
#define TestSuite(...) T_CR_SUITE_(__VA_ARGS__, 0)
#define T_CR_SUITE_(suite, ...)                                                \
	static struct t_cr_suite t_cr_suite_##suite = {                        \
		#suite, {__VA_ARGS__}, NULL};                                  \
	__attribute__((constructor)) static void t_cr_sreg_##suite(void)       \
	{                                                                      \
		t_cr_register_suite(&t_cr_suite_##suite);                      \
	}                                                                      \
	struct t_cr_swallow_semicolon_##suite

/* Argument pickers; callers append a filler so `...` is never empty. */
#define T_CR_A1(a, ...) a
#define T_CR_A2(a, b, ...) b
#define T_CR_R1(a, ...) __VA_ARGS__
#define T_CR_R2(a, b, ...) __VA_ARGS__

#define T_CR_CHECK(fatal, cond, expr, ...)                                     \
	do {                                                                   \
		if (!(cond))                                                   \
			t_cr_fail(fatal, __FILE__, __LINE__, expr,             \
				  __VA_ARGS__);                                \
	} while (0)

/* text: the macro's arguments as written, stringized before expansion. */
#define T_CR_UN(fatal, pre, post, text, ...)                                   \
	T_CR_CHECK(fatal, pre(T_CR_A1(__VA_ARGS__, 0)) post, text,             \
		   T_CR_R1(__VA_ARGS__, ""))

#define T_CR_BIN(fatal, op, text, ...)                                         \
	T_CR_CHECK(fatal,                                                      \
		   (T_CR_A1(__VA_ARGS__, 0))op(T_CR_A2(__VA_ARGS__, 0, 0)),    \
		   text, T_CR_R2(__VA_ARGS__, ""))

#define cr_assert(...) T_CR_UN(true, , , #__VA_ARGS__, __VA_ARGS__)
#define cr_assert_not(...)                                                     \
	T_CR_UN(true, !, , "!(" #__VA_ARGS__ ")", __VA_ARGS__)
#define cr_assert_null(...)                                                    \
	T_CR_UN(true, , == NULL, "null(" #__VA_ARGS__ ")", __VA_ARGS__)
#define cr_assert_not_null(...)                                                \
	T_CR_UN(true, , != NULL, "not_null(" #__VA_ARGS__ ")", __VA_ARGS__)
#define cr_assert_eq(...)                                                      \
	T_CR_BIN(true, ==, "eq(" #__VA_ARGS__ ")", __VA_ARGS__)
#define cr_assert_neq(...)                                                     \
	T_CR_BIN(true, !=, "neq(" #__VA_ARGS__ ")", __VA_ARGS__)
#define cr_assert_lt(...) T_CR_BIN(true, <, "lt(" #__VA_ARGS__ ")", __VA_ARGS__)
#define cr_assert_leq(...)                                                     \
	T_CR_BIN(true, <=, "leq(" #__VA_ARGS__ ")", __VA_ARGS__)
#define cr_assert_gt(...) T_CR_BIN(true, >, "gt(" #__VA_ARGS__ ")", __VA_ARGS__)
#define cr_assert_geq(...)                                                     \
	T_CR_BIN(true, >=, "geq(" #__VA_ARGS__ ")", __VA_ARGS__)
/* The message, if any, must start with a string literal. */
#define cr_assert_fail(...)                                                    \
	t_cr_fail(true, __FILE__, __LINE__, "cr_assert_fail", "" __VA_ARGS__)

#define cr_expect(...) T_CR_UN(false, , , #__VA_ARGS__, __VA_ARGS__)
#define cr_expect_not(...)                                                     \
	T_CR_UN(false, !, , "!(" #__VA_ARGS__ ")", __VA_ARGS__)
#define cr_expect_null(...)                                                    \
	T_CR_UN(false, , == NULL, "null(" #__VA_ARGS__ ")", __VA_ARGS__)
#define cr_expect_not_null(...)                                                \
	T_CR_UN(false, , != NULL, "not_null(" #__VA_ARGS__ ")", __VA_ARGS__)
#define cr_expect_eq(...)                                                      \
	T_CR_BIN(false, ==, "eq(" #__VA_ARGS__ ")", __VA_ARGS__)
#define cr_expect_neq(...)                                                     \
	T_CR_BIN(false, !=, "neq(" #__VA_ARGS__ ")", __VA_ARGS__)
#define cr_expect_lt(...)                                                      \
	T_CR_BIN(false, <, "lt(" #__VA_ARGS__ ")", __VA_ARGS__)
#define cr_expect_leq(...)                                                     \
	T_CR_BIN(false, <=, "leq(" #__VA_ARGS__ ")", __VA_ARGS__)
#define cr_expect_gt(...)                                                      \
	T_CR_BIN(false, >, "gt(" #__VA_ARGS__ ")", __VA_ARGS__)
#define cr_expect_geq(...)                                                     \
	T_CR_BIN(false, >=, "geq(" #__VA_ARGS__ ")", __VA_ARGS__)

/* Ends the test as skipped; the message must start with a literal. */
#define cr_skip_test(...) t_cr_skip("" __VA_ARGS__)

#define cr_log_info(...) t_cr_log("info", __VA_ARGS__)
#define cr_log_warn(...) t_cr_log("warn", __VA_ARGS__)
#define cr_log_error(...) t_cr_log("error", __VA_ARGS__)

#endif /* APC_TESTS_CRITERION_SHIM_H */

/*
 * Choosing the I/O engine (issue 6): io_uring where it can be set up, the
 * fallback otherwise, APC_ENGINE=uring|fallback to force one, and a clear
 * error (never a crash) when the forced engine cannot run here.
 *
 * A machine without io_uring is simulated the way container runtimes
 * refuse it: a seccomp filter makes io_uring_setup fail with ENOSYS (an
 * old kernel) or EPERM (kernel.io_uring_disabled).  Each test runs in its
 * own process, so the filter and the environment stay in that test.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <apc/apc.h>

#include "helpers.h"

TestSuite(engine, .timeout = 60);

/* Make io_uring_setup fail with errno err from now on. */
static void refuse_io_uring(int err)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K,
			 SECCOMP_RET_ERRNO |
				 ((unsigned)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fprog = {sizeof(prog) / sizeof(prog[0]), prog};

	cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	cr_assert_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog), 0,
		     "seccomp: %s", strerror(errno));
}

/* A round trip through a pipe with a completion routine. */
static atomic_uint calls;
static uint32_t got_error, got_bytes;

static void routine(uint32_t error, uint32_t bytes, apc_overlapped *ov)
{
	(void)ov;
	got_error = error;
	got_bytes = bytes;
	atomic_fetch_add(&calls, 1);
}

static void pipe_round_trip(void)
{
	apc_handle r, w;
	apc_overlapped ov = {0};
	char buf[8];
	uint32_t n = 0;

	cr_assert_eq(apc_pipe_create(&r, &w, 0), 0);
	cr_assert_eq(apc_read_ex(r, buf, sizeof(buf), &ov, routine), 0);
	cr_assert_eq(apc_write(w, "hello", 5, &n, NULL), 0);
	cr_assert_eq(n, 5);
	cr_assert_eq(apc_sleep(10000 * t_slack(), true),
		     APC_WAIT_IO_COMPLETION);
	cr_assert_eq(atomic_load(&calls), 1);
	cr_assert_eq(got_error, 0);
	cr_assert_eq(got_bytes, 5);
	cr_assert_eq(memcmp(buf, "hello", 5), 0);
	cr_assert_eq(apc_close(r), 0);
	cr_assert_eq(apc_close(w), 0);
}

/* Can this process set up an io_uring at all? */
static bool kernel_has_io_uring(void)
{
	unsigned char params[120] = {0}; /* struct io_uring_params */
	long fd = syscall(SYS_io_uring_setup, 1, params);

	if (fd < 0)
		return false;
	close((int)fd);
	return true;
}

Test(engine, default_is_uring_where_it_runs)
{
	if (!kernel_has_io_uring())
		cr_skip_test("this kernel or sandbox refuses io_uring");
	unsetenv("APC_ENGINE");
	cr_assert_not_null(apc_io_engine());
	cr_assert(apc_io_engine() && !strcmp(apc_io_engine(), "uring"));
	pipe_round_trip();
}

Test(engine, forced_fallback)
{
	setenv("APC_ENGINE", "fallback", 1);
	cr_assert(apc_io_engine() && !strcmp(apc_io_engine(), "fallback"));
	pipe_round_trip();
}

Test(engine, no_io_uring_falls_back_enosys)
{
	refuse_io_uring(ENOSYS);
	unsetenv("APC_ENGINE");
	cr_assert(apc_io_engine() && !strcmp(apc_io_engine(), "fallback"));
	pipe_round_trip();
}

Test(engine, no_io_uring_falls_back_eperm)
{
	refuse_io_uring(EPERM);
	unsetenv("APC_ENGINE");
	cr_assert(apc_io_engine() && !strcmp(apc_io_engine(), "fallback"));
	pipe_round_trip();
}

/* APC_ENGINE=uring where io_uring is refused: a clear error, no crash;
 * everything that is not I/O keeps working. */
Test(engine, forced_uring_without_io_uring_is_a_clear_error)
{
	apc_handle r = T_POISON_HANDLE, w = T_POISON_HANDLE, f;
	apc_overlapped ov = {0};
	char buf[4];

	refuse_io_uring(EPERM);
	setenv("APC_ENGINE", "uring", 1);
	cr_assert_null(apc_io_engine());
	cr_assert_eq(apc_pipe_create(&r, &w, 0), APC_ERROR_NOT_SUPPORTED);
	cr_assert_null(r);
	cr_assert_null(w);
	cr_assert_eq(apc_file_open("/dev/null", APC_GENERIC_READ,
				   APC_OPEN_EXISTING, 0, &f),
		     APC_ERROR_NOT_SUPPORTED);
	cr_assert_eq(apc_read_ex(NULL, buf, 4, &ov, routine),
		     APC_ERROR_NOT_SUPPORTED);
	cr_assert_eq(apc_sleep(0, true), 0);
	cr_assert_eq(apc_close(t_event_new(true, false)), 0);
}

Test(engine, unknown_engine_name_is_a_clear_error)
{
	apc_handle r, w;

	setenv("APC_ENGINE", "epoll", 1);
	cr_assert_null(apc_io_engine());
	cr_assert_eq(apc_pipe_create(&r, &w, 0), APC_ERROR_NOT_SUPPORTED);
}

/*
 * apcrt tests: wait until another thread is asleep in a wait.
 *
 * Some rules are about the threads waiting "at that instant" (PulseEvent,
 * C24-C27), about the order in which threads started waiting (C16), or
 * about closing a handle under a waiter (C15, C42).  No Win32 or apcrt
 * call tells whether a thread is blocked, and a sleep does not make it
 * so, so:
 *
 * - On Linux the kernel shows it: /proc/self/task/TID/stat reads 'S' and
 *   /proc/self/task/TID/syscall names the sleeping system call.  An apcrt
 *   wait parks in FUTEX_WAIT_BITSET on the thread's doorbell after it has
 *   queued itself on its objects (src/posix/wait.c, phase 3), so a thread
 *   seen there -- after it announced that it is about to wait -- is
 *   registered as a waiter.  Plain FUTEX_WAIT (glibc's mutexes, the
 *   TSan runtime, valgrind's --fair-sched lock) does not count.
 *   io_uring_enter is accepted as well, for the engine's io_uring sleep.
 * - Elsewhere (the Windows backend) t_wait_blocked() gives the thread
 *   50 ms (times the slack) to get there and returns false: "probably".
 *   Tests then use a check that holds either way, or retry.
 *
 * Only for tests: the state is read, never relied on for memory ordering
 * (every value shared with the thread is an atomic).
 */
#ifndef APC_TESTS_BLOCKED_H
#define APC_TESTS_BLOCKED_H

#include <stdbool.h>
#include <stdint.h>

#include <criterion/criterion.h>

#include <apc/apc.h>

#include "helpers.h"

#if defined(__linux__)
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

/* FUTEX_WAIT_BITSET without the private and clock flags (linux/futex.h). */
#define T_FUTEX_CMD_MASK 0x7f
#define T_FUTEX_WAIT_BITSET 9

/*
 * 1: tid sleeps in an apcrt park; 0: it does not (now); -1: this system
 * does not show it.
 */
static inline int t_blocked_now(uint32_t tid)
{
	char path[64], buf[512], *p;
	long nr = -1;
	unsigned long addr = 0, op = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%u/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "tid (comm) S ...": comm may hold spaces and parentheses. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] != 'S')
		return 0;

	snprintf(path, sizeof(path), "/proc/self/task/%u/syscall", tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	/* "nr arg1 arg2 ...": for futex, arg1 is the word, arg2 the op. */
	if (fscanf(f, "%ld %lx %lx", &nr, &addr, &op) < 3)
		nr = -1;
	fclose(f);
#if defined(SYS_io_uring_enter)
	if (nr == SYS_io_uring_enter)
		return 1;
#endif
	return nr == SYS_futex &&
	       (op & T_FUTEX_CMD_MASK) == T_FUTEX_WAIT_BITSET;
}
#endif /* __linux__ */

/*
 * Wait (bounded by T_WAIT_MS, scaled) until thread tid sleeps in a wait.
 * Call it once the thread has announced that it is about to wait.
 * Returns true when that was seen, false when it cannot be seen here (the
 * thread was given 50 ms).  Asserts when the system shows thread states
 * and the thread never got there.
 */
static inline bool t_wait_blocked(uint32_t tid)
{
#if defined(__linux__)
	uint64_t end = t_now_ms() + (uint64_t)T_WAIT_MS * t_slack();
	int s;

	for (;;) {
		s = t_blocked_now(tid);
		if (s == 1)
			return true;
		if (s < 0)
			break;
		cr_assert(t_now_ms() <= end, "thread %u never blocked", tid);
		(void)apc_sleep(0, false);
	}
#endif
	(void)tid;
	(void)apc_sleep(50 * t_slack(), false);
	return false;
}

#endif /* APC_TESTS_BLOCKED_H */

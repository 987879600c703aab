/*
 * The doorbell: how a thread sleeps and how others wake it.
 *
 * Each thread has one 32-bit word, thread->doorbell.  The owner publishes
 * that it is about to sleep by exchanging RUNNING for WAIT (non-alertable)
 * or WAIT_ALERTABLE; it then looks one last time at what it waits for (the
 * APC queue, its objects) and only then blocks in FUTEX_WAIT on the word.
 * A producer first publishes its work (pushes the APC, signals the
 * object), then reads the word; if the owner sleeps in a wait that the work
 * concerns, it moves the word to RUNG with a compare-and-swap and, if it
 * won that race, calls FUTEX_WAKE.
 *
 * Why it is correct: the owner's exchange and last look, and the
 * producer's publication and read, are all sequentially consistent, so at
 * least one side sees the other (the Dekker pattern).  Either the owner's
 * last look finds the work and it does not sleep, or the producer finds
 * the owner armed and rings.  FUTEX_WAIT only blocks while the word still
 * holds the armed value, so a ring that lands between the last look and
 * the system call is not lost.
 *
 * What it costs: queuing to a running thread reads one word and makes no
 * system call; queuing to oneself and then waiting alertably makes none
 * either (the last look finds the APC before arming matters); a sleeping
 * thread is woken by exactly one FUTEX_WAKE per sleep, however many
 * producers race, because only one compare-and-swap from WAIT* to RUNG
 * can succeed.  A wake-up is a hint, as with liburing's eventfd: the owner
 * always re-checks its conditions after parking.
 *
 * A later engine (io_uring) adds a sleep mode in which the owner blocks in
 * io_uring_enter instead of FUTEX_WAIT; ring() is where the wake for that
 * mode goes.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static _Atomic uint64_t futex_wakes;
static _Atomic uint64_t futex_waits;

uint64_t apc__stat_futex_wakes(void)
{
	return atomic_load_explicit(&futex_wakes, memory_order_relaxed);
}

uint64_t apc__stat_futex_waits(void)
{
	return atomic_load_explicit(&futex_waits, memory_order_relaxed);
}

void apc__doorbell_arm(struct apc__thread *t, bool alertable)
{
	atomic_exchange_explicit(
		&t->doorbell, alertable ? APC__DB_WAIT_ALERTABLE : APC__DB_WAIT,
		memory_order_seq_cst);
}

void apc__doorbell_park(struct apc__thread *t, const struct timespec *deadline)
{
	unsigned armed =
		atomic_load_explicit(&t->doorbell, memory_order_relaxed);

	if (armed == APC__DB_RUNG)
		return;
	if (t->ring) {
		/* With ring operations in flight an alertable wait sleeps
		 * in the ring, to be woken by their completions too. */
		if (armed == APC__DB_WAIT_ALERTABLE &&
		    apc__uring_park(t, deadline))
			return;
		apc__uring_flush(t);
	}
	atomic_fetch_add_explicit(&futex_waits, 1, memory_order_relaxed);
	/*
	 * FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so a
	 * wake-up or an EINTR costs no recomputation and the wait can never
	 * end early (contract B24).  EINTR, EAGAIN and ETIMEDOUT all return
	 * to the caller, which re-checks (B27).
	 */
	syscall(SYS_futex, &t->doorbell, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,
		armed, deadline, NULL, FUTEX_BITSET_MATCH_ANY);
}

void apc__doorbell_disarm(struct apc__thread *t)
{
	atomic_store_explicit(&t->doorbell, APC__DB_RUNNING,
			      memory_order_relaxed);
}

void apc__doorbell_ring(struct apc__thread *t, bool for_apc)
{
	unsigned s = atomic_load_explicit(&t->doorbell, memory_order_seq_cst);

	for (;;) {
		if (s == APC__DB_WAIT_ALERTABLE ||
		    (s == APC__DB_WAIT && !for_apc)) {
			if (atomic_compare_exchange_weak_explicit(
				    &t->doorbell, &s, APC__DB_RUNG,
				    memory_order_seq_cst, memory_order_seq_cst))
				break;
			continue;
		}
		return; /* running, already rung, or not a wait for this */
	}
	if (apc__uring_wake(t))
		return;
	atomic_fetch_add_explicit(&futex_wakes, 1, memory_order_relaxed);
	syscall(SYS_futex, &t->doorbell, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1,
		NULL, NULL, 0);
}

/* ---- the engine's lock (see apc__lock in internal.h) ------------------- */

void apc__lock_slow(apc__lock *l)
{
	unsigned c;

	/* Holders keep it for a few dozen instructions: spin a little. */
	for (int i = 0; i < 100; i++) {
		c = 0;
		if (atomic_compare_exchange_weak_explicit(&l->v, &c, 1,
							  memory_order_acquire,
							  memory_order_relaxed))
			return;
		apc__cpu_relax();
	}
	/* Mark it contended; sleep until a release finds the mark. */
	c = atomic_exchange_explicit(&l->v, 2, memory_order_acquire);
	while (c != 0) {
		syscall(SYS_futex, &l->v, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 2,
			NULL, NULL, 0);
		c = atomic_exchange_explicit(&l->v, 2, memory_order_acquire);
	}
}

void apc__lock_wake(apc__lock *l)
{
	syscall(SYS_futex, &l->v, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, NULL,
		NULL, 0);
}

/*
 * Baseline of the file-read scenario (issue 6), no apcrt: raw liburing at
 * queue depth 1 and 32.
 *
 * One thread, one ring of FR_QD_MAX entries, the page-cached file of
 * fileread.h opened O_RDONLY (buffered).  qd reads are prepared
 * (io_uring_prep_read, user_data = the slot), then the loop is the one a
 * careful liburing user writes: io_uring_submit_and_wait(ring, 1) submits
 * everything prepared and waits for a completion in the same system
 * call; io_uring_peek_batch_cqe takes every CQE there is; each is checked
 * and its slot re-armed at once with the next read (a new SQE, submitted
 * by the next submit_and_wait); io_uring_cq_advance releases the batch.
 * So qd reads are in flight at all times, and at queue depth 1 it is one
 * system call per read, as pread.  A read of a cached page completes
 * inline, in the submitting call.
 *
 * impl liburing: io_uring_queue_init with no flags, plain reads into
 *	ordinary buffers: what apcrt's io_uring engine can do with a
 *	caller's buffers and a handle (the targets compare apcrt to it).
 * impl liburing-tuned: the same loop on a ring set up with
 *	IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, the file
 *	registered (IOSQE_FIXED_FILE) and the buffers registered
 *	(io_uring_prep_read_fixed): the best a single-threaded liburing
 *	program does; shown for reference, without a target.  NA where the
 *	kernel refuses those flags (before 6.1).
 *
 * Prints fileread-qdQ (kops/s) and fileread-qdQ-p50 (ns: a sampled read
 * from its SQE's preparation to its CQE seen) for Q = 1 and 32.
 */
#include <liburing.h>

#include "fileread.h"

struct slot {
	uint64_t off, stamp;
	unsigned char *buf;
};

static void uring_check(int r, const char *impl, const char *what)
{
	if (r < 0)
		bench_fail("%s: %s: %s", impl, what, strerror(-r));
}

/* Prepare the next read in slot s. */
static void arm(struct io_uring *ring, struct fr_run *r, struct slot *sl,
		unsigned int s, int fd, int tuned)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	/* qd <= the ring's entries, so there is always one */
	if (sqe == NULL)
		bench_fail("%s: submission queue full", r->impl);
	sl[s].off = fr_issue(r, &sl[s].stamp);
	if (tuned) {
		io_uring_prep_read_fixed(sqe, 0, sl[s].buf, FR_BLOCK, sl[s].off,
					 (int)s);
		sqe->flags |= IOSQE_FIXED_FILE;
	} else {
		io_uring_prep_read(sqe, fd, sl[s].buf, FR_BLOCK, sl[s].off);
	}
	io_uring_sqe_set_data64(sqe, s);
}

static void run(const struct bench_args *a, unsigned int qd, int tuned)
{
	const char *impl = tuned ? "liburing-tuned" : "liburing";
	struct io_uring_params p;
	struct io_uring_cqe *cqes[FR_QD_MAX];
	struct iovec iov[FR_QD_MAX];
	struct slot sl[FR_QD_MAX];
	struct io_uring ring;
	unsigned char *bufs = fr_buffers(qd);
	struct fr_run r;
	unsigned int s;
	int fd = fr_open_fd(), ret;

	memset(&p, 0, sizeof(p));
	if (tuned)
		p.flags =
			IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	ret = io_uring_queue_init_params(FR_QD_MAX, &ring, &p);
	if (ret == -EINVAL && tuned) {
		char scen[32];

		snprintf(scen, sizeof(scen), "fileread-qd%u", qd);
		bench_na(scen, impl, "kernel refuses DEFER_TASKRUN");
		snprintf(scen, sizeof(scen), "fileread-qd%u-p50", qd);
		bench_na(scen, impl, "kernel refuses DEFER_TASKRUN");
		close(fd);
		fr_buffers_free(bufs);
		return;
	}
	uring_check(ret, impl, "io_uring_queue_init_params");
	for (s = 0; s < qd; s++) {
		sl[s].buf = bufs + (size_t)s * FR_BLOCK;
		iov[s].iov_base = sl[s].buf;
		iov[s].iov_len = FR_BLOCK;
	}
	if (tuned) {
		uring_check(io_uring_register_files(&ring, &fd, 1), impl,
			    "io_uring_register_files");
		uring_check(io_uring_register_buffers(&ring, iov, qd), impl,
			    "io_uring_register_buffers");
	}

	fr_run_init(&r, a, impl, qd);
	fr_run_start(&r);
	for (s = 0; s < qd; s++)
		arm(&ring, &r, sl, s, fd, tuned);
	while (!fr_idle(&r)) {
		unsigned int n, k;

		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret == -EINTR)
			continue;
		uring_check(ret, impl, "io_uring_submit_and_wait");
		n = io_uring_peek_batch_cqe(&ring, cqes, qd);
		for (k = 0; k < n; k++) {
			s = (unsigned int)cqes[k]->user_data;
			if (s >= qd)
				bench_fail("%s: CQE for slot %u", impl, s);
			fr_complete(&r, sl[s].off, sl[s].buf, cqes[k]->res,
				    sl[s].stamp);
			if (fr_more(&r))
				arm(&ring, &r, sl, s, fd, tuned);
		}
		io_uring_cq_advance(&ring, n);
	}
	fr_report(&r);
	io_uring_queue_exit(&ring);
	close(fd);
	fr_buffers_free(bufs);
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);

	run(&a, 1, 0);
	run(&a, FR_QD_MAX, 0);
	run(&a, 1, 1);
	run(&a, FR_QD_MAX, 1);
	return 0;
}

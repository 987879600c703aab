/*
 * Baseline of the file-read scenario (issue 6), no apcrt: a synchronous
 * pread loop, queue depth 1.
 *
 * One thread calls pread(fd, buf, 4096, fr_offset(i)) for i = 0, 1, ...
 * on the page-cached 256 MiB file of fileread.h (opened O_RDONLY,
 * buffered) and checks each block.  The floor of apcrt at queue depth 1:
 * one system call per read and no completion to deliver.  Prints
 * fileread-qd1 (kops/s) and fileread-qd1-p50 (ns: a sampled read's pread
 * call) for impl pread.
 */
#include "fileread.h"

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);
	unsigned char *buf = fr_buffers(1);
	int fd = fr_open_fd();
	struct fr_run r;

	fr_run_init(&r, &a, "pread", 1);
	fr_run_start(&r);
	while (fr_more(&r)) {
		uint64_t stamp, off = fr_issue(&r, &stamp);
		ssize_t n = pread(fd, buf, FR_BLOCK, (off_t)off);

		fr_complete(&r, off, buf, n < 0 ? -errno : n, stamp);
	}
	fr_report(&r);
	close(fd);
	fr_buffers_free(buf);
	return 0;
}

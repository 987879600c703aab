/*
 * apcrt, the completion-port scenario (issue 6): one thread posts
 * packets to a completion port (apc_port_post) and PB_WORKERS worker
 * threads dequeue them one at a time (apc_port_get), with the
 * bookkeeping of portbench.h.  The port's concurrency is PB_WORKERS, so
 * both workers may run at once.  Prints port-tput (Mops/s) for apcrt;
 * baselines: base-port.  On Windows (bench/run --wine) the same program
 * runs on PostQueuedCompletionStatus and GetQueuedCompletionStatus.
 */
#include "bench-apc.h"
#include "portbench.h"

static struct {
	apc_handle port;
	struct pb pb;
} pt;

static uint32_t worker(void *arg)
{
	const int w = (int)(intptr_t)arg;

	pb_worker_enter(&pt.pb, w);
	for (;;) {
		uint32_t bytes = 0, st;
		uintptr_t key = 0;
		apc_overlapped *ov = NULL;

		st = apc_port_get(pt.port, &bytes, &key, &ov, APC_INFINITE);
		if (st != APC_ERROR_SUCCESS)
			bench_fail("apcrt: worker %d: apc_port_get: status %u",
				   w, st);
		if (!pb_take(&pt.pb.w[w], bytes, key, ov))
			break;
	}
	return 0;
}

static void post(uint32_t bytes, uintptr_t key, void *ov)
{
	uint32_t st = apc_port_post(pt.port, bytes, key, (apc_overlapped *)ov);

	if (st != APC_ERROR_SUCCESS)
		bench_fail("apcrt: apc_port_post: status %u", st);
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);
	apc_handle th[PB_WORKERS];
	uint64_t i;
	uint32_t st;
	int w;

	pb_init(&pt.pb, &a, "apcrt");
	st = apc_port_create(PB_WORKERS, &pt.port);
	if (st != APC_ERROR_SUCCESS)
		bench_fail("apc_port_create: status %u", st);
	for (w = 0; w < PB_WORKERS; w++)
		th[w] = bench_apc_thread(worker, (void *)(intptr_t)w);
	pb_wait_workers(&pt.pb);
	for (i = 0; pb_posting(&pt.pb, i); i++) {
		uint32_t bytes;
		uintptr_t key;
		void *ov;

		pb_packet(i, &bytes, &key, &ov);
		post(bytes, key, ov);
	}
	for (w = 0; w < PB_WORKERS; w++)
		post(0, PB_KEY_QUIT, NULL);
	for (w = 0; w < PB_WORKERS; w++)
		bench_apc_join(th[w], "a worker");
	pb_report(&pt.pb);
	bench_apc_close(pt.port);
	return 0;
}

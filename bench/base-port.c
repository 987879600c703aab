/*
 * Baselines of the completion-port scenario (issue 6), no apcrt: what a
 * POSIX programmer writes by hand for a completion port -- an unbounded
 * FIFO of packets (bytes, key, overlapped pointer: an OVERLAPPED_ENTRY)
 * that one thread posts to and PB_WORKERS worker threads dequeue from,
 * one packet per call, blocking while it is empty.  The bookkeeping
 * (numbering, checks, clock) is portbench.h's, as in bench-port.
 *
 * The FIFO is a ring array that doubles when full (no allocation per
 * packet once it has grown), under a pthread mutex.  What differs is how
 * an idle worker waits for a packet:
 *
 * mutex-cond: on a condition variable.  The poster signals it after the
 *	push, outside the lock, only when a worker is waiting (a count kept
 *	under the lock).
 * eventfd-epoll: on an eventfd in semaphore mode that counts the packets
 *	(EFD_SEMAPHORE | EFD_NONBLOCK), so that the port can sit in an epoll
 *	set next to sockets -- what a port that must be waitable looks like.
 *	The poster writes 1 after each push; a worker reads 1 (a packet is
 *	its to take) and pops; when the read finds none it sleeps in
 *	epoll_wait on its own epoll instance, where the eventfd is
 *	registered EPOLLEXCLUSIVE so that one post wakes one worker.  Three
 *	system calls per packet.
 *
 * Prints port-tput (Mops/s: packets posted and dequeued per microsecond)
 * for each.
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "portbench.h"

struct pkt {
	uint32_t bytes;
	uintptr_t key;
	void *ov;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pkt *ring; /* cap entries; len of them from head on */
	size_t cap, head, len;
	unsigned int waiters; /* mutex-cond: workers in pthread_cond_wait */
	int efd;	      /* eventfd-epoll: the packet count */
	struct pb pb;
} q;

/* Under the lock: append p, growing the ring when it is full. */
static void push_locked(const struct pkt *p)
{
	if (q.len == q.cap) {
		size_t cap = q.cap ? q.cap * 2 : 1024, k;
		struct pkt *ring = malloc(cap * sizeof(*ring));

		if (ring == NULL)
			bench_fail("out of memory");
		for (k = 0; k < q.len; k++)
			ring[k] = q.ring[(q.head + k) & (q.cap - 1)];
		free(q.ring);
		q.ring = ring;
		q.cap = cap;
		q.head = 0;
	}
	q.ring[(q.head + q.len) & (q.cap - 1)] = *p;
	q.len++;
}

/* Under the lock, with q.len > 0: remove the oldest packet. */
static struct pkt pop_locked(void)
{
	struct pkt p = q.ring[q.head];

	q.head = (q.head + 1) & (q.cap - 1);
	q.len--;
	return p;
}

/* ---- mutex-cond ------------------------------------------------------ */

static void cond_post(const struct pkt *p)
{
	unsigned int w;

	pthread_mutex_lock(&q.lock);
	push_locked(p);
	w = q.waiters;
	pthread_mutex_unlock(&q.lock);
	if (w)
		pthread_cond_signal(&q.cond);
}

static struct pkt cond_get(void)
{
	struct pkt p;

	pthread_mutex_lock(&q.lock);
	while (q.len == 0) {
		q.waiters++;
		pthread_cond_wait(&q.cond, &q.lock);
		q.waiters--;
	}
	p = pop_locked();
	pthread_mutex_unlock(&q.lock);
	return p;
}

/* ---- eventfd-epoll --------------------------------------------------- */

static void efd_post(const struct pkt *p)
{
	uint64_t one = 1;

	pthread_mutex_lock(&q.lock);
	push_locked(p);
	pthread_mutex_unlock(&q.lock);
	if (write(q.efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		bench_fail("eventfd write: %s", strerror(errno));
}

static struct pkt efd_get(int ep)
{
	struct pkt p;
	uint64_t v;

	for (;;) {
		struct epoll_event ev;

		if (read(q.efd, &v, sizeof(v)) == (ssize_t)sizeof(v))
			break;
		if (errno != EAGAIN && errno != EINTR)
			bench_fail("eventfd read: %s", strerror(errno));
		if (epoll_wait(ep, &ev, 1, -1) < 0 && errno != EINTR)
			bench_fail("epoll_wait: %s", strerror(errno));
	}
	pthread_mutex_lock(&q.lock);
	if (q.len == 0)
		bench_fail("eventfd-epoll: counted a packet not queued");
	p = pop_locked();
	pthread_mutex_unlock(&q.lock);
	return p;
}

/* ---- the two measurements ------------------------------------------- */

static int use_efd;

static void *worker(void *arg)
{
	struct pb_worker *w = &q.pb.w[(intptr_t)arg];
	int ep = -1;

	if (use_efd) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE};

		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, q.efd, &ev) != 0)
			bench_fail("epoll: %s", strerror(errno));
	}
	pb_worker_enter(&q.pb, w->id);
	for (;;) {
		struct pkt p = use_efd ? efd_get(ep) : cond_get();

		if (!pb_take(w, p.bytes, p.key, p.ov))
			break;
	}
	if (ep >= 0)
		close(ep);
	return NULL;
}

static void run(const struct bench_args *a, const char *impl, int efd)
{
	void (*post)(const struct pkt *) = efd ? efd_post : cond_post;
	pthread_t th[PB_WORKERS];
	struct pkt p;
	uint64_t i;
	int k;

	use_efd = efd;
	pthread_mutex_init(&q.lock, NULL);
	pthread_cond_init(&q.cond, NULL);
	q.ring = NULL;
	q.cap = q.head = q.len = 0;
	q.waiters = 0;
	q.efd = -1;
	if (efd) {
		q.efd = eventfd(0, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
		if (q.efd < 0)
			bench_fail("eventfd: %s", strerror(errno));
	}
	pb_init(&q.pb, a, impl);
	for (k = 0; k < PB_WORKERS; k++)
		th[k] = bench_thread_start(worker, (void *)(intptr_t)k);
	pb_wait_workers(&q.pb);
	for (i = 0; pb_posting(&q.pb, i); i++) {
		pb_packet(i, &p.bytes, &p.key, &p.ov);
		post(&p);
	}
	p.bytes = 0;
	p.key = PB_KEY_QUIT;
	p.ov = NULL;
	for (k = 0; k < PB_WORKERS; k++)
		post(&p);
	for (k = 0; k < PB_WORKERS; k++)
		pthread_join(th[k], NULL);
	pb_report(&q.pb);
	if (q.len != 0)
		bench_fail("%s: %zu packets left", impl, q.len);
	if (efd)
		close(q.efd);
	free(q.ring);
	pthread_cond_destroy(&q.cond);
	pthread_mutex_destroy(&q.lock);
}

int main(int argc, char **argv)
{
	struct bench_args a = bench_parse(argc, argv);

	run(&a, "mutex-cond", 0);
	run(&a, "eventfd-epoll", 1);
	return 0;
}

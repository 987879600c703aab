/*
 * Named pipes on POSIX (README: "Named pipes: ..." for the decisions).
 * A name "\\.\pipe\NAME" maps to a Unix-domain stream socket
 * in a directory only the user can enter.  The first instance of a name
 * in this process binds and listens; an acceptor thread takes each
 * connection, reads the client's intent ('C' connect, 'Q' query for
 * WaitNamedPipe) and answers (struct answer).  An attached connection
 * becomes the instance's descriptor; from then on the instance is an
 * ordinary I/O handle of kind APC__IO_NPIPE whose bytes move in frames
 * (the framed stream, below).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "io-internal.h"

#define HANDSHAKE_MS 5000

/* LISTENING: a client may come (after create, or ConnectNamedPipe after
 * a disconnect); DISCONNECTED: not until ConnectNamedPipe is called. */
enum { NP_LISTENING, NP_CONNECTED, NP_BROKEN, NP_DISCONNECTED };

/* One handle's side of a pipe: a server instance or a client. */
struct apc__npipe {
	/* Under reg_lock. */
	struct apc__npipe *next; /* the name's instances */
	struct npname *name;	 /* NULL for a client's handle */
	struct apc__file *f;	 /* not a reference: f owns this */
	int state;
	uint64_t since; /* when it began listening: clients go oldest first */
	struct apc__io *connect_req; /* a pending ConnectNamedPipe */

	/* The framed stream, under sl (taken inside f->io_lock when both
	 * are held, never the other way). */
	apc__lock sl;
	bool in_frame;	    /* a frame's header is taken, body_left to come */
	bool cut;	    /* the server disconnected: its notice came */
	uint32_t body_left; /* of the current frame, the stash's included */
	unsigned char hpart[4]; /* the next header's first bytes, taken */
	uint8_t hlen;
	char *stash; /* the current frame's bytes off the socket */
	uint32_t stash_len, stash_cap;
	struct apc__io *tx; /* the write whose frame is partly sent */
};

static void stream_reset(struct apc__npipe *np);

struct npname {
	struct npname *next;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lfd;
	bool message;
	uint32_t access; /* every instance's direction (N3) */
	uint32_t max, count;
	uint32_t default_ms; /* WaitNamedPipe's NMPWAIT_USE_DEFAULT_WAIT */
	struct apc__npipe *instances;
};

/* Under reg_lock. */
static apc__lock reg_lock = APC__LOCK_INIT;
static struct npname *names;

/* ---- names ------------------------------------------------------------- */

/* The directory of this user's pipes, made 0700 and checked. */
static uint32_t pipe_dir(char *dir, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (xdg && *xdg)
		snprintf(dir, size, "%s/apcrt-pipes", xdg);
	else
		snprintf(dir, size, "/tmp/apcrt-pipes-%u", (unsigned)getuid());
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return apc__errno_to_error(errno);
	/* Another user's directory, or a link, is refused, not followed. */
	if (lstat(dir, &st) < 0)
		return apc__errno_to_error(errno);
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
	    (st.st_mode & 0777) != 0700)
		return APC_ERROR_ACCESS_DENIED;
	return 0;
}

/* "\\.\pipe\NAME" -> the socket's path. */
static uint32_t pipe_path(const char *name, struct sockaddr_un *sa)
{
	static const char prefix[] = "\\\\.\\pipe\\";
	char dir[80], file[256];
	const char *p;
	size_t n = 0;
	uint32_t st;

	if (!name || strncasecmp(name, prefix, sizeof(prefix) - 1) ||
	    !name[sizeof(prefix) - 1])
		return APC_ERROR_INVALID_NAME;
	/* Pipe names are case-insensitive: fold, then escape. */
	for (p = name + sizeof(prefix) - 1; *p && n + 4 < sizeof(file); p++) {
		unsigned char c = (unsigned char)tolower((unsigned char)*p);

		if (isalnum(c) || c == '.' || c == '_' || c == '-')
			file[n++] = (char)c;
		else
			n += (size_t)snprintf(file + n, 4, "%%%02X", c);
	}
	file[n] = '\0';
	st = pipe_dir(dir, sizeof(dir));
	if (st)
		return st;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (*p || strlen(dir) + 1 + n >= sizeof(sa->sun_path)) {
		/* Too long for a socket path: the FNV-1a hash of the name. */
		uint64_t h = 1469598103934665603ull;

		for (p = name; *p; p++) {
			h ^= (unsigned char)tolower((unsigned char)*p);
			h *= 1099511628211ull;
		}
		snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/#%016llx", dir,
			 (unsigned long long)h);
	} else {
		/* Fits: checked above (and silences a truncation warning). */
		size_t d = strlen(dir);

		memcpy(sa->sun_path, dir, d);
		sa->sun_path[d] = '/';
		memcpy(sa->sun_path + d + 1, file, n + 1);
	}
	return 0;
}

/* ---- listening ---------------------------------------------------------- */

/*
 * Bind and listen on sa.  A socket file nobody listens on (a process
 * that died) is stale: it is removed and bound again.  A live one means
 * another process serves this name: refused (all instances of a name
 * live in one process, README).
 */
static uint32_t listen_on(const struct sockaddr_un *sa, int *out)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct stat st;
	uint32_t e;

	if (fd < 0)
		return apc__errno_to_error(errno);
	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		int probe;
		bool live;

		if (errno != EADDRINUSE)
			goto fail;
		/* Not our socket (another user's, a link): refused, never
		 * followed or removed. */
		if (lstat(sa->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode) ||
		    st.st_uid != geteuid()) {
			close(fd);
			return APC_ERROR_ACCESS_DENIED;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		live = probe >= 0 &&
		       (connect(probe, (const struct sockaddr *)sa,
				sizeof(*sa)) == 0 ||
			errno == EAGAIN);
		if (probe >= 0)
			close(probe);
		if (live) {
			close(fd);
			return APC_ERROR_ACCESS_DENIED;
		}
		unlink(sa->sun_path);
		if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
			goto fail;
	}
	if (listen(fd, 64) < 0)
		goto fail;
	*out = fd;
	return 0;
fail:
	e = apc__errno_to_error(errno);
	close(fd);
	return e;
}

/* ---- clients ------------------------------------------------------------ */

/*
 * The acceptor's answer to a client: verdict 'O' (attached to an
 * instance), 'F' (an instance is free: a query's answer), 'B' (busy) or
 * 'D' (the access does not fit the pipe's direction); whether the pipe
 * is of the message type; and its default time-out (WaitNamedPipe).
 */
struct answer {
	char verdict;
	uint8_t message;
	uint8_t pad[2];
	uint32_t default_ms;
};

/*
 * Connect to name's socket, send intent (and access: bit 0 read, bit 1
 * write), and read the answer.  Returns 0 with *fd and *a, or the error.
 */
static uint32_t dial(const char *name, char intent, uint8_t access, int *fd,
		     struct answer *a)
{
	struct sockaddr_un sa;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	struct pollfd pfd;
	struct stat st;
	char hello[2] = {intent, (char)access};
	uint32_t e = name ? pipe_path(name, &sa) : APC_ERROR_INVALID_PARAMETER;
	int s;

	if (e)
		return e;
	/* Another user's socket in our place is refused, not followed. */
	if (lstat(sa.sun_path, &st) == 0 &&
	    (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid()))
		return APC_ERROR_ACCESS_DENIED;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return apc__errno_to_error(errno);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		close(s);
		if (err == ENOENT || err == ECONNREFUSED)
			return APC_ERROR_FILE_NOT_FOUND;
		return apc__errno_to_error(err);
	}
	/* And one listened to by another user (a socket replaced between
	 * the check and the connect). */
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) < 0 ||
	    cr.uid != geteuid()) {
		close(s);
		return APC_ERROR_ACCESS_DENIED;
	}
	pfd.fd = s;
	pfd.events = POLLIN;
	if (send(s, hello, 2, MSG_NOSIGNAL) != 2 ||
	    poll(&pfd, 1, HANDSHAKE_MS) != 1 ||
	    recv(s, a, sizeof(*a), MSG_WAITALL) != (ssize_t)sizeof(*a)) {
		/* The server went away during the handshake. */
		close(s);
		return APC_ERROR_FILE_NOT_FOUND;
	}
	*fd = s;
	return 0;
}

/* ---- instances and the acceptor ----------------------------------------- */

static uint64_t listen_seq; /* under reg_lock */

static apc__lock acc_lock = APC__LOCK_INIT;
static atomic_bool acc_ok;
static int acc_epfd = -1;

/* An accepted connection waiting for its intent (the acceptor's). */
struct newcomer {
	struct newcomer *next;
	int fd;
	struct npname *name;
	uint64_t since;
};

static struct newcomer *newcomers; /* the acceptor thread's */

/* Under reg_lock: the free instance of nm that has listened longest. */
static struct apc__npipe *free_instance(struct npname *nm)
{
	struct apc__npipe *np, *best = NULL;

	for (np = nm->instances; np; np = np->next)
		if (np->state == NP_LISTENING &&
		    (!best || np->since < best->since))
			best = np;
	return best;
}

/*
 * A newcomer said what it wants (and, connecting, which access it asks:
 * bit 0 read, bit 1 write): answer, and attach it or let it go.
 */
static void settle(struct newcomer *nc, char intent, uint8_t access)
{
	struct answer a = {.verdict = 'B'};
	struct apc__io *done = NULL;
	struct apc__npipe *np;

	apc__lock_take(&reg_lock);
	np = nc->name ? free_instance(nc->name) : NULL;
	if (nc->name) {
		a.message = nc->name->message;
		a.default_ms = nc->name->default_ms;
	}
	/* The client's access must fit the pipe's direction (N5): an
	 * inbound pipe takes no reading client, an outbound none writing. */
	if (np && intent == 'C' &&
	    (((access & 1) && !(nc->name->access & APC_PIPE_ACCESS_OUTBOUND)) ||
	     ((access & 2) && !(nc->name->access & APC_PIPE_ACCESS_INBOUND)))) {
		a.verdict = 'D';
	} else if (np && intent == 'Q') {
		a.verdict = 'F';
	} else if (np && intent == 'C') {
		a.verdict = 'O';
		apc__lock_take(&np->f->io_lock);
		apc__lock_take(&np->sl);
		stream_reset(np);
		np->f->fd = nc->fd;
		apc__lock_give(&np->sl);
		apc__lock_give(&np->f->io_lock);
		np->state = NP_CONNECTED;
		done = np->connect_req;
		np->connect_req = NULL;
	}
	apc__lock_give(&reg_lock);
	(void)!send(nc->fd, &a, sizeof(a), MSG_NOSIGNAL | MSG_DONTWAIT);
	if (a.verdict != 'O')
		close(nc->fd);
	if (done)
		apc__io_done(done, 0, false);
}

/* Listening descriptors to close, by the acceptor thread only (an event
 * it already fetched may still name one).  Under reg_lock. */
static int *retired;
static unsigned nretired, cretired;
static int acc_wakefd = -1;

static void retire_all(void)
{
	apc__lock_take(&reg_lock);
	for (unsigned i = 0; i < nretired; i++) {
		epoll_ctl(acc_epfd, EPOLL_CTL_DEL, retired[i], NULL);
		close(retired[i]);
	}
	nretired = 0;
	apc__lock_give(&reg_lock);
}

/* Out of the list and the epoll set: before its descriptor is handed on
 * or closed (the number may be reused at once). */
static void newcomer_unlink(struct newcomer *nc)
{
	struct newcomer **p;

	for (p = &newcomers; *p != nc; p = &(*p)->next)
		;
	*p = nc->next;
	epoll_ctl(acc_epfd, EPOLL_CTL_DEL, nc->fd, NULL);
}

static void newcomer_step(struct newcomer *nc)
{
	char hello[2] = {0, 3};
	ssize_t r = recv(nc->fd, hello, 2, MSG_DONTWAIT);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	newcomer_unlink(nc);
	if (r >= 1)
		settle(nc, hello[0], (uint8_t)hello[1]);
	else
		close(nc->fd);
	free(nc);
}

/* Newcomers that said nothing for HANDSHAKE_MS are dropped. */
static void newcomers_sweep(void)
{
	uint64_t now = apc__mono_ns();
	struct newcomer *nc, *next;

	for (nc = newcomers; nc; nc = next) {
		next = nc->next;
		if (now - nc->since > (uint64_t)HANDSHAKE_MS * 1000000u) {
			newcomer_unlink(nc);
			close(nc->fd);
			free(nc);
		}
	}
}

static void accept_all(struct npname *nm, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event e = {.events = EPOLLIN};
		struct newcomer *nc;

		if (fd < 0)
			return;
		nc = malloc(sizeof(*nc));
		if (!nc) {
			close(fd);
			continue;
		}
		nc->fd = fd;
		nc->name = nm;
		nc->since = apc__mono_ns();
		e.data.u64 = (uint64_t)(uintptr_t)nc | 1;
		if (epoll_ctl(acc_epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
			close(fd);
			free(nc);
			continue;
		}
		nc->next = newcomers;
		newcomers = nc;
	}
}

static void *acceptor(void *arg)
{
	struct epoll_event ev[32];

	(void)arg;
	for (;;) {
		int n = epoll_wait(acc_epfd, ev, 32, newcomers ? 1000 : -1);
		bool retire = false;

		for (int i = 0; i < n; i++) {
			uint64_t u = ev[i].data.u64;

			if (u == 0) {
				uint64_t v;

				(void)!read(acc_wakefd, &v, sizeof(v));
				retire = true;
			} else if (u & 1) {
				newcomer_step(
					(struct newcomer *)(uintptr_t)(u &
								       ~1ull));
			} else {
				struct npname *nm =
					(struct npname *)(uintptr_t)u;
				int lfd;

				apc__lock_take(&reg_lock);
				lfd = nm->lfd;
				apc__lock_give(&reg_lock);
				if (lfd >= 0)
					accept_all(nm, lfd);
			}
		}
		if (newcomers)
			newcomers_sweep();
		if (retire)
			retire_all();
	}
	return NULL;
}

/* Start the acceptor once; a failed start is tried again later. */
static uint32_t acceptor_start(void)
{
	struct epoll_event e = {.events = EPOLLIN, .data.u64 = 0};
	pthread_attr_t attr;
	pthread_t pt;
	uint32_t st = 0;

	if (atomic_load_explicit(&acc_ok, memory_order_acquire))
		return 0;
	apc__lock_take(&acc_lock);
	if (atomic_load_explicit(&acc_ok, memory_order_relaxed))
		goto out;
	acc_epfd = epoll_create1(EPOLL_CLOEXEC);
	acc_wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (acc_epfd < 0 || acc_wakefd < 0 ||
	    epoll_ctl(acc_epfd, EPOLL_CTL_ADD, acc_wakefd, &e) < 0) {
		st = apc__errno_to_error(errno);
		goto fail;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&pt, &attr, acceptor, NULL) == 0) {
		pthread_attr_destroy(&attr);
		atomic_store_explicit(&acc_ok, true, memory_order_release);
		goto out;
	}
	pthread_attr_destroy(&attr);
	st = APC_ERROR_NOT_ENOUGH_MEMORY;
fail:
	if (acc_epfd >= 0)
		close(acc_epfd);
	if (acc_wakefd >= 0)
		close(acc_wakefd);
	acc_epfd = acc_wakefd = -1;
out:
	apc__lock_give(&acc_lock);
	return st;
}

/* ---- the framed stream --------------------------------------------------- */

/*
 * Both pipe types run over a stream socket on which every write is one
 * frame: a 4-byte little-endian header, the body's length, then the body.
 * A header with bit 31 set is a notice with no body: the server
 * disconnected.  That keeps message boundaries (N6) up to 2 GiB - 1 bytes
 * a message, lets a byte reader of a message pipe read across them, and
 * tells a client whether its server disconnected
 * (ERROR_PIPE_NOT_CONNECTED) or closed (ERROR_BROKEN_PIPE).  A byte pipe
 * pays one header a write.
 *
 * A message read looks at the next header with MSG_PEEK and takes its
 * part of the message only once that part is all in the socket, so that
 * data nobody has taken stays in the socket, where it wakes the next
 * waiting read.  A message larger than the socket can hold is never all
 * there: its bytes move to the handle's stash as they come, never more
 * than the waiting read asks for, and the read that ends the wait empties
 * the stash.  A byte read takes what is there, across frames.
 */
#define FRAME_NOTICE 0x80000000u

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint32_t min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* Bytes waiting in fd's receive queue. */
static uint32_t queued(int fd)
{
	int n = 0;

	return ioctl(fd, FIONREAD, &n) == 0 && n > 0 ? (uint32_t)n : 0;
}

/* recvmsg into one or two buffers, without blocking: bytes or -errno. */
static int32_t take(int fd, void *a, size_t an, void *b, size_t bn, int flags)
{
	struct iovec iov[2] = {{a, an}, {b, bn}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = bn ? 2 : 1};
	ssize_t n;

	do
		n = recvmsg(fd, &m, flags | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return (int32_t)n;
}

/* Nothing queued: 0 when the peer is gone (its end of stream), else
 * -EAGAIN, or -errno. */
static int32_t ended(int fd)
{
	char c;
	int32_t n = take(fd, &c, 1, NULL, 0, MSG_PEEK);

	return n > 0 ? -EAGAIN : n;
}

/* Bytes of the next frame's header still in the socket. */
static uint32_t hdr_left(const struct apc__npipe *np)
{
	return 4u - np->hlen;
}

/*
 * The next frame's header, left in the socket, and up to extra bytes
 * after it: the socket's bytes peeked into pk (room for hdr_left + extra;
 * hdr_left or more) and *hdr; 0 when the peer is gone; -EAGAIN; -errno.
 * Part of a header (a writer in the middle of a write, or one that died
 * there) is taken into np->hpart, so that a read waiting for the rest
 * sleeps rather than finds the socket readable again and again.
 */
static int32_t peek_frame(struct apc__npipe *np, int fd, uint32_t *hdr,
			  unsigned char *pk, uint32_t extra)
{
	uint32_t hs = hdr_left(np);
	int32_t n = take(fd, pk, hs + extra, NULL, 0, MSG_PEEK);
	struct pollfd p = {fd, POLLRDHUP, 0};

	if (n >= (int32_t)hs) {
		unsigned char h[4];

		memcpy(h, np->hpart, np->hlen);
		memcpy(h + np->hlen, pk, hs);
		*hdr = le32(h);
		return n;
	}
	if (n <= 0)
		return n;
	n = take(fd, np->hpart + np->hlen, (size_t)n, NULL, 0, 0);
	if (n > 0)
		np->hlen = (uint8_t)(np->hlen + n);
	return poll(&p, 1, 0) == 1 ? 0 : -EAGAIN;
}

static int32_t peek_header(struct apc__npipe *np, int fd, uint32_t *hdr)
{
	unsigned char h[4];

	return peek_frame(np, fd, hdr, h, 0);
}

/* Take the rest of the header peeked. */
static int32_t skip_header(struct apc__npipe *np, int fd)
{
	unsigned char h[4];
	uint32_t hs = hdr_left(np);
	int32_t n = take(fd, h, hs, NULL, 0, 0);

	if (n != (int32_t)hs)
		return n < 0 ? n : -EPROTO;
	np->hlen = 0;
	return 0;
}

/* The end of part of a frame's body that a read took. */
static void frame_took(struct apc__npipe *np, uint32_t n)
{
	np->body_left -= n;
	np->in_frame = np->body_left > 0;
}

/* Move n bytes from the head of the stash to buf. */
static void stash_give(struct apc__npipe *np, char *buf, uint32_t n)
{
	if (n) {
		memcpy(buf, np->stash, n);
		memmove(np->stash, np->stash + n, np->stash_len - n);
		np->stash_len -= n;
	}
	frame_took(np, n);
}

/*
 * Under np->sl: a read in message mode (N6): the rest of the message at
 * the head, or the first len bytes of it with req->more (ERROR_MORE_DATA).
 */
static int32_t read_message(struct apc__npipe *np, struct apc__io *req, int fd)
{
	uint32_t len = req->len, want, have, q, hdr, hs;
	int32_t r;

	if (!np->in_frame) {
		/* A short message is seen whole by the peek: no FIONREAD. */
		unsigned char pk[4 + 256];

		r = peek_frame(np, fd, &hdr, pk, min32(len, 256));
		if (r <= 0)
			return r;
		if (hdr & FRAME_NOTICE) {
			r = skip_header(np, fd);
			np->cut = true;
			return r ? r : -ENOTCONN;
		}
		if (!len && hdr) {
			/* A zero-byte read: the message stays (N6). */
			req->more = req->msg0 = true;
			return 0;
		}
		want = min32(len, hdr);
		hs = hdr_left(np);
		if ((uint32_t)r >= hs + want || queued(fd) >= hs + want) {
			unsigned char h[4];

			r = take(fd, h, hs, req->buf, want, 0);
			if (r != (int32_t)(hs + want))
				return r < 0 ? r : -EPROTO;
			np->hlen = 0;
			np->in_frame = want < hdr;
			np->body_left = hdr - want;
			req->more = np->in_frame;
			req->msg0 = true; /* 0 bytes: an empty message */
			return (int32_t)want;
		}
		/* Not all there: into the frame, its body to the stash. */
		r = skip_header(np, fd);
		if (r)
			return r;
		np->in_frame = true;
		np->body_left = hdr;
	}
	if (!len) {
		req->more = req->msg0 = true;
		return 0;
	}
	want = min32(len, np->body_left);
	have = np->stash_len;
	if (have < want) {
		q = queued(fd);
		if (!q)
			return ended(fd);
		if (q < want - have) {
			/* Part of it: kept, so that the writer goes on. */
			if (want > np->stash_cap) {
				char *s = realloc(np->stash, want);

				if (!s)
					return -ENOMEM;
				np->stash = s;
				np->stash_cap = want;
			}
			r = take(fd, np->stash + have, q, NULL, 0, 0);
			if (r < 0)
				return r;
			np->stash_len += (uint32_t)r;
			return -EAGAIN;
		}
		r = take(fd, req->buf + have, want - have, NULL, 0, 0);
		if (r != (int32_t)(want - have))
			return r < 0 ? r : -EPROTO;
		frame_took(np, want - have);
	}
	stash_give(np, req->buf, have < want ? have : want);
	req->more = np->in_frame;
	return (int32_t)want;
}

/*
 * Under np->sl: a read in byte mode: what is there, up to len bytes,
 * across frames (empty messages are nothing to a byte reader); a
 * zero-byte read ends, with nothing, once there is something to read.
 */
static int32_t read_bytes(struct apc__npipe *np, struct apc__io *req, int fd)
{
	uint32_t len = req->len, got = 0, hdr = 0, n, hs;
	int32_t r = -EAGAIN;

	while (got < len || !len) {
		if (!np->in_frame) {
			r = peek_header(np, fd, &hdr);
			if (r <= 0 || (hdr & FRAME_NOTICE && got))
				break;
			if (hdr & FRAME_NOTICE) {
				r = skip_header(np, fd);
				np->cut = true;
				return r ? r : -ENOTCONN;
			}
			if (hdr && !len) {
				req->msg0 = true;
				return 0;
			}
			/* The header, and what there is of the body. */
			n = min32(len - got, hdr);
			hs = hdr_left(np);
			{
				unsigned char h[4];

				r = take(fd, h, hs, req->buf + got, n, 0);
			}
			if (r < (int32_t)hs)
				return r < 0 ? r : -EPROTO;
			np->hlen = 0;
			np->in_frame = true;
			np->body_left = hdr;
			frame_took(np, (uint32_t)r - hs);
			got += (uint32_t)r - hs;
			continue;
		}
		if (np->stash_len) {
			if (!len) {
				req->msg0 = true;
				return 0;
			}
			n = min32(len - got, np->stash_len);
			stash_give(np, req->buf + got, n);
			got += n;
			continue;
		}
		if (!len) {
			if (!queued(fd))
				return ended(fd);
			req->msg0 = true;
			return 0;
		}
		r = take(fd, req->buf + got, min32(len - got, np->body_left),
			 NULL, 0, 0);
		if (r <= 0)
			break;
		frame_took(np, (uint32_t)r);
		got += (uint32_t)r;
	}
	return got ? (int32_t)got : r > 0 ? -EAGAIN : r;
}

/*
 * Under np->sl: what the socket holds, peeked, after the part of a header
 * already taken (np->hpart): a buffer to free and its length in *n, or
 * NULL when there is nothing (or no memory).
 */
static unsigned char *peek_all(struct apc__npipe *np, int fd, uint32_t *n)
{
	uint32_t q = queued(fd), h = np->in_frame ? 0 : np->hlen;
	unsigned char *all;

	if (!q || !(all = malloc(h + q)))
		return NULL;
	memcpy(all, np->hpart, h);
	if (take(fd, all + h, q, NULL, 0, MSG_PEEK) != (int32_t)q) {
		free(all);
		return NULL;
	}
	*n = h + q;
	return all;
}

/*
 * Under np->sl: the stream says the server disconnected (a notice waits
 * behind what is queued)?  Then a write's EPIPE means that, not a close.
 */
static bool notice_queued(struct apc__npipe *np, int fd)
{
	uint32_t q, hdr;
	uint64_t pos;
	unsigned char *all = peek_all(np, fd, &q);
	bool found = false;

	if (!all)
		return false;
	pos = np->in_frame ? np->body_left - np->stash_len : 0;
	while (!found && pos + 4 <= q) {
		hdr = le32(all + pos);
		found = hdr & FRAME_NOTICE;
		pos += 4 + (uint64_t)hdr;
	}
	free(all);
	return found;
}

/* Under np->sl: send (the rest of) req's frame. */
static int32_t write_frame(struct apc__npipe *np, struct apc__io *req, int fd)
{
	unsigned char h[4] = {(unsigned char)req->len,
			      (unsigned char)(req->len >> 8),
			      (unsigned char)(req->len >> 16),
			      (unsigned char)(req->len >> 24)};
	uint32_t total = 4 + req->len;
	struct iovec iov[2];
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
	ssize_t n;

	/* Frames go whole, one after the other. */
	if (np->tx && np->tx != req)
		return -EAGAIN;
	if (!req->len && !np->f->msg_type)
		return 0; /* nothing, on a byte pipe */
	if (req->sent < 4) {
		iov[0] = (struct iovec){h + req->sent, 4 - req->sent};
		iov[1] = (struct iovec){req->buf, req->len};
	} else {
		iov[0] = (struct iovec){req->buf + req->sent - 4,
					total - req->sent};
		m.msg_iovlen = 1;
	}
	do
		n = sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EWOULDBLOCK)
		return -EAGAIN;
	if (n < 0) {
		int e = errno;

		np->tx = NULL;
		if ((e == EPIPE || e == ECONNRESET) && notice_queued(np, fd)) {
			np->cut = true;
			return -ENOTCONN;
		}
		return -e;
	}
	req->sent += (uint32_t)n;
	if (req->sent < total) {
		np->tx = req;
		return -EAGAIN;
	}
	np->tx = NULL;
	return (int32_t)req->len;
}

int32_t apc__npipe_try(struct apc__io *req)
{
	struct apc__file *f = req->file;
	struct apc__npipe *np = f->np;
	int fd = f->fd;
	int32_t r;

	if (fd < 0)
		return -ENOTCONN; /* disconnected meanwhile */
	apc__lock_take(&np->sl);
	if (np->cut)
		r = -ENOTCONN;
	else if (req->op == APC__IO_WRITE)
		r = write_frame(np, req, fd);
	else if (f->msg_read)
		r = read_message(np, req, fd);
	else
		r = read_bytes(np, req, fd);
	apc__lock_give(&np->sl);
	return r;
}

/* Under np->sl: a new client, or none: the stream starts afresh. */
static void stream_reset(struct apc__npipe *np)
{
	np->in_frame = np->cut = false;
	np->hlen = 0;
	np->body_left = np->stash_len = 0;
	np->tx = NULL;
}

/* ---- the API ------------------------------------------------------------ */

static struct apc__file *npipe_get(apc_handle h)
{
	struct apc__file *f =
		(struct apc__file *)apc__handle_get(h, APC__TYPE_FILE);

	if (f && !f->np) {
		apc__object_unref(&f->hdr);
		return NULL;
	}
	return f;
}

uint32_t apc_npipe_create(const char *name, uint32_t open_mode,
			  uint32_t pipe_mode, uint32_t max_instances,
			  uint32_t out_size, uint32_t in_size,
			  uint32_t default_ms, apc_handle *out)
{
	uint32_t access = open_mode & APC_PIPE_ACCESS_DUPLEX;
	bool message = pipe_mode & APC_PIPE_TYPE_MESSAGE;
	struct apc__npipe *np;
	struct sockaddr_un sa;
	struct npname *nm;
	struct apc__file *f;
	uint32_t st;

	(void)out_size;
	(void)in_size;
	if (!out)
		return APC_ERROR_INVALID_PARAMETER;
	*out = NULL;
	if (pipe_mode & APC_PIPE_NOWAIT)
		return APC_ERROR_NOT_SUPPORTED; /* as src/win32 (npipe.h) */
	if (!name || !access ||
	    (open_mode & ~(APC_PIPE_ACCESS_DUPLEX | APC_FILE_FLAG_OVERLAPPED |
			   APC_FILE_FLAG_FIRST_PIPE_INSTANCE)) ||
	    (pipe_mode &
	     ~(APC_PIPE_TYPE_MESSAGE | APC_PIPE_READMODE_MESSAGE)) ||
	    max_instances < 1 || max_instances > APC_PIPE_UNLIMITED_INSTANCES ||
	    ((pipe_mode & APC_PIPE_READMODE_MESSAGE) && !message))
		return APC_ERROR_INVALID_PARAMETER;
	st = pipe_path(name, &sa);
	if (!st)
		st = acceptor_start();
	if (st)
		return st;
	np = calloc(1, sizeof(*np));
	if (!np)
		return APC_ERROR_NOT_ENOUGH_MEMORY;

	apc__lock_take(&reg_lock);
	for (nm = names; nm && strcmp(nm->path, sa.sun_path); nm = nm->next)
		;
	if (nm && nm->count) {
		if ((open_mode & APC_FILE_FLAG_FIRST_PIPE_INSTANCE) ||
		    nm->message != message || nm->access != access)
			st = APC_ERROR_ACCESS_DENIED;
		else if (nm->count >= nm->max)
			st = APC_ERROR_PIPE_BUSY;
	} else {
		if (!nm) {
			/* Names are kept for the life of the process (the
			 * acceptor may still hold one); a name is reused. */
			nm = calloc(1, sizeof(*nm));
			if (nm) {
				memcpy(nm->path, sa.sun_path, sizeof(nm->path));
				nm->lfd = -1;
				nm->next = names;
				names = nm;
			}
		}
		if (!nm)
			st = APC_ERROR_NOT_ENOUGH_MEMORY;
		else
			st = listen_on(&sa, &nm->lfd);
		if (!st) {
			struct epoll_event e = {.events = EPOLLIN,
						.data.u64 = (uintptr_t)nm};

			nm->message = message;
			nm->access = access;
			nm->max = max_instances;
			/* 0: Windows' default of 50 ms. */
			nm->default_ms = default_ms ? default_ms : 50;
			if (epoll_ctl(acc_epfd, EPOLL_CTL_ADD, nm->lfd, &e) <
			    0) {
				st = apc__errno_to_error(errno);
				close(nm->lfd);
				unlink(nm->path);
				nm->lfd = -1;
			}
		}
	}
	if (!st)
		st = apc__file_make(-1, APC__IO_NPIPE,
				    open_mode & APC_FILE_FLAG_OVERLAPPED,
				    access & APC_PIPE_ACCESS_INBOUND,
				    access & APC_PIPE_ACCESS_OUTBOUND, &f, out);
	if (st) {
		apc__lock_give(&reg_lock);
		free(np);
		return st;
	}
	np->name = nm;
	np->f = f;
	np->state = NP_LISTENING;
	np->since = ++listen_seq;
	np->next = nm->instances;
	nm->instances = np;
	nm->count++;
	f->np = np;
	f->msg_type = message;
	f->msg_read = pipe_mode & APC_PIPE_READMODE_MESSAGE;
	apc__lock_give(&reg_lock);
	return 0;
}

uint32_t apc_npipe_open(const char *name, uint32_t access, uint32_t flags,
			apc_handle *out)
{
	struct apc__npipe *np;
	struct apc__file *f;
	struct answer a;
	uint32_t st;
	int fd;

	if (!out)
		return APC_ERROR_INVALID_PARAMETER;
	*out = NULL;
	if (access & ~(APC_GENERIC_READ | APC_GENERIC_WRITE))
		return APC_ERROR_INVALID_PARAMETER;
	np = calloc(1, sizeof(*np));
	if (!np)
		return APC_ERROR_NOT_ENOUGH_MEMORY;
	st = dial(name, 'C',
		  (uint8_t)((access & APC_GENERIC_READ ? 1 : 0) |
			    (access & APC_GENERIC_WRITE ? 2 : 0)),
		  &fd, &a);
	if (!st && a.verdict != 'O') {
		close(fd);
		st = a.verdict == 'D' ? APC_ERROR_ACCESS_DENIED
				      : APC_ERROR_PIPE_BUSY;
	}
	if (!st) {
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		st = apc__file_make(fd, APC__IO_NPIPE,
				    flags & APC_FILE_FLAG_OVERLAPPED,
				    access & APC_GENERIC_READ,
				    access & APC_GENERIC_WRITE, &f, out);
	}
	if (st) {
		free(np);
		return st;
	}
	np->f = f;
	np->state = NP_CONNECTED;
	f->np = np;
	f->msg_type = a.message; /* reads in byte mode until told (N6) */
	return 0;
}

uint32_t apc_npipe_wait(const char *name, uint32_t ms)
{
	uint64_t end = 0;

	for (bool first = true;; first = false) {
		struct answer a;
		int fd;
		uint32_t st = dial(name, 'Q', 0, &fd, &a);

		if (st)
			return st;
		close(fd);
		if (a.verdict == 'F')
			return 0;
		if (first) {
			/* NMPWAIT_USE_DEFAULT_WAIT: the pipe's own. */
			if (ms == APC_NMPWAIT_USE_DEFAULT_WAIT)
				ms = a.default_ms;
			end = apc__mono_ns() + (uint64_t)ms * 1000000u;
		}
		if (ms != APC_NMPWAIT_WAIT_FOREVER && apc__mono_ns() >= end)
			return APC_ERROR_SEM_TIMEOUT;
		apc_sleep(10, false);
	}
}

uint32_t apc_npipe_connect(apc_handle server, apc_overlapped *ov)
{
	struct apc__file *f = npipe_get(server);
	apc_overlapped own = {0};
	struct apc__io *req = NULL;
	uint32_t st = 0, r;

	if (!f)
		return APC_ERROR_INVALID_HANDLE;
	if (!f->np->name) {
		apc__object_unref(&f->hdr);
		return APC_ERROR_INVALID_FUNCTION; /* a client's handle */
	}
	if (!ov) {
		/* Blocking: the same, waited for on an event of our own. */
		st = apc_event_create(true, false, &own.hEvent);
		if (st)
			goto out;
		ov = &own;
	}
	apc__lock_take(&reg_lock);
	if (f->np->state == NP_CONNECTED) {
		/* A client that came before the call, still there (success),
		 * or gone without a disconnect (N4). */
		char c;
		ssize_t n = recv(f->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN))
			f->np->state = NP_BROKEN;
	}
	if (f->np->state == NP_CONNECTED)
		st = APC_ERROR_PIPE_CONNECTED;
	else if (f->np->state == NP_BROKEN)
		st = APC_ERROR_NO_DATA;
	else if (f->np->connect_req)
		st = APC_ERROR_INVALID_PARAMETER;
	else if (!(st = apc__io_pending(f, ov, APC__IO_CONNECT, &req))) {
		f->np->connect_req = req;
		if (f->np->state == NP_DISCONNECTED) {
			f->np->state = NP_LISTENING;
			f->np->since = ++listen_seq;
		}
	}
	apc__lock_give(&reg_lock);
	if (st || ov != &own) {
		if (!st)
			st = APC_ERROR_IO_PENDING;
		goto out;
	}
	(void)apc_wait(own.hEvent, APC_INFINITE, false, NULL);
	r = apc_overlapped_result(server, &own, NULL, 0, false);
	st = r;
out:
	if (own.hEvent)
		apc_close(own.hEvent);
	apc__object_unref(&f->hdr);
	return st;
}

bool apc__npipe_cancel(struct apc__io *req)
{
	struct apc__npipe *np = req->file->np;
	bool mine;

	apc__lock_take(&reg_lock);
	mine = np && np->connect_req == req;
	if (mine)
		np->connect_req = NULL;
	apc__lock_give(&reg_lock);
	return mine;
}

uint32_t apc_npipe_disconnect(apc_handle server)
{
	static const unsigned char notice[4] = {0, 0, 0, 0x80};
	struct apc__file *f = npipe_get(server);
	struct apc__npipe *np;
	uint32_t st = 0;
	int fd;

	if (!f)
		return APC_ERROR_INVALID_HANDLE;
	np = f->np;
	if (!np->name) {
		apc__object_unref(&f->hdr);
		return APC_ERROR_INVALID_FUNCTION;
	}
	__atomic_store_n(&f->ending, true, __ATOMIC_RELAXED);
	apc_cancel_io_ex(server, NULL);
	__atomic_store_n(&f->ending, false, __ATOMIC_RELAXED);
	/* Out of the fallback engine's epoll set while the descriptor is
	 * open: the next client's is another. */
	apc__io_fallback.forget(f);
	apc__lock_take(&reg_lock);
	if (np->state == NP_DISCONNECTED)
		st = APC_ERROR_PIPE_NOT_CONNECTED;
	apc__lock_take(&f->io_lock);
	fd = f->fd;
	f->fd = -1;
	apc__lock_take(&np->sl);
	/* The client learns it was disconnected, not closed, unless a
	 * frame of ours was cut short. */
	if (fd >= 0 && !np->tx)
		(void)!send(fd, notice, 4, MSG_DONTWAIT | MSG_NOSIGNAL);
	stream_reset(np);
	apc__lock_give(&np->sl);
	apc__lock_give(&f->io_lock);
	np->state = NP_DISCONNECTED;
	apc__lock_give(&reg_lock);
	if (fd >= 0) {
		shutdown(fd, SHUT_RDWR);
		close(fd);
	}
	apc__object_unref(&f->hdr);
	return st;
}

void apc__npipe_last_handle(struct apc__file *f)
{
	struct apc__npipe *np = f->np, **p;
	struct npname *nm = np->name;
	uint64_t one = 1;

	/* Its operations still pending end as a broken pipe (E46). */
	__atomic_store_n(&f->broken_on_cancel, true, __ATOMIC_RELAXED);
	__atomic_store_n(&f->ending, true, __ATOMIC_RELAXED);
	if (!nm)
		return; /* a client: io.c closes the socket */
	apc__lock_take(&reg_lock);
	for (p = &nm->instances; *p && *p != np; p = &(*p)->next)
		;
	if (*p)
		*p = np->next;
	if (--nm->count == 0 && nm->lfd >= 0) {
		/* The last instance: the name goes (clients now get
		 * ERROR_FILE_NOT_FOUND); the acceptor closes the socket. */
		unlink(nm->path);
		if (nretired == cretired) {
			unsigned c = cretired ? 2 * cretired : 8;
			int *n = realloc(retired, c * sizeof(*n));

			if (n) {
				retired = n;
				cretired = c;
			}
		}
		if (nretired < cretired)
			retired[nretired++] = nm->lfd;
		nm->lfd = -1;
	}
	np->name = NULL;
	apc__lock_give(&reg_lock);
	(void)!write(acc_wakefd, &one, sizeof(one));
}

/* Under np->sl: the bytes that reads would get (headers aside), and what
 * is left of the message at the head; -ENOTCONN at a notice. */
static int32_t stream_count(struct apc__npipe *np, int fd, uint32_t *avail,
			    uint32_t *left)
{
	uint32_t q = 0, hdr, n;
	uint64_t pos = 0;
	unsigned char *all;

	*avail = np->stash_len;
	*left = np->in_frame ? np->body_left : 0;
	if (!queued(fd))
		return np->stash_len || np->in_frame ? 0 : ended(fd);
	all = peek_all(np, fd, &q);
	if (!all)
		return -EAGAIN;
	if (np->in_frame) {
		pos = min32(np->body_left - np->stash_len, q);
		*avail += (uint32_t)pos;
	}
	while (pos + 4 <= q) {
		hdr = le32(all + pos);
		if (hdr & FRAME_NOTICE) {
			if (!*avail && !np->in_frame) {
				free(all);
				return -ENOTCONN;
			}
			break;
		}
		if (!pos && !np->in_frame)
			*left = hdr;
		n = (uint32_t)(q - pos - 4 < hdr ? q - pos - 4 : hdr);
		*avail += n;
		pos += 4 + (uint64_t)hdr;
	}
	free(all);
	return 0;
}

uint32_t apc_npipe_peek(apc_handle h, uint32_t *available,
			uint32_t *message_left)
{
	struct apc__file *f = npipe_get(h);
	uint32_t avail = 0, left = 0, st = 0;
	int32_t r;

	if (!f)
		return APC_ERROR_INVALID_HANDLE;
	apc__lock_take(&f->io_lock);
	if (f->fd < 0) {
		st = APC_ERROR_BAD_PIPE; /* an instance without a client */
	} else {
		apc__lock_take(&f->np->sl);
		r = f->np->cut ? -ENOTCONN
			       : stream_count(f->np, f->fd, &avail, &left);
		apc__lock_give(&f->np->sl);
		if (r == 0 && !avail && !left)
			r = ended(f->fd) == 0 ? -EPIPE : 0;
		if (r == -EPIPE || r == 0 - ECONNRESET)
			st = APC_ERROR_BROKEN_PIPE; /* the other end is gone */
		else if (r < 0 && r != -EAGAIN)
			st = apc__errno_to_error(-r);
	}
	apc__lock_give(&f->io_lock);
	if (available)
		*available = avail;
	if (message_left)
		*message_left = f->msg_type ? left : 0;
	apc__object_unref(&f->hdr);
	return st;
}

uint32_t apc_npipe_set_mode(apc_handle h, uint32_t read_mode)
{
	struct apc__file *f = npipe_get(h);
	uint32_t st = 0;

	if (!f)
		return APC_ERROR_INVALID_HANDLE;
	if (read_mode & ~APC_PIPE_READMODE_MESSAGE ||
	    (read_mode && !f->msg_type))
		st = APC_ERROR_INVALID_PARAMETER;
	else
		f->msg_read = read_mode != 0;
	apc__object_unref(&f->hdr);
	return st;
}

void apc__npipe_free(struct apc__file *f)
{
	free(f->np->stash);
	free(f->np);
	f->np = NULL;
}

uint32_t apc__npipe_no_client(struct apc__file *f)
{
	uint32_t st;

	apc__lock_take(&reg_lock);
	st = f->np && f->np->state == NP_LISTENING
		     ? APC_ERROR_PIPE_LISTENING
		     : APC_ERROR_PIPE_NOT_CONNECTED;
	apc__lock_give(&reg_lock);
	return st;
}

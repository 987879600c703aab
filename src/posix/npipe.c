/*
 * Named pipes on POSIX: see notes/npipe-posix-design.md for the plan this
 * follows.  A name "\\.\pipe\NAME" maps to a Unix-domain socket in a
 * directory only the user can enter; byte mode is SOCK_STREAM, message
 * mode SOCK_SEQPACKET.  The first instance of a name in this process
 * binds and listens; an acceptor thread takes each connection, reads the
 * client's intent byte ('C' connect, 'Q' query for WaitNamedPipe) and
 * answers 'O' (attached to a free instance), 'F' (one is free) or 'B'
 * (busy).  An attached connection becomes the instance's descriptor;
 * from then on the instance is an ordinary I/O handle of kind
 * APC__IO_NPIPE.
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

struct npname {
	struct npname *next;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lfd;
	bool message;
	uint32_t access; /* every instance's direction (N3) */
	uint32_t max, count;
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
static uint32_t listen_on(const struct sockaddr_un *sa, bool message, int *out)
{
	int type = (message ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC |
		   SOCK_NONBLOCK;
	int fd = socket(AF_UNIX, type, 0);
	uint32_t st;

	if (fd < 0)
		return apc__errno_to_error(errno);
	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		int probe;
		bool live;

		if (errno != EADDRINUSE)
			goto fail;
		probe = socket(AF_UNIX, type, 0);
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
	st = apc__errno_to_error(errno);
	close(fd);
	return st;
}

/* ---- clients ------------------------------------------------------------ */

/*
 * Connect to name's socket (message type first, then byte type: a
 * client does not know which), send intent, and read the one-byte answer.
 * Returns 0 with *fd and *answer, or the error.
 */
static uint32_t dial(const char *name, char intent, uint8_t access, int *fd,
		     char *answer, bool *message)
{
	static const int types[2] = {SOCK_SEQPACKET, SOCK_STREAM};
	struct sockaddr_un sa;
	uint32_t st = name ? pipe_path(name, &sa) : APC_ERROR_INVALID_PARAMETER;

	if (st)
		return st;
	for (int i = 0; i < 2; i++) {
		int s = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
		struct pollfd pfd;

		if (s < 0)
			return apc__errno_to_error(errno);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			int e = errno;

			close(s);
			if (e == EPROTOTYPE)
				continue; /* the other type */
			if (e == ENOENT || e == ECONNREFUSED)
				return APC_ERROR_FILE_NOT_FOUND;
			return apc__errno_to_error(e);
		}
		pfd.fd = s;
		pfd.events = POLLIN;
		char hello[2] = {intent, (char)access};

		if (send(s, hello, 2, MSG_NOSIGNAL) != 2 ||
		    poll(&pfd, 1, HANDSHAKE_MS) != 1 ||
		    recv(s, answer, 1, 0) != 1) {
			/* The server went away during the handshake. */
			close(s);
			return APC_ERROR_FILE_NOT_FOUND;
		}
		*fd = s;
		*message = types[i] == SOCK_SEQPACKET;
		return 0;
	}
	return APC_ERROR_FILE_NOT_FOUND;
}

/* ---- instances and the acceptor ----------------------------------------- */

/* Under reg_lock. */
struct apc__npipe {
	struct apc__npipe *next; /* the name's instances */
	struct npname *name;	 /* NULL for a client's handle */
	struct apc__file *f;	 /* not a reference: f owns this */
	int state;
	uint64_t since; /* when it began listening: clients go oldest first */
	struct apc__io *connect_req; /* a pending ConnectNamedPipe */
};

static uint64_t listen_seq; /* under reg_lock */

static apc__lock acc_lock = APC__LOCK_INIT;
static atomic_bool acc_ok;
static int acc_epfd = -1;

/* An accepted connection waiting for its intent byte. */
struct newcomer {
	int fd;
	struct npname *name;
	uint64_t since;
};

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

/* A newcomer said what it wants: answer, and attach it or let it go. */
/*
 * A newcomer said what it wants (and, connecting, which access it asks:
 * bit 0 read, bit 1 write): answer, and attach it or let it go.
 */
static void settle(struct newcomer *nc, char intent, uint8_t access)
{
	struct apc__io *done = NULL;
	struct apc__npipe *np;
	char answer = 'B';

	apc__lock_take(&reg_lock);
	np = nc->name ? free_instance(nc->name) : NULL;
	/* The client's access must fit the pipe's direction (N5): an
	 * inbound pipe takes no reading client, an outbound none writing. */
	if (np && intent == 'C' &&
	    (((access & 1) && !(nc->name->access & APC_PIPE_ACCESS_OUTBOUND)) ||
	     ((access & 2) && !(nc->name->access & APC_PIPE_ACCESS_INBOUND))))
		answer = 'D';
	else if (np && intent == 'Q') {
		answer = 'F';
	} else if (np && intent == 'C') {
		answer = 'O';
		apc__lock_take(&np->f->io_lock);
		np->f->fd = nc->fd;
		apc__lock_give(&np->f->io_lock);
		np->state = NP_CONNECTED;
		done = np->connect_req;
		np->connect_req = NULL;
	}
	apc__lock_give(&reg_lock);
	(void)!send(nc->fd, &answer, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (answer != 'O')
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

static void newcomer_step(struct newcomer *nc)
{
	char hello[2] = {0, 3};
	ssize_t r = recv(nc->fd, hello, 2, MSG_DONTWAIT);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	epoll_ctl(acc_epfd, EPOLL_CTL_DEL, nc->fd, NULL);
	if (r >= 1)
		settle(nc, hello[0], (uint8_t)hello[1]);
	else
		close(nc->fd);
	free(nc);
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
		}
	}
}

static void *acceptor(void *arg)
{
	struct epoll_event ev[32];

	(void)arg;
	for (;;) {
		int n = epoll_wait(acc_epfd, ev, 32, -1);
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
	(void)default_ms;
	if (!out)
		return APC_ERROR_INVALID_PARAMETER;
	*out = NULL;
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
			st = listen_on(&sa, message, &nm->lfd);
		if (!st) {
			struct epoll_event e = {.events = EPOLLIN,
						.data.u64 = (uintptr_t)nm};

			nm->message = message;
			nm->access = access;
			nm->max = max_instances;
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
	bool message;
	char answer;
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
		  &fd, &answer, &message);
	if (!st && answer != 'O') {
		close(fd);
		st = answer == 'D' ? APC_ERROR_ACCESS_DENIED
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
	f->msg_type = message; /* reads in byte mode until told (N6) */
	return 0;
}

uint32_t apc_npipe_wait(const char *name, uint32_t ms)
{
	uint64_t end = apc__mono_ns() + (uint64_t)ms * 1000000u;

	for (;;) {
		bool message;
		char answer;
		int fd;
		uint32_t st = dial(name, 'Q', 0, &fd, &answer, &message);

		if (st)
			return st;
		close(fd);
		if (answer == 'F')
			return 0;
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
	struct apc__file *f = npipe_get(server);
	unsigned found = 0;
	int fd;

	(void)found;
	if (!f)
		return APC_ERROR_INVALID_HANDLE;
	if (!f->np->name) {
		apc__object_unref(&f->hdr);
		return APC_ERROR_INVALID_FUNCTION;
	}
	apc_cancel_io_ex(server, NULL);
	apc__lock_take(&reg_lock);
	apc__lock_take(&f->io_lock);
	fd = f->fd;
	f->fd = -1;
	free(f->stash);
	f->stash = NULL;
	apc__lock_give(&f->io_lock);
	f->np->state = NP_DISCONNECTED;
	apc__lock_give(&reg_lock);
	if (fd >= 0) {
		shutdown(fd, SHUT_RDWR);
		close(fd);
	}
	apc__object_unref(&f->hdr);
	return 0;
}

void apc__npipe_last_handle(struct apc__file *f)
{
	struct apc__npipe *np = f->np, **p;
	struct npname *nm = np->name;
	uint64_t one = 1;

	/* Its operations still pending end as a broken pipe (E46). */
	__atomic_store_n(&f->broken_on_cancel, true, __ATOMIC_RELAXED);
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

uint32_t apc_npipe_peek(apc_handle h, uint32_t *available,
			uint32_t *message_left)
{
	struct apc__file *f = npipe_get(h);
	uint32_t avail = 0, left = 0, st = 0;
	int n = 0;

	if (!f)
		return APC_ERROR_INVALID_HANDLE;
	apc__lock_take(&f->io_lock);
	if (f->fd < 0) {
		st = APC_ERROR_BAD_PIPE; /* an instance without a client */
	} else if (f->stash) {
		avail = left = f->stash_len - f->stash_off;
	} else {
		char c;
		ssize_t s = recv(f->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

		if (s == 0)
			st = APC_ERROR_BROKEN_PIPE; /* the other end is gone */
		else if (f->msg_type) {
			s = recv(f->fd, NULL, 0,
				 MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
			if (s > 0)
				avail = left = (uint32_t)s;
		} else if (ioctl(f->fd, FIONREAD, &n) == 0 && n > 0) {
			avail = (uint32_t)n;
		}
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

/*
 * iocp-echo: a TCP echo server on an I/O completion port with a pool of
 * worker threads, in the shape of the classic Win32 IOCP server.
 *
 *	iocp-echo PORT			serve on 127.0.0.1:PORT until stdin ends
 *	iocp-echo --self-test C M	serve on an ephemeral loopback port, run
 *					C clients (1 to 60) of M messages
 *					each, check every echoed byte, stop
 *
 * The server logic is the same on both systems: every accepted socket is
 * bound to the port with CreateIoCompletionPort (its key is the
 * connection), and each connection has exactly one overlapped ReadFile or
 * WriteFile in flight.  WORKERS threads loop on GetQueuedCompletionStatus:
 * a read of n bytes starts a write of those bytes, a finished write starts
 * the next read, a read of 0 bytes (the peer closed) or a failed operation
 * (the peer reset) closes the connection.  PostQueuedCompletionStatus with
 * the key STOP_KEY and no OVERLAPPED tells a worker to end.
 *
 * Only the socket set-up differs, in the one #ifdef below: on Windows a
 * Winsock socket made with WSA_FLAG_OVERLAPPED is a HANDLE that ReadFile
 * and WriteFile take; on POSIX apcrt wraps the descriptor as an
 * overlapped handle with apc_handle_from_fd.  The self-test's clients use
 * plain blocking sockets.
 *
 * The self-test first runs three peers that leave in the middle of a
 * read (a close, a reset, and a close with its echo unread) and checks
 * that the server closed their connections and goes on; then the clients
 * run in parallel.  At the end every connection must be closed, the
 * acceptor and all workers must have ended with 0, and every handle is
 * closed; the exit code is 0 only if all of that holds.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

typedef SOCKET sock_t;
#define NO_SOCKET INVALID_SOCKET
#define SEND_FLAGS 0

static BOOL net_start(void)
{
	WSADATA wsa;

	return WSAStartup(MAKEWORD(2, 2), &wsa) == 0;
}

static void net_stop(void)
{
	WSACleanup();
}

/* Overlapped, so that the handle takes overlapped ReadFile / WriteFile;
 * accept() gives sockets with the listener's attributes. */
static sock_t tcp_socket(void)
{
	return WSASocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
			 WSA_FLAG_OVERLAPPED);
}

static int net_error(void)
{
	return WSAGetLastError();
}

static BOOL accept_transient(int err)
{
	return err == WSAECONNRESET || err == WSAECONNABORTED;
}

static void sock_close(sock_t s)
{
	closesocket(s);
}

/* A socket is a file handle for ReadFile, WriteFile and the port. */
static HANDLE sock_handle(sock_t s)
{
	return (HANDLE)s;
}

static void handle_close(HANDLE h)
{
	closesocket((SOCKET)h);
}
#else /* !_WIN32 */
#include <apc/windows.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

typedef int sock_t;
#define NO_SOCKET (-1)
#define SEND_FLAGS MSG_NOSIGNAL

static BOOL net_start(void)
{
	return TRUE;
}

static void net_stop(void)
{
}

static sock_t tcp_socket(void)
{
	return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

static int net_error(void)
{
	return errno;
}

static BOOL accept_transient(int err)
{
	return err == ECONNABORTED || err == EINTR;
}

static void sock_close(sock_t s)
{
	close(s);
}

/* The handle owns the descriptor from here on, also on failure. */
static HANDLE sock_handle(sock_t s)
{
	HANDLE h = NULL;
	DWORD err = apc_handle_from_fd(s, APC_FILE_FLAG_OVERLAPPED, &h);

	if (err != ERROR_SUCCESS) {
		SetLastError(err);
		return NULL;
	}
	return h;
}

static void handle_close(HANDLE h)
{
	CloseHandle(h);
}
#endif /* !_WIN32 */

/*
 * Echoes go out at once: with Nagle's algorithm the tail of a message
 * would wait for the peer's delayed acknowledgement (some 40 ms).
 */
static void no_delay(sock_t s)
{
	int on = 1;

	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&on, sizeof(on));
}

/* ---- the server: the same code on both systems ------------------------ */

#define WORKERS 4
#define BUF_SIZE 4096
#define STOP_KEY 0 /* connections' keys are their addresses */

/* One connection.  The OVERLAPPED is the first member, so a packet's
 * LPOVERLAPPED is its connection. */
struct conn {
	OVERLAPPED ov;
	HANDLE h;
	BOOL writing; /* the operation in flight: a write, else a read */
	DWORD len;    /* bytes in buf, to echo */
	DWORD sent;   /* bytes of them written */
	char buf[BUF_SIZE];
};

static HANDLE port;
static HANDLE closed_event; /* set at every connection's close */
static sock_t listener = NO_SOCKET;
static unsigned short listen_port;
static atomic_int stopping;
static atomic_long n_accepted, n_closed, n_eof, n_failed;
static atomic_llong n_echoed;

static void conn_close(struct conn *c)
{
	handle_close(c->h);
	free(c);
	atomic_fetch_add(&n_closed, 1);
	SetEvent(closed_event);
}

/*
 * Start the connection's next operation.  Whether it finishes at once
 * (TRUE) or later (ERROR_IO_PENDING), a packet comes to the port and a
 * worker takes it from there, maybe before this call returns: after
 * that, c belongs to that worker.  Anything else failed to start, and no
 * packet will come.
 */
static void conn_read(struct conn *c)
{
	DWORD err;

	c->writing = FALSE;
	memset(&c->ov, 0, sizeof(c->ov));
	if (ReadFile(c->h, c->buf, sizeof(c->buf), NULL, &c->ov))
		return;
	err = GetLastError();
	if (err == ERROR_IO_PENDING)
		return;
	atomic_fetch_add(&n_failed, 1);
	conn_close(c);
}

static void conn_write(struct conn *c)
{
	DWORD err;

	c->writing = TRUE;
	memset(&c->ov, 0, sizeof(c->ov));
	if (WriteFile(c->h, c->buf + c->sent, c->len - c->sent, NULL, &c->ov))
		return;
	err = GetLastError();
	if (err == ERROR_IO_PENDING)
		return;
	atomic_fetch_add(&n_failed, 1);
	conn_close(c);
}

static DWORD WINAPI worker(LPVOID arg)
{
	(void)arg;
	for (;;) {
		DWORD bytes = 0;
		ULONG_PTR key = 0;
		LPOVERLAPPED ov = NULL;
		BOOL ok = GetQueuedCompletionStatus(port, &bytes, &key, &ov,
						    INFINITE);
		struct conn *c = (struct conn *)ov;

		if (!ov) {
			if (ok && key == STOP_KEY)
				return 0;
			fprintf(stderr,
				"iocp-echo: GetQueuedCompletionStatus "
				"failed: error %lu\n",
				(unsigned long)GetLastError());
			return 1;
		}
		if (!ok) {
			/* The operation failed: the peer reset, or the
			 * connection broke. */
			atomic_fetch_add(&n_failed, 1);
			conn_close(c);
		} else if (!c->writing && bytes == 0) {
			/* The peer closed its side. */
			atomic_fetch_add(&n_eof, 1);
			conn_close(c);
		} else if (!c->writing) {
			c->len = bytes;
			c->sent = 0;
			conn_write(c);
		} else if (bytes == 0) {
			atomic_fetch_add(&n_failed, 1);
			conn_close(c);
		} else {
			atomic_fetch_add(&n_echoed, bytes);
			c->sent += bytes;
			if (c->sent < c->len)
				conn_write(c);
			else
				conn_read(c);
		}
	}
}

/* A new connection: bind it to the port and start its first read. */
static void serve(sock_t s)
{
	struct conn *c;
	HANDLE h;

	no_delay(s);
	h = sock_handle(s);
	if (!h) {
		fprintf(stderr, "iocp-echo: no handle for a socket: %lu\n",
			(unsigned long)GetLastError());
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		handle_close(h);
		return;
	}
	c->h = h;
	atomic_fetch_add(&n_accepted, 1);
	if (!CreateIoCompletionPort(h, port, (ULONG_PTR)c, 0)) {
		fprintf(stderr,
			"iocp-echo: CreateIoCompletionPort failed: "
			"error %lu\n",
			(unsigned long)GetLastError());
		atomic_fetch_add(&n_failed, 1);
		conn_close(c);
		return;
	}
	conn_read(c);
}

/* Accepts until `stopping` is set (and a connection wakes it up). */
static DWORD WINAPI acceptor(LPVOID arg)
{
	(void)arg;
	for (;;) {
		sock_t s = accept(listener, NULL, NULL);

		if (s == NO_SOCKET) {
			int err = net_error();

			if (!atomic_load(&stopping) && accept_transient(err))
				continue;
			if (atomic_load(&stopping))
				return 0;
			fprintf(stderr, "iocp-echo: accept failed: %d\n", err);
			return 1;
		}
		if (atomic_load(&stopping)) {
			sock_close(s);
			return 0;
		}
		serve(s);
	}
}

static sock_t connect_to_server(void)
{
	struct sockaddr_in a;
	sock_t s = tcp_socket();

	if (s == NO_SOCKET)
		return NO_SOCKET;
	no_delay(s);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(listen_port);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) != 0) {
		fprintf(stderr, "iocp-echo: connect failed: %d\n", net_error());
		sock_close(s);
		return NO_SOCKET;
	}
	return s;
}

/* The listener on 127.0.0.1:p (0: an ephemeral port, read back). */
static BOOL listen_on(unsigned short p)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);

	listener = tcp_socket();
	if (listener == NO_SOCKET)
		return FALSE;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(p);
	if (bind(listener, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(listener, SOMAXCONN) != 0 ||
	    getsockname(listener, (struct sockaddr *)&a, &alen) != 0) {
		fprintf(stderr, "iocp-echo: cannot listen on port %u: %d\n",
			(unsigned)p, net_error());
		sock_close(listener);
		listener = NO_SOCKET;
		return FALSE;
	}
	listen_port = ntohs(a.sin_port);
	return TRUE;
}

static HANDLE workers[WORKERS];
static HANDLE accept_thread;

static BOOL server_start(unsigned short p)
{
	int i;

	closed_event = CreateEventA(NULL, FALSE, FALSE, NULL);
	port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
	if (!closed_event || !port) {
		fprintf(stderr, "iocp-echo: set-up failed: error %lu\n",
			(unsigned long)GetLastError());
		return FALSE;
	}
	for (i = 0; i < WORKERS; i++) {
		workers[i] = CreateThread(NULL, 0, worker, NULL, 0, NULL);
		if (!workers[i]) {
			fprintf(stderr, "iocp-echo: CreateThread failed\n");
			return FALSE;
		}
	}
	if (!listen_on(p))
		return FALSE;
	accept_thread = CreateThread(NULL, 0, acceptor, NULL, 0, NULL);
	return accept_thread != NULL;
}

/* Wait until `count` connections have been closed, ms at most for each. */
static BOOL wait_closed(long count, DWORD ms)
{
	while (atomic_load(&n_closed) < count) {
		if (WaitForSingleObject(closed_event, ms) != WAIT_OBJECT_0) {
			fprintf(stderr,
				"iocp-echo: %ld of %ld connections closed\n",
				atomic_load(&n_closed), count);
			return FALSE;
		}
	}
	return TRUE;
}

/*
 * Stop accepting, wait for the open connections to end (their peers
 * close them), stop the workers and close every handle.  TRUE if every
 * thread ended with 0 and nothing failed on the way.
 */
static BOOL server_stop(DWORD ms)
{
	BOOL ok = TRUE;
	DWORD code;
	int i;
	sock_t wake;

	atomic_store(&stopping, 1);
	wake = connect_to_server(); /* accept() returns, sees `stopping` */
	if (WaitForSingleObject(accept_thread, ms) != WAIT_OBJECT_0) {
		fprintf(stderr, "iocp-echo: the acceptor did not end\n");
		return FALSE;
	}
	if (wake != NO_SOCKET)
		sock_close(wake);
	if (!GetExitCodeThread(accept_thread, &code) || code != 0)
		ok = FALSE;
	CloseHandle(accept_thread);
	sock_close(listener);

	if (!wait_closed(atomic_load(&n_accepted), ms))
		return FALSE;

	for (i = 0; i < WORKERS; i++) {
		if (!PostQueuedCompletionStatus(port, 0, STOP_KEY, NULL)) {
			fprintf(stderr,
				"iocp-echo: PostQueuedCompletionStatus "
				"failed: error %lu\n",
				(unsigned long)GetLastError());
			return FALSE;
		}
	}
	if (WaitForMultipleObjects(WORKERS, workers, TRUE, ms) !=
	    WAIT_OBJECT_0) {
		fprintf(stderr, "iocp-echo: the workers did not end\n");
		return FALSE;
	}
	for (i = 0; i < WORKERS; i++) {
		if (!GetExitCodeThread(workers[i], &code) || code != 0)
			ok = FALSE;
		if (!CloseHandle(workers[i]))
			ok = FALSE;
	}
	if (!CloseHandle(port) || !CloseHandle(closed_event))
		ok = FALSE;
	return ok;
}

/* ---- the self-test ------------------------------------------------------ */

#define MAX_CLIENTS 60	  /* one WaitForMultipleObjects waits for all */
#define MAX_MESSAGE 16384 /* below every loopback buffer: no deadlock */
#define WAIT_MS 30000

static DWORD messages;

static BOOL send_all(sock_t s, const char *p, DWORD len)
{
	while (len > 0) {
		long n = (long)send(s, p, (int)len, SEND_FLAGS);

		if (n <= 0)
			return FALSE;
		p += n;
		len -= (DWORD)n;
	}
	return TRUE;
}

static BOOL recv_all(sock_t s, char *p, DWORD len)
{
	while (len > 0) {
		long n = (long)recv(s, p, (int)len, 0);

		if (n <= 0)
			return FALSE;
		p += n;
		len -= (DWORD)n;
	}
	return TRUE;
}

static DWORD next_random(DWORD *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static char out_buf[MAX_CLIENTS][MAX_MESSAGE];
static char in_buf[MAX_CLIENTS][MAX_MESSAGE];
static atomic_llong client_bytes;

/* Sends `messages` messages of 1 to MAX_MESSAGE random bytes, one at a
 * time, and compares each echo with what it sent. */
static DWORD WINAPI client(LPVOID arg)
{
	DWORD id = (DWORD)(ULONG_PTR)arg, seed = 2463534242u + id * 7919u;
	char *out = out_buf[id], *in = in_buf[id];
	sock_t s = connect_to_server();
	DWORD m, i;

	if (s == NO_SOCKET)
		return 1;
	for (m = 0; m < messages; m++) {
		DWORD len = 1 + next_random(&seed) % MAX_MESSAGE;

		for (i = 0; i < len; i++)
			out[i] = (char)next_random(&seed);
		memset(in, 0, len);
		if (!send_all(s, out, len) || !recv_all(s, in, len)) {
			fprintf(stderr,
				"iocp-echo: client %lu: message %lu "
				"was cut short: %d\n",
				(unsigned long)id, (unsigned long)m,
				net_error());
			sock_close(s);
			return 1;
		}
		if (memcmp(out, in, len) != 0) {
			fprintf(stderr,
				"iocp-echo: client %lu: message %lu "
				"came back changed\n",
				(unsigned long)id, (unsigned long)m);
			sock_close(s);
			return 1;
		}
		atomic_fetch_add(&client_bytes, len);
	}
	sock_close(s);
	return 0;
}

/*
 * The peers that leave while the server reads: how = 0 closes after its
 * echo (the server's next read ends with 0 bytes), 1 resets after its
 * echo (SO_LINGER 0: the read fails), 2 closes with its echo unread (the
 * write or the next read may fail, or the read sees 0 bytes).
 */
static const char *const rude_names[] = {
	"a peer that closed",
	"a peer that reset",
	"a peer that closed with its echo unread",
};

static BOOL rude_peer(int how)
{
	static char big[MAX_MESSAGE];
	char echo[5];
	struct linger lg;
	sock_t s = connect_to_server();

	if (s == NO_SOCKET)
		return FALSE;
	if (how == 2) {
		memset(big, 'x', sizeof(big));
		if (!send_all(s, big, sizeof(big)))
			goto fail;
		sock_close(s);
		return TRUE;
	}
	if (!send_all(s, "hello", 5) || !recv_all(s, echo, 5) ||
	    memcmp(echo, "hello", 5) != 0)
		goto fail;
	if (how == 1) {
		lg.l_onoff = 1;
		lg.l_linger = 0;
		if (setsockopt(s, SOL_SOCKET, SO_LINGER, (const char *)&lg,
			       sizeof(lg)) != 0)
			goto fail;
	}
	sock_close(s);
	return TRUE;
fail:
	fprintf(stderr, "iocp-echo: peer %d failed: %d\n", how, net_error());
	sock_close(s);
	return FALSE;
}

static int self_test(DWORD clients)
{
	HANDLE threads[MAX_CLIENTS];
	BOOL ok = TRUE;
	DWORD i, code;
	long long expect;

	if (!server_start(0))
		return 1;
	printf("iocp-echo: listening on 127.0.0.1:%u, %d workers\n",
	       (unsigned)listen_port, WORKERS);

	/* Rude peers first, one at a time: the server must see each leave,
	 * close its connection and go on serving.  Each connection closes
	 * once, after a read of 0 bytes or a failed operation. */
	for (i = 0; i < 3; i++) {
		long eof = atomic_load(&n_eof);

		if (!rude_peer((int)i) || !wait_closed((long)i + 1, WAIT_MS))
			return 1;
		eof = atomic_load(&n_eof) - eof;
		printf("iocp-echo: %s: the server closed the connection "
		       "after %s\n",
		       rude_names[i],
		       eof ? "a read of 0 bytes" : "a failed operation");
		/* A plain close is always a read of 0 bytes; a reset is a
		 * failed read on Linux and on Windows, a read of 0 bytes
		 * now and then under Wine. */
		if (i == 0 && !eof) {
			fprintf(stderr, "iocp-echo: a close must end the "
					"read with 0 bytes\n");
			ok = FALSE;
		}
	}

	for (i = 0; i < clients; i++) {
		threads[i] = CreateThread(NULL, 0, client, (LPVOID)(ULONG_PTR)i,
					  0, NULL);
		if (!threads[i]) {
			fprintf(stderr, "iocp-echo: CreateThread failed\n");
			return 1;
		}
	}
	if (WaitForMultipleObjects(clients, threads, TRUE, 10 * WAIT_MS) !=
	    WAIT_OBJECT_0) {
		fprintf(stderr, "iocp-echo: the clients did not finish\n");
		return 1;
	}
	for (i = 0; i < clients; i++) {
		if (!GetExitCodeThread(threads[i], &code) || code != 0)
			ok = FALSE;
		CloseHandle(threads[i]);
	}

	if (!server_stop(WAIT_MS))
		ok = FALSE;
	expect = atomic_load(&client_bytes) + 10; /* + the two hellos */
	printf("iocp-echo: %lu clients x %lu messages: %lld bytes echoed, "
	       "%ld connections accepted, %ld closed\n",
	       (unsigned long)clients, (unsigned long)messages,
	       atomic_load(&n_echoed), atomic_load(&n_accepted),
	       atomic_load(&n_closed));
	if (atomic_load(&n_echoed) < expect) {
		fprintf(stderr, "iocp-echo: %lld bytes echoed, %lld sent\n",
			atomic_load(&n_echoed), expect);
		ok = FALSE;
	}
	if (atomic_load(&n_accepted) != (long)clients + 3 ||
	    atomic_load(&n_closed) != atomic_load(&n_accepted))
		ok = FALSE;
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	int r;

	if (argc == 4 && strcmp(argv[1], "--self-test") == 0) {
		DWORD clients = (DWORD)strtoul(argv[2], NULL, 10);

		messages = (DWORD)strtoul(argv[3], NULL, 10);
		if (clients < 1 || clients > MAX_CLIENTS) {
			fprintf(stderr, "iocp-echo: 1 to %d clients\n",
				MAX_CLIENTS);
			return 2;
		}
		if (!net_start())
			return 1;
		r = self_test(clients);
		net_stop();
		printf("iocp-echo: self-test %s\n", r ? "FAILED" : "passed");
		return r;
	}
	if (argc == 2 && argv[1][0] != '-') {
		unsigned long p = strtoul(argv[1], NULL, 10);

		if (p == 0 || p > 65535) {
			fprintf(stderr, "iocp-echo: PORT is 1 to 65535\n");
			return 2;
		}
		if (!net_start())
			return 1;
		if (!server_start((unsigned short)p))
			return 1;
		printf("iocp-echo: listening on 127.0.0.1:%u; end stdin to "
		       "stop\n",
		       (unsigned)listen_port);
		fflush(stdout);
		while (getchar() != EOF)
			;
		printf("iocp-echo: waiting for the open connections to "
		       "close\n");
		fflush(stdout);
		r = server_stop(INFINITE) ? 0 : 1;
		net_stop();
		return r;
	}
	fprintf(stderr, "usage: iocp-echo PORT\n"
			"       iocp-echo --self-test CLIENTS MESSAGES\n");
	return 2;
}

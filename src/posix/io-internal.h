/*
 * apcrt POSIX engine: overlapped I/O, shared by io.c (handles, requests,
 * completion delivery, the API) and the two engines that move the bytes:
 * io-uring.c (io_uring) and io-fallback.c (epoll, and regular files in the
 * calling thread).
 *
 * A request's life:
 *   io.c checks the call, sets Internal = PENDING, links the request on
 *   its file's in-flight list and hands it to the engine (submit);
 *   the engine calls apc__io_done exactly once with the result (bytes or
 *   -errno), from wherever it learns it: the issuing thread's own ring,
 *   the process-wide engine thread, or the cancelling thread;
 *   apc__io_done unlinks it, publishes Internal/InternalHigh (release),
 *   then notifies: a completion routine as an APC to the issuing thread,
 *   or the event (else the file) and the bound port.
 * Cancellation marks the request and asks the engine (under the file's
 * io_lock, so the request cannot complete and vanish meanwhile).
 */
#ifndef APC_POSIX_IO_INTERNAL_H
#define APC_POSIX_IO_INTERNAL_H

#include "internal.h"

enum { APC__IO_READ, APC__IO_WRITE, APC__IO_CONNECT };
enum { APC__IO_ROUTINE, APC__IO_NOTIFY };
enum {
	APC__IO_FILE,
	APC__IO_PIPE,
	APC__IO_SOCKET,
	APC__IO_OTHER,
	APC__IO_NPIPE, /* a named pipe: a socket that reads 0 as a broken pipe
			*/
};

struct apc__io;

struct apc__file {
	struct apc__object hdr; /* hdr.lock guards signalled */
	int fd;
	uint8_t kind;
	bool readable, writable, overlapped;
	bool signalled; /* E9: set by a NULL-event completion */
	bool closed;	/* the last handle is closed; fd is -1 */
	uint32_t modes; /* APC_FILE_SKIP_* (atomic access) */

	/* Under io_lock. */
	apc__lock io_lock;
	struct apc__io *reqs;	  /* in flight, newest first */
	struct apc__object *port; /* bound port (a reference), or NULL */
	uintptr_t key;

	/* Fallback engine, under io_lock: waiting stream operations in
	 * order, and what the epoll set watches for. */
	struct apc__io *rq, *rq_tail, *wq, *wq_tail;
	uint32_t ep_events;
	bool ep_added;

	/* Named pipes (npipe.c): the instance or client state, including
	 * the framing of the stream (messages, the disconnect notice). */
	struct apc__npipe *np;
	bool msg_type, msg_read;
	bool broken_on_cancel; /* closing: cancelled means a broken pipe */
	bool ending; /* closing or disconnecting: every operation ends */
};

struct apc__io {
	struct apc__io *prev, *next;   /* file->reqs, under io_lock */
	struct apc__io *qnext;	       /* fallback engine queues */
	struct apc__io *tprev, *tnext; /* thread->io_reqs, under its io_lock */
	struct apc__io *hnext;	       /* the in-flight registry (E13) */
	struct apc__file *file;	       /* a reference */
	apc_overlapped *ov;
	char *buf;
	uint32_t len;
	uint32_t done; /* bytes already moved (a stream write in parts) */
	uint8_t op, mode;
	bool append;	/* write at the end of the file */
	bool no_port;	/* hEvent's low bit (E28) */
	bool cancelled; /* under io_lock: a cancel was asked */
	bool at_pos;	/* a synchronous file operation at the file position */
	bool more;	/* a message read in part: STATUS_BUFFER_OVERFLOW */
	bool msg0;	/* a named pipe read of 0 bytes that is a success (an
			 * empty message, a zero-byte read that saw data) */
	bool via_fallback; /* a named-pipe operation on the io_uring engine */
	uint32_t sent;	   /* a named-pipe write: frame bytes sent */
	bool linked;	   /* in the lists of operations in flight; holds a
			    * reference on thread */
	uint64_t off;
	struct apc__thread *thread; /* the issuing thread, a reference */
	apc_io_fn fn;
	struct apc__object *event; /* a reference, or NULL */
	void *ring;		   /* io_uring engine: where it was submitted */
	uint32_t err, bytes;	   /* the result, for the routine (E16) */
};

struct apc__io_engine {
	const char *name;
	/* Start req.  0, or an error: the request was not started and
	 * io.c unlinks and frees it without a notification. */
	uint32_t (*submit)(struct apc__io *req);
	/* Under req->file->io_lock: make a started request end soon.  True:
	 * the engine gave it up, and io.c completes it as cancelled. */
	bool (*cancel)(struct apc__io *req);
	/* The last handle of f is closing: forget f (the fallback drops it
	 * from its epoll set).  f's requests are already cancelled. */
	void (*forget)(struct apc__file *f);
};

extern const struct apc__io_engine apc__io_fallback;
extern const struct apc__io_engine apc__io_uring;

/* io-uring.c: can io_uring run here?  1 yes, -1 no (remembered), or a
 * transient -errno (no descriptors or memory to try; not remembered). */
int apc__io_uring_probe(void);

/* io-uring.c, owner: should a routine's operation join a batch on t's
 * ring rather than be tried at once? */
bool apc__uring_batching(struct apc__thread *t);

/*
 * The end of a request: res is the byte count or -errno.  on_owner: the
 * caller is the issuing thread (a routine is then queued without an
 * atomic operation).
 */
void apc__io_done(struct apc__io *req, int32_t res, bool on_owner);

/* Try (the rest of) the operation without blocking: bytes moved by this
 * call, or -errno (-EAGAIN).  Regular files block on the fallback engine. */
int32_t apc__io_try(struct apc__io *req);

/* Test hook: the next n request allocations fail (ENOMEM injection). */
void apc__io_test_fail_alloc(unsigned n);

/* errno to Win32 error. */
uint32_t apc__errno_to_error(int e);

/*
 * io.c for npipe.c: make an I/O handle of kind over fd (-1: none yet),
 * returning the object (no reference) as well as the handle; and enter a
 * pending operation of op (APC__IO_CONNECT) on f with ov, as a started
 * overlapped operation is (Internal pending, its event reset, cancellable),
 * for npipe.c to finish with apc__io_done.
 */
uint32_t apc__file_make(int fd, uint8_t kind, bool overlapped, bool readable,
			bool writable, struct apc__file **f, apc_handle *out);
uint32_t apc__io_pending(struct apc__file *f, apc_overlapped *ov, uint8_t op,
			 struct apc__io **out);

/* npipe.c for io.c: end a pending connect (true: io.c completes it as
 * cancelled); the last handle of a named pipe is closing; its object
 * goes. */
bool apc__npipe_cancel(struct apc__io *req);
void apc__npipe_last_handle(struct apc__file *f);
void apc__npipe_free(struct apc__file *f);

/* npipe.c: apc__io_try for a named pipe (the framed stream: see npipe.c).
 * A read ends whole or not at all; a write is one frame, moved in parts
 * (req->sent) until it is all sent: the result is its byte count, or
 * -EAGAIN until then. */
int32_t apc__npipe_try(struct apc__io *req);

/* The largest named-pipe write: one frame (2 GiB - 1). */
#define APC__NPIPE_FRAME_MAX 0x7FFFFFFFu

/* npipe.c: why a server instance without a client takes no read or write:
 * ERROR_PIPE_LISTENING, or ERROR_PIPE_NOT_CONNECTED after a disconnect. */
uint32_t apc__npipe_no_client(struct apc__file *f);

#endif /* APC_POSIX_IO_INTERNAL_H */

/*
 * apcrt: I/O completion ports.
 *
 * Contract: ../shared/spec/win32-apc-contract.md section F.  A port is a
 * queue of completion packets: apc_port_post queues one by hand, and
 * every operation on an I/O handle bound to the port (apc_port_bind)
 * queues one when it finishes (<apc/io.h>).  Close it with apc_close().
 *
 * Concurrency in user space: apcrt counts a thread as running from its
 * return from apc_port_get(_many) until it calls into the port again,
 * blocks in an apcrt wait, or ends.  A thread blocked in any other system
 * call (read(), poll(), a pthread lock) still counts as running, which
 * Windows would not (F24).
 */
#ifndef APC_PORT_H
#define APC_PORT_H

#include <stdbool.h>

#include "defs.h"
#include "io.h"
#include "status.h"

APC_BEGIN_DECLS

/* One dequeued packet (OVERLAPPED_ENTRY, F15); Internal is its status. */
typedef struct apc_overlapped_entry {
	uintptr_t lpCompletionKey;
	apc_overlapped *lpOverlapped;
	uintptr_t Internal;
	uint32_t dwNumberOfBytesTransferred;
} apc_overlapped_entry;

/* ---- completion ports --------------------------------------------------- */

/*
 * apc_port_create - a completion port (CreateIoCompletionPort with
 * INVALID_HANDLE_VALUE, F1).  concurrency 0 means the number of
 * processors.  The port is waitable: signalled while packets are queued;
 * a wait on it removes nothing (F25).
 */
APC_API uint32_t apc_port_create(uint32_t concurrency, apc_handle *out);

/*
 * apc_port_bind - bind an overlapped I/O handle to a port with a key
 * (CreateIoCompletionPort with a file and a port, F2).  A handle is bound
 * once for its life (F5).  Returns 0, APC_ERROR_INVALID_HANDLE, or
 * APC_ERROR_INVALID_PARAMETER (already bound, or a synchronous handle,
 * F4).
 */
APC_API uint32_t apc_port_bind(apc_handle port, apc_handle h, uintptr_t key);

/*
 * apc_port_post - PostQueuedCompletionStatus (F20): queue a packet with
 * these values verbatim and status success.  Returns 0,
 * APC_ERROR_INVALID_HANDLE (F21) or APC_ERROR_NOT_ENOUGH_MEMORY.
 */
APC_API uint32_t apc_port_post(apc_handle port, uint32_t bytes, uintptr_t key,
			       apc_overlapped *ov);

/*
 * apc_port_get - GetQueuedCompletionStatus
 *
 * Dequeues the oldest packet (F9), waiting up to ms for one; waiting
 * threads are served last-in first-out (F10).  Returns 0 with *bytes,
 * *key, *ov set (F11); the operation's error with all three set when the
 * packet is for a failed operation (F12); APC_WAIT_TIMEOUT with *ov NULL
 * (F13); APC_ERROR_ABANDONED_WAIT_0 with *ov NULL when the port is closed
 * while waiting (F14).  Never alertable (F19).
 */
APC_API uint32_t apc_port_get(apc_handle port, uint32_t *bytes, uintptr_t *key,
			      apc_overlapped **ov, uint32_t ms);

/*
 * apc_port_get_many - GetQueuedCompletionStatusEx
 *
 * Removes up to n packets at once into entries (F15): 0 when at least one
 * was removed (*removed says how many), APC_WAIT_TIMEOUT, or
 * APC_ERROR_ABANDONED_WAIT_0 (F16); with alertable, APC_WAIT_IO_COMPLETION
 * when APCs ran instead (F17, F18).
 */
APC_API uint32_t apc_port_get_many(apc_handle port,
				   apc_overlapped_entry *entries, uint32_t n,
				   uint32_t *removed, uint32_t ms,
				   bool alertable);

APC_END_DECLS

#endif /* APC_PORT_H */

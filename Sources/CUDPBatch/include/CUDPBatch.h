// Batched UDP I/O for ProxyNet's UDPFastPath (Linux): recvmmsg into preallocated slots and
// sendmmsg of queued datagrams, with UDP GSO (UDP_SEGMENT) merging consecutive datagrams of one
// size to one destination into one segmented message. The datagrams queued for a send are not
// copied: the messages point at the caller's memory (normally the receive slots), so a sender
// must be flushed before the slots are reused. Plus the epoll and eventfd calls the loop needs.
#ifndef CUDPBATCH_H
#define CUDPBATCH_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

/// Receive slots for one recvmmsg call.
typedef struct cudp_recv_batch cudp_recv_batch;

cudp_recv_batch *cudp_recv_batch_create(unsigned count, unsigned slot_size);
void cudp_recv_batch_destroy(cudp_recv_batch *batch);
/// recvmmsg(MSG_DONTWAIT) into the slots: the number of datagrams, or -errno (-EAGAIN: none).
int cudp_recv(int fd, cudp_recv_batch *batch);
const uint8_t *cudp_recv_data(const cudp_recv_batch *batch, unsigned i);
unsigned cudp_recv_length(const cudp_recv_batch *batch, unsigned i);
/// Nonzero when the datagram did not fit its slot (the kernel cut it).
int cudp_recv_truncated(const cudp_recv_batch *batch, unsigned i);
const struct sockaddr_storage *cudp_recv_source(const cudp_recv_batch *batch, unsigned i);

/// Queued datagrams for one sendmmsg call (at most `max_datagrams`).
typedef struct cudp_sender cudp_sender;

cudp_sender *cudp_sender_create(unsigned max_datagrams);
void cudp_sender_destroy(cudp_sender *sender);
/// Datagrams queued.
unsigned cudp_sender_count(const cudp_sender *sender);
/// Queues a datagram (not copied) to `destination` (NULL on a connected socket; the pointer must
/// stay valid until the flush). With `gso`, a datagram of the previous one's size to the same
/// destination joins its message as one more segment. Returns 0, or -1 when the sender is full
/// (flush first).
int cudp_sender_add(cudp_sender *sender, const void *data, unsigned length,
                    const struct sockaddr_storage *destination, int gso);
/// Sends what is queued (sendmmsg, MSG_DONTWAIT) and empties the sender. Returns the number of
/// datagrams not sent (the socket would block, or an error); `*error` gets the first errno other
/// than EAGAIN (0 if none), `*gso_failed` is set when a segmented message failed with EIO (the
/// route's device cannot segment: the caller should stop using GSO).
unsigned cudp_sender_flush(int fd, cudp_sender *sender, int *error, int *gso_failed);

/// Same family, address and port (IPv4 and IPv6).
int cudp_address_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

int cudp_epoll_create(void);
/// Adds `fd` for input with `token` as its event data; 0 or -errno.
int cudp_epoll_add(int epoll_fd, int fd, uint64_t token);
int cudp_epoll_remove(int epoll_fd, int fd);
/// epoll_wait into `tokens` / `flags` (flags: 1 readable, 2 error or hang-up); count or -errno.
int cudp_epoll_wait(int epoll_fd, uint64_t *tokens, uint32_t *flags, int max_events, int timeout_ms);
int cudp_eventfd(void);
void cudp_eventfd_signal(int fd);
void cudp_eventfd_drain(int fd);
/// A pending socket error (SO_ERROR), cleared; 0 if none.
int cudp_socket_error(int fd);

#endif

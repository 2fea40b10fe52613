#ifdef __linux__
#define _GNU_SOURCE
#include "CUDPBatch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/udp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

struct cudp_recv_batch {
    unsigned count;
    unsigned slot_size;
    struct mmsghdr *messages;
    struct iovec *iovecs;
    struct sockaddr_storage *sources;
    uint8_t *data;
};

cudp_recv_batch *cudp_recv_batch_create(unsigned count, unsigned slot_size) {
    cudp_recv_batch *b = calloc(1, sizeof(*b));
    if (!b) return NULL;
    b->count = count;
    b->slot_size = slot_size;
    b->messages = calloc(count, sizeof(struct mmsghdr));
    b->iovecs = calloc(count, sizeof(struct iovec));
    b->sources = calloc(count, sizeof(struct sockaddr_storage));
    b->data = malloc((size_t)count * slot_size);
    if (!b->messages || !b->iovecs || !b->sources || !b->data) {
        cudp_recv_batch_destroy(b);
        return NULL;
    }
    for (unsigned i = 0; i < count; i++) {
        b->iovecs[i].iov_base = b->data + (size_t)i * slot_size;
        b->iovecs[i].iov_len = slot_size;
        b->messages[i].msg_hdr.msg_iov = &b->iovecs[i];
        b->messages[i].msg_hdr.msg_iovlen = 1;
        b->messages[i].msg_hdr.msg_name = &b->sources[i];
    }
    return b;
}

void cudp_recv_batch_destroy(cudp_recv_batch *b) {
    if (!b) return;
    free(b->messages);
    free(b->iovecs);
    free(b->sources);
    free(b->data);
    free(b);
}

int cudp_recv(int fd, cudp_recv_batch *b) {
    for (unsigned i = 0; i < b->count; i++) {
        b->messages[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
        b->messages[i].msg_hdr.msg_flags = 0;
        b->messages[i].msg_len = 0;
    }
    int n;
    do {
        n = recvmmsg(fd, b->messages, b->count, MSG_DONTWAIT, NULL);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

const uint8_t *cudp_recv_data(const cudp_recv_batch *b, unsigned i) { return b->data + (size_t)i * b->slot_size; }
unsigned cudp_recv_length(const cudp_recv_batch *b, unsigned i) { return b->messages[i].msg_len; }
int cudp_recv_truncated(const cudp_recv_batch *b, unsigned i) { return (b->messages[i].msg_hdr.msg_flags & MSG_TRUNC) != 0; }
const struct sockaddr_storage *cudp_recv_source(const cudp_recv_batch *b, unsigned i) { return &b->sources[i]; }

/// One message's control buffer: a UDP_SEGMENT cmsg.
typedef union {
    char buffer[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
} cudp_segment_control;

struct cudp_sender {
    unsigned max;
    unsigned messages_used;
    unsigned iovecs_used;
    struct mmsghdr *messages;
    struct iovec *iovecs;
    cudp_segment_control *controls;
    /// Per message: segment size, datagram count, payload bytes.
    unsigned *segment_size;
    unsigned *datagrams;
    unsigned *bytes;
    const struct sockaddr_storage **destinations;
};

cudp_sender *cudp_sender_create(unsigned max) {
    cudp_sender *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->max = max;
    s->messages = calloc(max, sizeof(struct mmsghdr));
    s->iovecs = calloc(max, sizeof(struct iovec));
    s->controls = calloc(max, sizeof(cudp_segment_control));
    s->segment_size = calloc(max, sizeof(unsigned));
    s->datagrams = calloc(max, sizeof(unsigned));
    s->bytes = calloc(max, sizeof(unsigned));
    s->destinations = calloc(max, sizeof(void *));
    if (!s->messages || !s->iovecs || !s->controls || !s->segment_size || !s->datagrams || !s->bytes || !s->destinations) {
        cudp_sender_destroy(s);
        return NULL;
    }
    return s;
}

void cudp_sender_destroy(cudp_sender *s) {
    if (!s) return;
    free(s->messages);
    free(s->iovecs);
    free(s->controls);
    free(s->segment_size);
    free(s->datagrams);
    free(s->bytes);
    free(s->destinations);
    free(s);
}

unsigned cudp_sender_count(const cudp_sender *s) { return s->iovecs_used; }

/// The kernel takes at most 64 segments and 64 KiB of payload in one segmented send.
#define CUDP_MAX_SEGMENTS 64
#define CUDP_MAX_GSO_BYTES 65000

int cudp_sender_add(cudp_sender *s, const void *data, unsigned length, const struct sockaddr_storage *destination, int gso) {
    if (s->iovecs_used == s->max) return -1;
    struct iovec *iov = &s->iovecs[s->iovecs_used++];
    iov->iov_base = (void *)data;
    iov->iov_len = length;
    if (gso && s->messages_used > 0) {
        unsigned m = s->messages_used - 1;
        if (s->segment_size[m] == length && s->destinations[m] == destination && s->datagrams[m] < CUDP_MAX_SEGMENTS &&
            s->bytes[m] + length <= CUDP_MAX_GSO_BYTES) {
            s->messages[m].msg_hdr.msg_iovlen++;
            s->datagrams[m]++;
            s->bytes[m] += length;
            return 0;
        }
    }
    unsigned m = s->messages_used++;
    struct msghdr *h = &s->messages[m].msg_hdr;
    memset(h, 0, sizeof(*h));
    h->msg_iov = iov;
    h->msg_iovlen = 1;
    if (destination) {
        h->msg_name = (void *)destination;
        h->msg_namelen = destination->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    }
    s->segment_size[m] = length;
    s->datagrams[m] = 1;
    s->bytes[m] = length;
    s->destinations[m] = destination;
    return 0;
}

/// Gives the messages of more than one datagram their UDP_SEGMENT control message.
static void cudp_sender_prepare(cudp_sender *s) {
    for (unsigned m = 0; m < s->messages_used; m++) {
        struct msghdr *h = &s->messages[m].msg_hdr;
        if (s->datagrams[m] < 2) {
            h->msg_control = NULL;
            h->msg_controllen = 0;
            continue;
        }
        h->msg_control = s->controls[m].buffer;
        h->msg_controllen = sizeof(s->controls[m].buffer);
        struct cmsghdr *c = CMSG_FIRSTHDR(h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t size = (uint16_t)s->segment_size[m];
        memcpy(CMSG_DATA(c), &size, sizeof(size));
    }
}

unsigned cudp_sender_flush(int fd, cudp_sender *s, int *error, int *gso_failed) {
    *error = 0;
    *gso_failed = 0;
    unsigned lost = 0;
    cudp_sender_prepare(s);
    unsigned m = 0;
    while (m < s->messages_used) {
        int n = sendmmsg(fd, s->messages + m, s->messages_used - m, MSG_DONTWAIT);
        if (n > 0) {
            m += (unsigned)n;
            continue;
        }
        int e = n < 0 ? errno : EAGAIN;
        if (e == EINTR) continue;
        if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
            // The socket's buffer is full: what is left is lost, as on a full link.
            for (; m < s->messages_used; m++) lost += s->datagrams[m];
            break;
        }
        // The first message failed: count it and go on with the next.
        if (e == EIO && s->datagrams[m] > 1) *gso_failed = 1;
        else if (*error == 0) *error = e;
        lost += s->datagrams[m];
        m++;
    }
    s->messages_used = 0;
    s->iovecs_used = 0;
    return lost;
}

int cudp_address_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family) return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a, *y = (const struct sockaddr_in *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a, *y = (const struct sockaddr_in6 *)b;
        return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0 &&
               x->sin6_scope_id == y->sin6_scope_id;
    }
    return 0;
}

int cudp_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int cudp_epoll_add(int epoll_fd, int fd, uint64_t token) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = token};
    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int cudp_epoll_remove(int epoll_fd, int fd) {
    return epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

int cudp_epoll_wait(int epoll_fd, uint64_t *tokens, uint32_t *flags, int max_events, int timeout_ms) {
    struct epoll_event events[64];
    if (max_events > 64) max_events = 64;
    int n = epoll_wait(epoll_fd, events, max_events, timeout_ms);
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) {
        tokens[i] = events[i].data.u64;
        flags[i] = ((events[i].events & EPOLLIN) ? 1u : 0u) | ((events[i].events & (EPOLLERR | EPOLLHUP)) ? 2u : 0u);
    }
    return n;
}

int cudp_eventfd(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

void cudp_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t r;
    do {
        r = write(fd, &one, sizeof(one));
    } while (r < 0 && errno == EINTR);
}

void cudp_eventfd_drain(int fd) {
    uint64_t value;
    ssize_t r;
    do {
        r = read(fd, &value, sizeof(value));
    } while (r < 0 && errno == EINTR);
}

int cudp_socket_error(int fd) {
    int value = 0;
    socklen_t length = sizeof(value);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) < 0) return errno;
    return value;
}
#endif

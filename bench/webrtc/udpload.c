// UDP load generator and sink for bench/webrtc (Linux, sendmmsg/recvmmsg).
//   udpload sink PORT SECONDS            counts datagrams until SECONDS pass or 1 s after the last one;
//                                        prints "received N"
//   udpload send PORT SESSIONS PPS SECONDS SIZE [USERNAME...]
//       opens SESSIONS sockets to 127.0.0.1:PORT; each first sends a STUN Binding Request with its
//       USERNAME (if given), then SIZE-byte RTP-like datagrams at PPS per session (0 = as fast as
//       possible) for SECONDS; prints "sent N"
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int sink(int port, double seconds) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int buf = 16 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("bind"); return 1; }
    printf("sink ready\n");
    fflush(stdout);
    static char data[BATCH][2048];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    long long received = 0;
    double start = now(), last = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        double t = now();
        if (t - start > seconds || (last > 0 && t - last > 1.0)) break;
        if (poll(&p, 1, 100) <= 0) continue;
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = data[i];
            iov[i].iov_len = sizeof data[i];
            memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n > 0) {
            received += n;
            last = now();
        }
    }
    printf("received %lld\n", received);
    return 0;
}

static int stun(unsigned char *out, const char *user, int session) {
    int len = strlen(user), pad = (4 - len % 4) % 4, alen = 4 + len + pad;
    unsigned char h[20] = {0x00, 0x01, alen >> 8, alen & 0xff, 0x21, 0x12, 0xA4, 0x42};
    for (int i = 8; i < 20; i++) h[i] = (unsigned char)(session * 31 + i);
    memcpy(out, h, 20);
    out[20] = 0x00; out[21] = 0x06; out[22] = len >> 8; out[23] = len & 0xff;
    memcpy(out + 24, user, len);
    memset(out + 24 + len, 0, pad);
    return 20 + alen;
}

static int sendload(int port, int sessions, double pps, double seconds, int size, char **users, int nusers) {
    int *fds = calloc(sessions, sizeof(int));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    unsigned char packet[2048];
    for (int s = 0; s < sessions; s++) {
        fds[s] = socket(AF_INET, SOCK_DGRAM, 0);
        int buf = 4 << 20;
        setsockopt(fds[s], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
        connect(fds[s], (struct sockaddr *)&a, sizeof a);
        if (s < nusers) {
            int n = stun(packet, users[s], s);
            send(fds[s], packet, n, 0);
        }
    }
    usleep(300000);  // the proxy makes each session's backend socket
    memset(packet, 0, sizeof packet);
    packet[0] = 0x80;  // RTP version 2: not STUN
    packet[1] = 96;
    struct mmsghdr msgs[BATCH];
    struct iovec iov = {.iov_base = packet, .iov_len = size};
    for (int i = 0; i < BATCH; i++) {
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_iov = &iov;
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    long long sent = 0, *each = calloc(sessions, sizeof(long long));
    double start = now();
    for (;;) {
        double t = now() - start;
        if (t >= seconds) break;
        int progressed = 0;
        for (int s = 0; s < sessions; s++) {
            long long due = pps > 0 ? (long long)(t * pps) + 1 : each[s] + BATCH;
            int n = due - each[s];
            if (n <= 0) continue;
            if (n > BATCH) n = BATCH;
            int k = sendmmsg(fds[s], msgs, n, 0);
            if (k > 0) { each[s] += k; sent += k; progressed = 1; }
        }
        if (pps > 0 && !progressed) usleep(500);
    }
    printf("sent %lld\n", sent);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && !strcmp(argv[1], "sink")) return sink(atoi(argv[2]), atof(argv[3]));
    if (argc >= 7 && !strcmp(argv[1], "send"))
        return sendload(atoi(argv[2]), atoi(argv[3]), atof(argv[4]), atof(argv[5]), atoi(argv[6]), argv + 7, argc - 7);
    fprintf(stderr, "usage: udpload sink PORT SECONDS | send PORT SESSIONS PPS SECONDS SIZE [USERNAME...]\n");
    return 2;
}

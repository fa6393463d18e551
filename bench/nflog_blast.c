/* Bounded UDP traffic for bench/nflog_rate.py: COUNT datagrams of PAYLOAD bytes to
 * 127.0.0.1:PORT, paced at RATE per second (0: as fast as it can), in batches of 32 (sendmmsg).
 * Prints "<sent> <seconds>". Never loops forever: COUNT bounds it, a send error ends it. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    enum { BATCH = 32 };
    static char payload[1472];
    struct mmsghdr m[BATCH];
    if (argc != 5) {
        fprintf(stderr, "usage: %s PORT COUNT RATE PAYLOAD\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    long count = atol(argv[2]);
    double rate = atof(argv[3]);
    int plen = atoi(argv[4]);
    if (plen < 0 || plen > (int)sizeof payload || count < 0) return 2;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a)) {
        perror("socket");
        return 1;
    }
    struct iovec iov = {.iov_base = payload, .iov_len = plen};
    memset(m, 0, sizeof m);
    for (int i = 0; i < BATCH; i++) {
        m[i].msg_hdr.msg_iov = &iov;
        m[i].msg_hdr.msg_iovlen = 1;
    }
    long sent = 0;
    double start = now();
    while (sent < count) {
        int n = count - sent < BATCH ? (int)(count - sent) : BATCH;
        if (rate > 0)
            while (now() < start + sent / rate)
                ;
        int r = sendmmsg(s, m, n, 0);
        if (r < 0) {
            perror("sendmmsg");
            break;
        }
        sent += r;
    }
    printf("%ld %.6f\n", sent, now() - start);
    return 0;
}

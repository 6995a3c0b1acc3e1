/* A TLS echo server in C for bench/scale.py: one epoll loop, non-blocking sockets, OpenSSL, 127.0.0.1.
 *
 * Why C: the Python echo server (emulator.servers.tls_servers.TlsServer) spent 78-102 us of CPU a round
 * trip on the same 2 cores as the emulator under test. Why not `openssl s_server`: it serves one
 * connection at a time (its loop accepts, serves that client until it leaves, then accepts the next), and
 * the closed loop needs 256 at once.
 *
 * Configured as the Python server's defaults (ServerSettings): the same chain and key, cipher string
 * "ALL:@SECLEVEL=0" with the server's preference (as CPython sets), ffdhe2048 for DHE. What was
 * negotiated is printed at the end, as common.serve_tls does, so a run shows the same suite as before.
 *
 *   argv: tls_echo CHAIN.pem KEY.pem DH.pem
 *   stdout {"port": N}                  once listening
 *   stdin  closed                       -> stop
 *   stdout {"suites": [[version, cipher], ...], "count": handshakes}
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SUITES 16
#define STDIN_TAG UINTPTR_MAX
#define LISTEN_TAG (UINTPTR_MAX - 1)

struct conn {
    int fd;
    SSL *ssl;
    int handshaken;
    unsigned char pending[16384];
    int pending_len;
};

static char suites[MAX_SUITES][96];
static int n_suites, handshakes;

static void fail(const char *what) {
    fprintf(stderr, "tls_echo: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static void drop(int ep, struct conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    SSL_free(c->ssl);
    close(c->fd);
    free(c);
}

static void note_suite(SSL *ssl) {
    char name[96];
    snprintf(name, sizeof name, "[\"%s\", \"%s\"]", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
    handshakes++;
    for (int i = 0; i < n_suites; i++)
        if (!strcmp(suites[i], name)) return;
    if (n_suites < MAX_SUITES) strcpy(suites[n_suites++], name);
}

/* Flush what SSL_write could not take; returns 0 if the connection is gone. */
static int flush(int ep, struct conn *c) {
    while (c->pending_len) {
        int n = SSL_write(c->ssl, c->pending, c->pending_len);
        if (n > 0) {
            memmove(c->pending, c->pending + n, (size_t)(c->pending_len - n));
            c->pending_len -= n;
            continue;
        }
        int err = SSL_get_error(c->ssl, n);
        if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            return 1;
        }
        return 0;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    return 1;
}

/* Handshake, then echo every record's bytes back; returns 0 if the connection is gone. */
static int serve(int ep, struct conn *c) {
    if (!c->handshaken) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int err = SSL_get_error(c->ssl, r);
            return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE;
        }
        c->handshaken = 1;
        note_suite(c->ssl);
    }
    if (c->pending_len && !flush(ep, c)) return 0;
    unsigned char buf[16384];
    for (;;) {
        if (c->pending_len) return 1; /* back-pressure: read more once the peer took the echo */
        int n = SSL_read(c->ssl, buf, sizeof buf);
        if (n <= 0) {
            int err = SSL_get_error(c->ssl, n);
            return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE;
        }
        memcpy(c->pending, buf, (size_t)n);
        c->pending_len = n;
        if (!flush(ep, c)) return 0;
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: tls_echo CHAIN.pem KEY.pem DH.pem\n");
        return 2;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) fail("SSL_CTX_new");
    SSL_CTX_set_security_level(ctx, 0);
    /* CPython's options for every context (Modules/_ssl.c), so the records are the same as the Python
     * server's: SSL_OP_ALL but with TLS 1.0 CBC's empty fragments kept, no compression, server preference */
    SSL_CTX_clear_options(ctx, SSL_CTX_get_options(ctx));
    SSL_CTX_set_options(ctx, (SSL_OP_ALL & ~SSL_OP_DONT_INSERT_EMPTY_FRAGMENTS) | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_min_proto_version(ctx, 0); /* as MINIMUM_SUPPORTED / MAXIMUM_SUPPORTED */
    SSL_CTX_set_max_proto_version(ctx, 0);
    if (SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0") != 1) fail("ciphers");
    if (SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1) fail("chain");
    if (SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1) fail("key");
    BIO *dh_bio = BIO_new_file(argv[3], "r");
    EVP_PKEY *dh = dh_bio ? PEM_read_bio_Parameters(dh_bio, NULL) : NULL;
    if (!dh || SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) fail("dh");
    BIO_free(dh_bio);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 4096) < 0) fail("listen");
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &alen);
    printf("{\"port\": %d}\n", ntohs(addr.sin_port));
    fflush(stdout);

    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LISTEN_TAG};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.u64 = STDIN_TAG;
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            if (events[i].data.u64 == STDIN_TAG) {
                char sink[256];
                if (read(0, sink, sizeof sink) > 0) continue;
                printf("{\"suites\": [");
                for (int s = 0; s < n_suites; s++) printf("%s%s", s ? ", " : "", suites[s]);
                printf("], \"count\": %d}\n", handshakes);
                fflush(stdout);
                return 0;
            }
            if (events[i].data.u64 == LISTEN_TAG) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *c = calloc(1, sizeof *c);
                    c->fd = fd;
                    c->ssl = SSL_new(ctx);
                    SSL_set_fd(c->ssl, fd);
                    SSL_set_accept_state(c->ssl);
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            struct conn *c = events[i].data.ptr;
            if (!serve(ep, c)) drop(ep, c);
            ERR_clear_error();
        }
    }
}

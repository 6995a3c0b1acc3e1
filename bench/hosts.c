/* The hosts side of bench/scale.py's closed loop, in C: N hosts on N PTYs, one epoll loop, one thread.
 *
 * Why C: the Python hosts (asyncio) spent 63-91 us of CPU a round trip on the same 2 cores as the
 * emulator, so the closed-loop figure measured the load generator as much as the emulator. This program
 * does exactly what scale.py's AsyncHost does, at a few us a round trip.
 *
 * Protocol with scale.py (stdin/stdout, one line each):
 *   argv: hosts OUT_FILE SERVER_PID HOSTNAME ROUNDS [RATE...]; env SCALE_SETUP: an AT line sent after ATE0
 *   stdin  line 1: the PTY paths, separated by spaces
 *   stdout "open N"                   once every host has +MIPOPEN: 1,1
 *   stdin  "go"
 *   then the closed loop (every host back to back, ROUNDS each), then paced runs at each rate of argv
 *   (2 s each, a random start offset per host); latencies (seconds) go to OUT_FILE, one phase a line:
 *   "closed v v v ...", "paced RATE v v v ..."
 *   stdout "done HOST_CPU SERVER_CPU" (CPU seconds of this process / of SERVER_PID during the closed loop)
 * A round trip: AT+MIPSEND=1,16\r -> "> " -> 16 bytes -> (OK) ... "+MIPRTCP: 1,0,<HEX>\r\n", timed with
 * CLOCK_MONOTONIC from the command's write to the URC's read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536
#define PHASE_TIMEOUT 120.0

enum state { WAIT_ATE0, WAIT_SETUP, WAIT_CALL_OK, WAIT_CALL_URC, WAIT_OPEN, READY, WAIT_PROMPT, WAIT_ECHO, PAUSED, DONE };

struct host {
    int fd;
    enum state state;
    char buf[BUF];
    size_t len;
    char payload[17];
    char echo[64];
    size_t echo_len;
    double t0, next;
    int left;
    double *out;
    int n_out;
};

static struct host *hosts;
static int n_hosts, n_ready, n_done;
static double interval;
static const char *setup; /* SCALE_SETUP: one AT line sent after ATE0 (e.g. the TLS version), or NULL */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_self(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static double cpu_of(int pid) {
    char path[64], text[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char *p = strrchr(text, ')');
    if (!p) return 0;
    unsigned long utime = 0, stime = 0;
    /* fields after ")": state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return 0;
    return (utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void put(struct host *h, const char *data, size_t len) {
    while (len) {  /* a few dozen bytes: a PTY takes them, but retry a short or refused write */
        ssize_t n = write(h->fd, data, len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            die("write");
        }
        data += n;
        len -= (size_t)n;
    }
}

static void say(struct host *h, const char *text) { put(h, text, strlen(text)); }

/* Consume the buffer through `marker` if it is there. */
static int take(struct host *h, const char *marker, size_t mlen) {
    char *at = memmem(h->buf, h->len, marker, mlen);
    if (!at) return 0;
    size_t end = (size_t)(at - h->buf) + mlen;
    memmove(h->buf, h->buf + end, h->len - end);
    h->len -= end;
    return 1;
}
#define TAKE(h, lit) take(h, lit, sizeof(lit) - 1)

static void start_round(struct host *h) {
    h->t0 = now();
    say(h, "AT+MIPSEND=1,16\r");
    h->state = WAIT_PROMPT;
}

/* Advance one host's state machine as far as its buffer allows. */
static void step(struct host *h, const char *hostname) {
    for (;;) {
        switch (h->state) {
        case WAIT_ATE0:
            if (!TAKE(h, "OK\r\n")) return;
            if (setup) {
                say(h, setup);
                say(h, "\r");
                h->state = WAIT_SETUP;
                break;
            }
            /* fall through */
        case WAIT_SETUP:
            if (h->state == WAIT_SETUP && !TAKE(h, "OK\r\n")) return;
            say(h, "AT+MIPCALL=1\r");
            h->state = WAIT_CALL_OK;
            break;
        case WAIT_CALL_OK:
            if (!TAKE(h, "OK\r\n")) return;
            h->state = WAIT_CALL_URC;
            break;
        case WAIT_CALL_URC: {
            if (!TAKE(h, "+MIPCALL: ")) return;
            char line[256];
            snprintf(line, sizeof line, "AT+MIPOPEN=1,,\"%s\",443,2\r", hostname);
            say(h, line);
            h->state = WAIT_OPEN;
            break;
        }
        case WAIT_OPEN:
            if (!TAKE(h, "+MIPOPEN: 1,1\r\n")) return;
            h->state = READY;
            n_ready++;
            return;
        case WAIT_PROMPT:
            if (!TAKE(h, "> ")) return;
            put(h, h->payload, 16);
            h->state = WAIT_ECHO;
            break;
        case WAIT_ECHO: {
            if (!take(h, h->echo, h->echo_len)) return;
            double t = now();
            h->out[h->n_out++] = t - h->t0;
            if (--h->left == 0) {
                h->state = DONE;
                n_done++;
                return;
            }
            if (interval > 0) {
                double next = h->t0 + interval;
                h->next = next > t ? next : t;
                h->state = PAUSED;
                return;
            }
            start_round(h);
            break;
        }
        default:
            return;
        }
    }
}

static void fill(struct host *h) {
    for (;;) {
        if (h->len == BUF) {
            fprintf(stderr, "host buffer full: %.200s\n", h->buf);
            exit(1);
        }
        ssize_t n = read(h->fd, h->buf + h->len, BUF - h->len);
        if (n > 0) {
            h->len += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n < 0 && errno == EIO) return; /* the emulator closed its side: the deadline reports it */
        if (n == 0) return;
        die("read");
    }
}

/* Run the loop until `until()` holds or the deadline passes. */
static void run(int ep, const char *hostname, int (*until)(void), double deadline) {
    struct epoll_event events[256];
    while (!until()) {
        double t = now();
        if (t > deadline) {
            fprintf(stderr, "hosts: phase timed out (%d ready, %d done of %d)\n", n_ready, n_done, n_hosts);
            exit(1);
        }
        int timeout = (int)((deadline - t) * 1000) + 1;
        if (interval > 0) { /* wake for the earliest paused host, and start every host that is due */
            double first = deadline;
            for (int i = 0; i < n_hosts; i++) {
                struct host *h = &hosts[i];
                if (h->state != PAUSED) continue;
                if (h->next <= t) {
                    start_round(h);
                    continue;
                }
                if (h->next < first) first = h->next;
            }
            int ms = (int)((first - t) * 1000);
            if (ms < timeout) timeout = ms < 0 ? 0 : ms;
        }
        int n = epoll_wait(ep, events, 256, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct host *h = &hosts[events[i].data.u32];
            fill(h);
            step(h, hostname);
        }
    }
}

static int all_ready(void) { return n_ready == n_hosts; }
static int all_done(void) { return n_done == n_hosts; }

static void write_phase(FILE *out, const char *name) {
    fputs(name, out);
    for (int i = 0; i < n_hosts; i++)
        for (int j = 0; j < hosts[i].n_out; j++) fprintf(out, " %.9f", hosts[i].out[j]);
    fputc('\n', out);
}

static void phase(int ep, const char *hostname, int count, double every) {
    interval = every;
    n_done = 0;
    double t = now();
    for (int i = 0; i < n_hosts; i++) {
        struct host *h = &hosts[i];
        h->left = count;
        h->n_out = 0;
        if (every > 0) {
            h->next = t + every * (rand() / (RAND_MAX + 1.0));
            h->state = PAUSED;
        } else {
            start_round(h);
        }
    }
    run(ep, hostname, all_done, now() + PHASE_TIMEOUT);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: hosts OUT_FILE SERVER_PID HOSTNAME ROUNDS [RATE...]\n");
        return 2;
    }
    const char *out_path = argv[1], *hostname = argv[3];
    int server_pid = atoi(argv[2]), rounds = atoi(argv[4]);
    setup = getenv("SCALE_SETUP");
    if (setup && !*setup) setup = NULL;
    size_t cap = 1 << 22;
    char *line = malloc(cap);
    if (!fgets(line, (int)cap, stdin)) die("paths");
    int max_hosts = 1;
    for (char *p = line; *p; p++) max_hosts += *p == ' ';
    hosts = calloc((size_t)max_hosts, sizeof *hosts);
    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    int max_out = rounds;
    for (int i = 5; i < argc; i++)
        if (2 * atoi(argv[i]) > max_out) max_out = 2 * atoi(argv[i]);
    srand((unsigned)getpid());
    for (char *path = strtok(line, " \n"); path; path = strtok(NULL, " \n")) {
        struct host *h = &hosts[n_hosts];
        h->fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK);
        if (h->fd < 0) die(path);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)n_hosts};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, h->fd, &ev) < 0) die("epoll_ctl");
        h->out = malloc(sizeof(double) * (size_t)max_out);
        static const char hex[] = "0123456789abcdef", HEX[] = "0123456789ABCDEF";
        for (int j = 0; j < 16; j++) h->payload[j] = hex[rand() % 16];
        int k = snprintf(h->echo, sizeof h->echo, "+MIPRTCP: 1,0,");
        for (int j = 0; j < 16; j++) {
            h->echo[k++] = HEX[(unsigned char)h->payload[j] >> 4];
            h->echo[k++] = HEX[(unsigned char)h->payload[j] & 15];
        }
        h->echo[k++] = '\r';
        h->echo[k++] = '\n';
        h->echo_len = (size_t)k;
        say(h, "ATE0\r");
        h->state = WAIT_ATE0;
        n_hosts++;
    }
    run(ep, hostname, all_ready, now() + 60);
    printf("open %d\n", n_hosts);
    fflush(stdout);
    if (!fgets(line, (int)cap, stdin)) die("go");
    FILE *out = fopen(out_path, "w");
    if (!out) die(out_path);
    double cpu0 = cpu_self(), server0 = cpu_of(server_pid);
    phase(ep, hostname, rounds, 0);
    double host_cpu = cpu_self() - cpu0, server_cpu = cpu_of(server_pid) - server0;
    write_phase(out, "closed");
    for (int i = 5; i < argc; i++) {
        int rate = atoi(argv[i]);
        phase(ep, hostname, 2 * rate, 1.0 / rate);
        char name[32];
        snprintf(name, sizeof name, "paced %d", rate);
        write_phase(out, name);
    }
    fclose(out);
    printf("done %.6f %.6f\n", host_cpu, server_cpu);
    fflush(stdout);
    for (int i = 0; i < n_hosts; i++) close(hosts[i].fd);
    return 0;
}

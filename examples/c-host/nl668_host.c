/*
 * A C host for the NL668 emulator (or a real module): opens the serial device with termios, runs the
 * vendor manual's §2.6 example 1 (a TLS socket without server verification) and prints every line the
 * module answered. No libraries beyond libc: what a firmware team's CI stand-in needs.
 *
 *   cc -O2 -Wall -o nl668_host nl668_host.c && ./nl668_host /dev/ttyUSB2
 *
 * Exit status: 0 when every command got OK and the socket opened (+MIPOPEN: 1,1), 1 otherwise, 2 on a
 * device error.
 */
#define _DEFAULT_SOURCE /* cfmakeraw */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static char pending[4096];
static size_t pending_len;

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Where CR LF starts in the pending bytes, or NULL (memmem is a GNU extension: stay in ISO C). */
static char *find_crlf(void) {
    for (size_t i = 0; i + 1 < pending_len; i++)
        if (pending[i] == '\r' && pending[i + 1] == '\n')
            return pending + i;
    return NULL;
}

/* Next CR LF-terminated line into out (without CR LF); 0 on timeout. Empty lines are skipped. */
static int read_line(int fd, char *out, size_t size, long deadline) {
    for (;;) {
        char *end = find_crlf();
        if (end != NULL) {
            size_t n = (size_t)(end - pending);
            size_t copy = n < size - 1 ? n : size - 1;
            memcpy(out, pending, copy);
            out[copy] = '\0';
            memmove(pending, end + 2, pending_len - n - 2);
            pending_len -= n + 2;
            if (copy > 0)
                return 1;
            continue;
        }
        long left = deadline - now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return 0;
        ssize_t got = read(fd, pending + pending_len, sizeof pending - pending_len);
        if (got < 0 && errno != EAGAIN && errno != EINTR)
            return 0;
        if (got > 0)
            pending_len += (size_t)got;
        if (pending_len == sizeof pending)
            pending_len = 0; /* a runaway line: drop it */
    }
}

/* Send one command line (CR LF, as most hosts do); print the answer up to OK/ERROR, and up to a line
 * starting with urc when one is given. Returns 1 when the command got OK (and the URC came). */
static int command(int fd, const char *cmd, const char *urc, char *urc_line, size_t urc_size) {
    char line[1024];
    int ok = 0, urc_seen = urc == NULL;
    printf("> %s\n", cmd);
    if (write(fd, cmd, strlen(cmd)) < 0 || write(fd, "\r\n", 2) < 0)
        return 0;
    long deadline = now_ms() + 30000;
    while (!(ok && urc_seen) && read_line(fd, line, sizeof line, deadline)) {
        if (strcmp(line, cmd) == 0)
            continue; /* the echo */
        printf("< %s\n", line);
        if (strcmp(line, "OK") == 0)
            ok = 1;
        else if (strcmp(line, "ERROR") == 0 || strncmp(line, "+CME ERROR", 10) == 0)
            return 0;
        else if (urc != NULL && strncmp(line, urc, strlen(urc)) == 0) {
            urc_seen = 1;
            snprintf(urc_line, urc_size, "%s", line);
        }
    }
    fflush(stdout);
    return ok && urc_seen;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DEVICE\n", argv[0]);
        return 2;
    }
    int fd = open(argv[1], O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        perror(argv[1]);
        return 2;
    }
    struct termios tio;
    if (tcgetattr(fd, &tio) != 0) {
        perror("tcgetattr");
        return 2;
    }
    cfmakeraw(&tio);
    cfsetispeed(&tio, B115200);
    cfsetospeed(&tio, B115200);
    tio.c_cflag |= CLOCAL | CREAD;
    if (tcsetattr(fd, TCSANOW, &tio) != 0) {
        perror("tcsetattr");
        return 2;
    }
    tcflush(fd, TCIOFLUSH);

    char opened[1024] = "", closed[1024] = "";
    int ok = command(fd, "ATE0", NULL, NULL, 0)
        && command(fd, "AT+GTSSLVER=2", NULL, NULL, 0)
        && command(fd, "AT+GTSSLFILE?", NULL, NULL, 0)
        && command(fd, "AT+GTSSLMODE?", NULL, NULL, 0)
        && command(fd, "AT+MIPCALL=1,\"cmnet\"", "+MIPCALL: ", NULL, 0)
        && command(fd, "AT+MIPOPEN=1,,\"www.baidu.com\",443,2", "+MIPOPEN: ", opened, sizeof opened)
        && strcmp(opened, "+MIPOPEN: 1,1") == 0
        && command(fd, "AT+MIPCLOSE=1", "+MIPCLOSE: ", closed, sizeof closed);
    close(fd);
    printf("%s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}

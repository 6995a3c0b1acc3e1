/*
 * An unmodified C host: the modem-control ioctls a serial driver makes, on the port it is given.
 *
 *   host_tiocm PORT [OTHER_TTY]   TIOCMGET, TIOCMBIC DTR|RTS, TIOCMGET, TIOCMBIS DTR|RTS, TIOCMGET,
 *                                 TIOCMSET RTS, TIOCMGET; FIONREAD (not a modem ioctl) on PORT; then
 *                                 TIOCMGET on OTHER_TTY (another PTY) and on a pipe
 *   host_tiocm PORT wait          prints "waiting", then TIOCMIWAIT on CTS|DSR|CD and how it ended
 *
 * One line a step: "<step> rc=<rc> errno=<errno> bits=0x<hex>".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void report(const char *step, int rc, int bits)
{
    printf("%s rc=%d errno=%d bits=0x%x\n", step, rc, rc == 0 ? 0 : errno, rc == 0 ? bits : 0);
    fflush(stdout);
}

static void get(const char *step, int fd)
{
    int bits = 0;
    errno = 0;
    int rc = ioctl(fd, TIOCMGET, &bits);
    report(step, rc, bits);
}

int main(int argc, char **argv)
{
    int fd, bits, rc, pipes[2];
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [OTHER_TTY|wait]\n", argv[0]);
        return 2;
    }
    fd = open(argv[1], O_RDWR | O_NOCTTY);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    if (argc > 2 && strcmp(argv[2], "wait") == 0) {
        printf("waiting\n");
        fflush(stdout);
        errno = 0;
        rc = ioctl(fd, TIOCMIWAIT, TIOCM_CTS | TIOCM_DSR | TIOCM_CD);
        report("TIOCMIWAIT", rc, 0);
        return 0;
    }
    get("GET", fd);
    bits = TIOCM_DTR | TIOCM_RTS;
    report("BIC", ioctl(fd, TIOCMBIC, &bits), 0);
    get("GET-OFF", fd);
    report("BIS", ioctl(fd, TIOCMBIS, &bits), 0);
    get("GET-ON", fd);
    bits = TIOCM_RTS;
    report("SET", ioctl(fd, TIOCMSET, &bits), 0);
    get("GET-SET", fd);
    bits = -1;
    rc = ioctl(fd, FIONREAD, &bits);
    report("FIONREAD", rc, bits);
    if (argc > 2) {
        int other = open(argv[2], O_RDWR | O_NOCTTY);
        if (other < 0) {
            perror(argv[2]);
            return 1;
        }
        get("OTHER", other);
        close(other);
    }
    if (pipe(pipes) == 0)
        get("PIPE", pipes[0]);
    close(fd);
    return 0;
}

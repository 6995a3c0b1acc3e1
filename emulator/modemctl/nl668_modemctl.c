/*
 * nl668_modemctl.c: modem-control lines for the emulator's PTY, for unmodified host programs.
 *
 * Why: a Linux PTY has no modem-control lines, so ioctl(TIOCMGET/TIOCMSET/TIOCMBIS/TIOCMBIC) on it
 * fails with ENOTTY, and pyserial's `port.dtr = False` raises. A real module's UART has them. Loaded
 * with LD_PRELOAD (nl668-emu run -- HOST ..., or by hand with the variables the emulator prints),
 * this library answers those requests on the emulator's PTY only and passes every other ioctl, on
 * every other fd, to the C library's own ioctl untouched.
 *
 * Which fd: one whose character device (st_rdev) is that of NL668_MODEMCTL_DEVICE (the PTY's
 * /dev/pts/N; a symlink to it opens the same device). What it does: one request a connection over
 * the unix socket NL668_MODEMCTL_SOCKET; the emulator keeps the lines (it owns DTR/RTS, so every
 * process and fd of the host sees one state, as on a real port) and answers with all of them:
 *
 *     GET 0 | SET <bits> | BIS <bits> | BIC <bits>   ->  "<TIOCM_* bits>\n"
 *     WAIT <mask>   (TIOCMIWAIT) -> an answer when a masked input line changes; EIO when the emulator stops
 *
 * Errors as a tty gives them: EIO when the emulator is gone (its PTY hangs up too), EFAULT for a
 * NULL argument. Without the variables, or when they name no character device, it is inert.
 *
 * Build: cc -shared -fPIC -O2 -o nl668_modemctl.so nl668_modemctl.c -ldl (emulator/modemctl/build.py).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

typedef int (*ioctl_fn)(int, unsigned long, ...);

static ioctl_fn real_ioctl(void)
{
    static ioctl_fn fn; /* the same value in every thread: a racing lookup is harmless */
    ioctl_fn found = __atomic_load_n(&fn, __ATOMIC_ACQUIRE);
    if (found == NULL) {
        found = (ioctl_fn)dlsym(RTLD_NEXT, "ioctl");
        __atomic_store_n(&fn, found, __ATOMIC_RELEASE);
    }
    return found;
}

/* Is fd the emulator's PTY (the same character device as $NL668_MODEMCTL_DEVICE)? */
static int is_emulator_line(int fd)
{
    const char *device = getenv("NL668_MODEMCTL_DEVICE");
    struct stat want, have;
    if (device == NULL || *device == '\0' || getenv("NL668_MODEMCTL_SOCKET") == NULL)
        return 0;
    if (stat(device, &want) != 0 || !S_ISCHR(want.st_mode))
        return 0;
    if (fstat(fd, &have) != 0 || !S_ISCHR(have.st_mode))
        return 0;
    return have.st_rdev == want.st_rdev;
}

/* One request to the emulator; the bits it answers, or -1 with errno set. */
static int ask(const char *op, int value)
{
    const char *path = getenv("NL668_MODEMCTL_SOCKET");
    struct sockaddr_un addr;
    char line[64];
    size_t used = 0;
    int fd, len, result = -1;

    if (path == NULL || strlen(path) >= sizeof(addr.sun_path)) {
        errno = EIO;
        return -1;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
        goto gone;
    len = snprintf(line, sizeof(line), "%s %d\n", op, value);
    while (used < (size_t)len) {
        ssize_t n = send(fd, line + used, (size_t)len - used, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto gone;
        used += (size_t)n;
    }
    used = 0;
    for (;;) {
        ssize_t n = read(fd, line + used, sizeof(line) - 1 - used);
        if (n < 0 && errno == EINTR)
            continue; /* TIOCMIWAIT: a signal with SA_RESTART restarts the wait, as the tty driver's does */
        if (n <= 0)
            goto gone;
        used += (size_t)n;
        line[used] = '\0';
        if (strchr(line, '\n') != NULL)
            break;
        if (used == sizeof(line) - 1)
            goto gone;
    }
    if (strncmp(line, "ERR", 3) == 0) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    result = (int)strtol(line, NULL, 10);
    close(fd);
    return result;
gone:
    close(fd);
    errno = EIO; /* the emulator stopped: its PTY has hung up, and a tty answers EIO then */
    return -1;
}

static int modem_ioctl(unsigned long request, void *arg)
{
    int bits;
    if (arg == NULL && request != TIOCMIWAIT) {
        errno = EFAULT;
        return -1;
    }
    switch (request) {
    case TIOCMGET:
        bits = ask("GET", 0);
        if (bits < 0)
            return -1;
        *(int *)arg = bits;
        return 0;
    case TIOCMSET:
        return ask("SET", *(const int *)arg) < 0 ? -1 : 0;
    case TIOCMBIS:
        return ask("BIS", *(const int *)arg) < 0 ? -1 : 0;
    case TIOCMBIC:
        return ask("BIC", *(const int *)arg) < 0 ? -1 : 0;
    default: /* TIOCMIWAIT: the argument is the mask itself */
        return ask("WAIT", (int)(long)arg) < 0 ? -1 : 0;
    }
}

/* glibc's prototype; the one optional argument is read as a pointer, as glibc's own wrapper does. */
int ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    void *arg;
    int saved = errno;
    va_start(ap, request);
    arg = va_arg(ap, void *);
    va_end(ap);
    switch (request) {
    case TIOCMGET:
    case TIOCMSET:
    case TIOCMBIS:
    case TIOCMBIC:
    case TIOCMIWAIT:
        if (is_emulator_line(fd)) {
            int rc = modem_ioctl(request, arg);
            if (rc == 0)
                errno = saved;
            return rc;
        }
        errno = saved;
        break;
    default:
        break;
    }
    ioctl_fn next = real_ioctl();
    if (next == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return next(fd, request, arg);
}

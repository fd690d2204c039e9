/* glibc side of ecmo-pi (the lean Pi image): main, files, signals and what the Embedded
 * Swift runtime asks of its platform. The hardware itself goes through the same C shims as
 * the hosted Linux backend (Sources/CLinuxIO, Sources/CGPIOD, linked in by scripts/build-pi). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern int32_t pi_main(int32_t argc, char **argv);

/* pi_read_file and arc4random_buf: Embedded/Common/glibc_platform.c. */

void pi_free(void *p) { free(p); }

int pi_errno(void) { return errno; }

const char *pi_strerror(int e) { return strerror(e); }

/* Writes everything or returns -errno. fd 1 stdout, 2 stderr, or a file's. */
long pi_write_fd(int fd, const void *bytes, long count) {
    const uint8_t *p = bytes;
    long left = count;
    while (left > 0) {
        ssize_t w = write(fd, p, (size_t)left);
        if (w < 0) { if (errno == EINTR) continue; return -errno; }
        p += w; left -= w;
    }
    return count;
}

/* A new file (never an existing one: a run record is not overwritten); fd or -errno. */
int pi_create(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    return fd < 0 ? -errno : fd;
}

int pi_sync_close(int fd) {
    int r = fdatasync(fd) == 0 ? 0 : -errno;
    if (close(fd) != 0 && r == 0) r = -errno;
    return r;
}

/* mkdir -p; 0 or -errno. */
int pi_mkdirs(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -errno;
            buf[i] = c;
        }
    }
    return 0;
}

uint64_t pi_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* UTC now as ISO 8601 ("2026-12-04T21:32:45Z") into buf. */
void pi_wall_iso(char *buf, long capacity) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, (size_t)capacity, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* SIGINT/SIGTERM ask the run to stop between ticks (outputs safe, record closed). */
static volatile sig_atomic_t stop_requested = 0;
static void on_stop(int sig) { (void)sig; stop_requested = 1; }
void pi_install_stop_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}
int pi_stop_requested(void) { return stop_requested; }

/* Double(String) in Embedded Swift: parse in the C locale (this program never sets another);
 * returns the end of what was parsed, NULL when nothing was. */
const char *_swift_stdlib_strtod_clocale(const char *nptr, double *out) {
    char *end;
    *out = strtod(nptr, &end);
    return end == nptr ? NULL : end;
}

int main(int argc, char **argv) { return pi_main(argc, argv); }

#ifdef __linux__
#define _GNU_SOURCE
#include "ecmo_linux_io.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <string.h>
#include <termios.h>
#include <stdio.h>
#include <sys/resource.h>

int ecmo_sys_open(const char *path, int flags) { int r = open(path, flags | O_CLOEXEC); return r < 0 ? -errno : r; }
int ecmo_sys_close(int fd) { return close(fd) < 0 ? -errno : 0; }
ssize_t ecmo_sys_read(int fd, void *b, size_t n) { ssize_t r = read(fd, b, n); return r < 0 ? -errno : r; }
ssize_t ecmo_sys_write(int fd, const void *b, size_t n) { ssize_t r = write(fd, b, n); return r < 0 ? -errno : r; }
ssize_t ecmo_sys_pread(int fd, void *b, size_t n, off_t o) { ssize_t r = pread(fd, b, n, o); return r < 0 ? -errno : r; }
ssize_t ecmo_sys_pwrite(int fd, const void *b, size_t n, off_t o) { ssize_t r = pwrite(fd, b, n, o); return r < 0 ? -errno : r; }
int ecmo_sys_ioctl_ptr(int fd, unsigned long req, void *arg) { int r = ioctl(fd, req, arg); return r < 0 ? -errno : r; }
int ecmo_sys_ioctl_value(int fd, unsigned long req, unsigned long arg) { int r = ioctl(fd, req, arg); return r < 0 ? -errno : r; }
uint64_t ecmo_sys_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
int ecmo_sys_sleep_until_ns(uint64_t d) {
    struct timespec ts = { .tv_sec = (time_t)(d / 1000000000ull), .tv_nsec = (long)(d % 1000000000ull) };
    return -clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);   // returns the error number itself
}
int ecmo_sys_exists(const char *path) { return access(path, F_OK) < 0 ? -errno : 0; }
int ecmo_sys_lock_all_memory(void) { return mlockall(MCL_CURRENT | MCL_FUTURE) < 0 ? -errno : 0; }
int ecmo_rt_set_fifo(int priority) {
    struct sched_param p;
    memset(&p, 0, sizeof p);
    p.sched_priority = priority;
    return -pthread_setschedparam(pthread_self(), SCHED_FIFO, &p);   // returns the error number itself
}
int ecmo_rt_thread_policy(int *priority) {
    struct sched_param p;
    int policy = 0;
    int e = pthread_getschedparam(pthread_self(), &policy, &p);
    if (e != 0) return -e;
    if (priority) *priority = p.sched_priority;
    return policy;
}
int ecmo_rt_set_affinity(int cpu) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) return -EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return -pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}
__attribute__((noinline)) int ecmo_rt_prefault_stack(size_t bytes) {
    if (bytes > 8u * 1024u * 1024u) return -EINVAL;
    volatile unsigned char *area = __builtin_alloca(bytes);
    for (size_t i = 0; i < bytes; i += 4096) area[i] = 0;
    if (bytes > 0) area[bytes - 1] = 0;
    return 0;
}
static int rlimit_of(int resource, uint64_t *soft) {
    struct rlimit r;
    if (getrlimit(resource, &r) < 0) return -errno;
    *soft = r.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)r.rlim_cur;
    return 0;
}
int ecmo_rt_rlimit_rtprio(uint64_t *soft) { return rlimit_of(RLIMIT_RTPRIO, soft); }
int ecmo_rt_rlimit_memlock(uint64_t *soft) { return rlimit_of(RLIMIT_MEMLOCK, soft); }
int ecmo_rt_hold_dma_latency_zero(void) {
    int fd = open("/dev/cpu_dma_latency", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int32_t zero = 0;
    if (write(fd, &zero, sizeof zero) != (ssize_t)sizeof zero) { int e = errno; close(fd); return -(e ? e : EIO); }
    return fd;
}
int ecmo_rt_cpu_count(void) { long n = sysconf(_SC_NPROCESSORS_CONF); return n > 0 ? (int)n : 1; }
void ecmo_rt_spin_ns(uint64_t ns) {
    uint64_t end = ecmo_sys_monotonic_ns() + ns;
    while (ecmo_sys_monotonic_ns() < end) { }
}
int ecmo_flag_rdwr(void) { return O_RDWR; }
int ecmo_flag_wronly(void) { return O_WRONLY; }
int ecmo_flag_rdonly(void) { return O_RDONLY; }
unsigned long ecmo_wdioc_settimeout(void) { return WDIOC_SETTIMEOUT; }
unsigned long ecmo_wdioc_gettimeout(void) { return WDIOC_GETTIMEOUT; }
unsigned long ecmo_wdioc_keepalive(void) { return WDIOC_KEEPALIVE; }
unsigned long ecmo_wdioc_getbootstatus(void) { return WDIOC_GETBOOTSTATUS; }
unsigned long ecmo_wdioc_getsupport(void) { return WDIOC_GETSUPPORT; }
#endif

int ecmo_uart_configure(int fd, unsigned baud) {
    speed_t speed;
    switch (baud) {
    case 9600: speed = B9600; break;
    case 19200: speed = B19200; break;
    case 38400: speed = B38400; break;
    case 57600: speed = B57600; break;
    case 115200: speed = B115200; break;
    case 230400: speed = B230400; break;
    case 460800: speed = B460800; break;
    case 921600: speed = B921600; break;
    case 1000000: speed = B1000000; break;
    case 2000000: speed = B2000000; break;
    case 3000000: speed = B3000000; break;
    default: return -EINVAL;
    }
    struct termios t;
    if (tcgetattr(fd, &t) < 0) return -errno;
    cfmakeraw(&t);
    t.c_cflag |= CLOCAL | CREAD;
    t.c_cflag &= ~(CSTOPB | CRTSCTS);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    if (cfsetispeed(&t, speed) < 0 || cfsetospeed(&t, speed) < 0) return -errno;
    if (tcsetattr(fd, TCSANOW, &t) < 0) return -errno;
    tcflush(fd, TCIOFLUSH);
    return 0;
}
int ecmo_flag_serial(void) { return O_RDWR | O_NOCTTY | O_NONBLOCK; }

/* A pseudo-terminal pair, for tests: the UART tests hold the master end as the
 * co-processor and open the slave's path as the serial line. Returns the master fd (its
 * slave's path in `name`) or -errno. */
int ecmo_open_pty(char *name, size_t capacity) {
    int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) return -errno;
    int unlock = 0;
    unsigned int n = 0;
    if (ioctl(m, TIOCSPTLCK, &unlock) < 0 || ioctl(m, TIOCGPTN, &n) < 0) { int e = errno; close(m); return -e; }
    if (snprintf(name, capacity, "/dev/pts/%u", n) >= (int)capacity) { close(m); return -ENAMETOOLONG; }
    return m;
}

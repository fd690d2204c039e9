#ifndef ECMO_LINUX_IO_H
#define ECMO_LINUX_IO_H
// The system calls of the Linux backend, as plain functions Swift can store in a table
// (ECMOLinux.LinuxSyscalls) and tests can replace. Each returns its result, or -errno on
// failure, so no caller reads errno. ioctl is not variadic here: Swift's variadic import
// builds a CVarArg array, an allocation on every call of the hot loop.
//
// Request numbers built by function-like macros (_IOR/_IOWR: the watchdog's) cannot be
// imported by Swift; they are returned by functions computed by the kernel's own headers.
#ifdef __linux__
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/i2c.h>
#include <linux/i2c-dev.h>
#include <linux/watchdog.h>

int ecmo_sys_open(const char *path, int flags);
/* A serial line in raw mode (8N1, no flow control, no echo, reads return at once) at `baud`;
 * 0 or -errno (-EINVAL for a rate termios does not have). */
int ecmo_uart_configure(int fd, unsigned baud);
/* O_RDWR | O_NOCTTY | O_NONBLOCK: a serial line the loop reads without waiting. */
int ecmo_flag_serial(void);
/* For tests: a pseudo-terminal pair; the master fd, the slave's path in `name`; or -errno. */
int ecmo_open_pty(char *name, size_t capacity);
int ecmo_sys_close(int fd);
ssize_t ecmo_sys_read(int fd, void *buffer, size_t count);
ssize_t ecmo_sys_write(int fd, const void *buffer, size_t count);
ssize_t ecmo_sys_pread(int fd, void *buffer, size_t count, off_t offset);
ssize_t ecmo_sys_pwrite(int fd, const void *buffer, size_t count, off_t offset);
int ecmo_sys_ioctl_ptr(int fd, unsigned long request, void *argument);
int ecmo_sys_ioctl_value(int fd, unsigned long request, unsigned long argument);
/// CLOCK_MONOTONIC in nanoseconds (the clock of the loop and of GPIO edge timestamps).
uint64_t ecmo_sys_monotonic_ns(void);
/// Sleeps until an absolute CLOCK_MONOTONIC time; 0 or -errno (EINTR is the caller's).
int ecmo_sys_sleep_until_ns(uint64_t deadline_ns);
/// 0 if the path exists, else -errno.
int ecmo_sys_exists(const char *path);

/// mlockall(MCL_CURRENT | MCL_FUTURE): 0 or -errno.
int ecmo_sys_lock_all_memory(void);

// The control thread's real-time set-up (RealtimeSetup in ECMOLinux). Each acts on the
// calling thread and returns 0 or -errno.
/// pthread_setschedparam(pthread_self(), SCHED_FIFO, priority).
int ecmo_rt_set_fifo(int priority);
/// The calling thread's policy (SCHED_OTHER 0, FIFO 1, RR 2) and priority, or -errno.
int ecmo_rt_thread_policy(int *priority);
/// pthread_setaffinity_np(pthread_self()) to the single CPU `cpu`.
int ecmo_rt_set_affinity(int cpu);
/// Touches `bytes` of stack below the caller, so those pages are resident (and, after
/// mlockall, locked) before the first tick instead of faulting in mid-loop.
int ecmo_rt_prefault_stack(size_t bytes);
/// getrlimit(RLIMIT_RTPRIO or RLIMIT_MEMLOCK): soft limit in *soft (UINT64_MAX = infinity).
int ecmo_rt_rlimit_rtprio(uint64_t *soft);
int ecmo_rt_rlimit_memlock(uint64_t *soft);
/// Opens /dev/cpu_dma_latency and writes a 32-bit 0 (keeps the CPU out of deep idle
/// states while the fd stays open, as cyclictest does): the fd, or -errno.
int ecmo_rt_hold_dma_latency_zero(void);
/// The number of CPUs configured (sysconf(_SC_NPROCESSORS_CONF)).
int ecmo_rt_cpu_count(void);
/// Spins for `ns` nanoseconds of CLOCK_MONOTONIC (rt-check's synthetic load).
void ecmo_rt_spin_ns(uint64_t ns);

int ecmo_flag_rdwr(void);
int ecmo_flag_wronly(void);
int ecmo_flag_rdonly(void);

unsigned long ecmo_wdioc_settimeout(void);
unsigned long ecmo_wdioc_gettimeout(void);
unsigned long ecmo_wdioc_keepalive(void);
unsigned long ecmo_wdioc_getbootstatus(void);
unsigned long ecmo_wdioc_getsupport(void);
#endif
#endif

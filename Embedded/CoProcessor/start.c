/* Start-up, semihosting and the few C library functions Embedded Swift needs, for the
 * co-processor's bench image on QEMU mps2-an386 (Cortex-M4F). Compiled freestanding
 * (-ffreestanding -fno-builtin): otherwise gcc turns the memset loop into a call to memset. */
#include <stdint.h>
#include <stddef.h>

extern uint32_t _estack, _sidata, _sdata, _edata, _sbss, _ebss;
extern int32_t swift_main(void);

static int semihost(int op, void *arg) {
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void host_write(const uint8_t *p, int32_t n) {
    for (int32_t i = 0; i < n; i++) semihost(0x03 /* SYS_WRITEC */, (void *)&p[i]);
}

static size_t length_of(const uint8_t *s) { size_t n = 0; while (s[n]) n++; return n; }

/* Reads a host file (relative to QEMU's working directory); returns its length or -1. */
int32_t host_read_file(const uint8_t *name, uint8_t *buffer, int32_t capacity) {
    uintptr_t open_args[3] = { (uintptr_t)name, 1 /* "rb" */, length_of(name) };
    int handle = semihost(0x01 /* SYS_OPEN */, open_args);
    if (handle < 0) return -1;
    uintptr_t flen_args[1] = { (uintptr_t)handle };
    int length = semihost(0x0C /* SYS_FLEN */, flen_args);
    if (length < 0 || length > capacity) return -1;
    uintptr_t read_args[3] = { (uintptr_t)handle, (uintptr_t)buffer, (uintptr_t)length };
    int left = semihost(0x06 /* SYS_READ */, read_args);   /* bytes NOT read */
    uintptr_t close_args[1] = { (uintptr_t)handle };
    semihost(0x02 /* SYS_CLOSE */, close_args);
    return left == 0 ? length : -1;
}

static uint8_t script[256 * 1024];
uint8_t *script_buffer(void) { return script; }
int32_t script_capacity(void) { return (int32_t)sizeof script; }

void *memset(void *d, int c, size_t n) { uint8_t *p = d; while (n--) *p++ = (uint8_t)c; return d; }
void *memcpy(void *d, const void *s, size_t n) { uint8_t *p = d; const uint8_t *q = s; while (n--) *p++ = *q++; return d; }
void *memmove(void *d, const void *s, size_t n) {
    uint8_t *p = d; const uint8_t *q = s;
    if (p < q) { while (n--) *p++ = *q++; } else { p += n; q += n; while (n--) *--p = *--q; }
    return d;
}
int memcmp(const void *a, const void *b, size_t n) {
    const uint8_t *p = a, *q = b;
    for (; n; n--, p++, q++) if (*p != *q) return *p - *q;
    return 0;
}
/* The ARM EABI names the compiler uses for the same operations. */
void __aeabi_memcpy(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memcpy4(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memcpy8(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memmove(void *d, const void *s, size_t n) { memmove(d, s, n); }
void __aeabi_memmove4(void *d, const void *s, size_t n) { memmove(d, s, n); }
void __aeabi_memmove8(void *d, const void *s, size_t n) { memmove(d, s, n); }
void __aeabi_memset(void *d, size_t n, int c) { memset(d, c, n); }
void __aeabi_memset4(void *d, size_t n, int c) { memset(d, c, n); }
void __aeabi_memset8(void *d, size_t n, int c) { memset(d, c, n); }
void __aeabi_memclr(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memclr4(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memclr8(void *d, size_t n) { memset(d, 0, n); }
/* Stack protector: a smashed stack ends the run as a failure. */
uintptr_t __stack_chk_guard = 0x5a17c0deu;
void abort(void);
void __stack_chk_fail(void) { abort(); }
size_t strlen(const char *s) { return length_of((const uint8_t *)s); }
/* A bump allocator: the co-processor allocates nothing per step (ProtectiveInterlock is
 * allocation-free); this serves only what the Swift runtime asks for at start-up. */
static uint8_t heap[16 * 1024];
static size_t heap_used;
int posix_memalign(void **r, size_t a, size_t n) {
    size_t off = (heap_used + a - 1) & ~(a - 1);
    if (off + n > sizeof heap) return 12; /* ENOMEM */
    *r = heap + off; heap_used = off + n; return 0;
}
void free(void *p) { (void)p; }
void arc4random_buf(void *b, size_t n) { memset(b, 0x5a, n); }
void abort(void) { host_write((const uint8_t *)"error 0 abort\n", 14); semihost(0x18, (void *)0x20023); for (;;) {} }

void Reset_Handler(void) {
    uint32_t *s = &_sidata, *d = &_sdata;
    while (d < &_edata) *d++ = *s++;
    for (d = &_sbss; d < &_ebss;) *d++ = 0;
    *(volatile uint32_t *)0xE000ED88 |= (0xFu << 20); /* enable the FPU (CP10, CP11) */
    __asm volatile("dsb; isb");
    int32_t status = swift_main();
    /* SYS_EXIT: ApplicationExit is exit status 0 in QEMU, RunTimeErrorUnknown is 1. */
    semihost(0x18, (void *)(uintptr_t)(status == 0 ? 0x20026 : 0x20023));
    for (;;) {}
}

static void Fault_Handler(void) { host_write((const uint8_t *)"error 0 hard fault\n", 19); semihost(0x18, (void *)0x20023); for (;;) {} }

__attribute__((section(".vectors"))) const void *vectors[] = {
    &_estack, Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
};

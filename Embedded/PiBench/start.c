/* glibc side of the aarch64 bench program: main, file reading, stdout, and what the
 * Embedded Swift runtime asks of its platform. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/random.h>

extern int32_t pi_main(int32_t argc, char **argv);

/* pi_read_file and arc4random_buf: Embedded/Common/glibc_platform.c. */

void pi_write(const void *bytes, long count) {
    const uint8_t *p = bytes;
    while (count > 0) {
        ssize_t w = write(1, p, (size_t)count);
        if (w <= 0) return;
        p += w; count -= w;
    }
}

int main(int argc, char **argv) { return pi_main(argc, argv); }

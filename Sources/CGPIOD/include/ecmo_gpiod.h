#ifndef ECMO_GPIOD_H
#define ECMO_GPIOD_H
// One small GPIO API of our own over libgpiod, compiled against whichever libgpiod is
// installed: v1 (1.6: Debian 12, Pi OS bookworm) or v2 (2.x: Debian 13, Pi OS trixie).
// The Swift side sees only this header, never <gpiod.h>, so it is the same for both.
//
// Conventions: values are LOGICAL (active-low is applied by libgpiod/the kernel);
// functions returning int give >= 0 on success and -errno on failure; request functions
// return NULL and store -errno in *error. Edge timestamps are CLOCK_MONOTONIC nanoseconds.
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ecmo_gpio_line ecmo_gpio_line;

enum ecmo_gpio_bias { ECMO_GPIO_BIAS_AS_IS = 0, ECMO_GPIO_BIAS_DISABLED = 1, ECMO_GPIO_BIAS_PULL_UP = 2, ECMO_GPIO_BIAS_PULL_DOWN = 3 };
enum ecmo_gpio_drive { ECMO_GPIO_DRIVE_PUSH_PULL = 0, ECMO_GPIO_DRIVE_OPEN_DRAIN = 1, ECMO_GPIO_DRIVE_OPEN_SOURCE = 2 };
enum ecmo_gpio_edge_detection { ECMO_GPIO_EDGE_NONE = 0, ECMO_GPIO_EDGE_RISING = 1, ECMO_GPIO_EDGE_FALLING = 2, ECMO_GPIO_EDGE_BOTH = 3 };
/// Edge kinds as in EdgeEvent.Kind: 1 rising, 2 falling.
enum ecmo_gpio_edge_kind { ECMO_GPIO_EDGE_KIND_RISING = 1, ECMO_GPIO_EDGE_KIND_FALLING = 2 };

/// 1 or 2: the libgpiod API this object was compiled against.
int ecmo_gpiod_api_version(void);
/// The library's own version string ("1.6.3", "2.2.1").
const char *ecmo_gpiod_version(void);

/// Requests one line of the chip whose label is `chip_label` as an output, driving
/// `value` (logical) from the request itself: there is no instant at which it is an
/// input or at another level.
ecmo_gpio_line *ecmo_gpio_request_output(const char *chip_label, unsigned int offset, const char *consumer,
                                         int active_low, int bias, int drive, int value, int *error);
/// Requests one line as an input, with edge detection (events timestamped by the kernel
/// on CLOCK_MONOTONIC) and, where the API has it (v2), debounce.
ecmo_gpio_line *ecmo_gpio_request_input(const char *chip_label, unsigned int offset, const char *consumer,
                                        int active_low, int bias, int edge, unsigned int debounce_us, int *error);
/// The debounce the kernel applies to this input, in µs: 0 on v1 (its uAPI has none), and
/// on v2 when the line could not be debounced by the driver or the kernel (the request is
/// then made again without it). The caller debounces in software what is missing.
unsigned int ecmo_gpio_kernel_debounce_us(ecmo_gpio_line *line);
int ecmo_gpio_set(ecmo_gpio_line *line, int value);
/// 0 or 1 (logical), or -errno.
int ecmo_gpio_get(ecmo_gpio_line *line);
/// Moves up to `max` pending edges into the arrays without blocking; returns how many, or
/// -errno. Allocates nothing (v2 reads into a buffer made at request time).
int ecmo_gpio_read_edges(ecmo_gpio_line *line, uint64_t *timestamps_ns, uint8_t *kinds, int max);
/// Releases the line (it falls back to its hardware default) and frees the handle.
void ecmo_gpio_release(ecmo_gpio_line *line);
/// Number of lines of the chip labelled `chip_label`, or -errno (-ENOENT: no such chip).
int ecmo_gpio_chip_lines(const char *chip_label);

#ifdef __cplusplus
}
#endif
#endif

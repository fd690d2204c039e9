#ifndef ECMO_CGPIOD_SHIM_H
#define ECMO_CGPIOD_SHIM_H
// libgpiod: v1 (Debian 12, Pi OS bookworm) or v2 (Debian 13, Pi OS trixie).
#include <gpiod.h>
#endif

/// The Linux hardware backend: libgpiod lines, i2c-dev, sysfs PWM and /dev/watchdog.
/// The only module that touches `/dev`. Its GPIO part (`GPIOD/`) is compiled only where
/// libgpiod's headers are installed (see Package.swift), so that the package builds on a
/// laptop without them; the rest needs nothing but the C library.
public enum LinuxBackend {
    /// Whether this build links libgpiod (false on a machine without `libgpiod-dev`).
    public static var hasGPIOD: Bool {
        #if ECMO_NO_GPIOD
        false
        #else
        true
        #endif
    }
}

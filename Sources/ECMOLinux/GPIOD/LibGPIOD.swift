#if os(Linux) || ECMO_LINUX_EMBEDDED
import CGPIOD

/// Facts about the libgpiod this binary was built against.
public enum LibGPIOD {
    /// The library's own version string ("1.6.3", "2.2.1"...): v1 and v2 have different
    /// APIs, and a rig must report which one it runs.
    public static var version: String { String(cString: ecmo_gpiod_version()) }
    public static var majorVersion: Int { Int(version.split(separator: ".").first ?? "") ?? 0 }
    /// 1 or 2: the API the C shim was compiled against (from the header, not the version).
    public static var apiVersion: Int { Int(ecmo_gpiod_api_version()) }
}

extension GPIOLibrary {
    /// The real library, through the C shim.
    public static var libgpiod: GPIOLibrary {
        GPIOLibrary(
            requestOutput: { label, offset, consumer, s, value, error in
                label.withCString { l in
                    consumer.withCString { c in
                        ecmo_gpio_request_output(l, offset, c, s.activeLow ? 1 : 0, s.bias, s.drive, value ? 1 : 0, &error)
                    }
                }
            },
            requestInput: { label, offset, consumer, s, error in
                label.withCString { l in
                    consumer.withCString { c in
                        ecmo_gpio_request_input(l, offset, c, s.activeLow ? 1 : 0, s.bias, s.edge, s.debounceMicroseconds, &error)
                    }
                }
            },
            set: { ecmo_gpio_set($0, $1 ? 1 : 0) },
            get: { ecmo_gpio_get($0) },
            readEdges: { ecmo_gpio_read_edges($0, $1, $2, $3) },
            release: { ecmo_gpio_release($0) },
            chipLines: { label in label.withCString { ecmo_gpio_chip_lines($0) } },
            describe: { "libgpiod \(LibGPIOD.version) (v\(LibGPIOD.apiVersion) API)" },
            kernelDebounce: { UInt32(clamping: ecmo_gpio_kernel_debounce_us($0)) })
    }
}
#endif

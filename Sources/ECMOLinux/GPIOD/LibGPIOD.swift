#if os(Linux)
import CGPIOD

/// Facts about the libgpiod this binary was built against.
public enum LibGPIOD {
    /// The library's own version string ("1.6.3", "2.2.1"...): v1 and v2 have different
    /// APIs, and a rig must report which one it runs.
    public static var version: String { String(cString: gpiod_version_string()) }
    public static var majorVersion: Int { Int(version.split(separator: ".").first ?? "") ?? 0 }
}
#endif

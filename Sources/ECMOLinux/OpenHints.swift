#if os(Linux) || ECMO_LINUX_EMBEDDED
import ECMOHAL
import ECMOBoard

/// What a person should change when a device cannot be opened: the message names the
/// device and the fix (group, config.txt line, module), because on a rig the usual cause
/// is a fresh SD card, not a bug.
enum OpenHint {
    static func i2c(path: String, errno e: Int32) -> String {
        switch e {
        case Errno.EACCES, Errno.EPERM:
            "permission denied on \(path): run as a user in the 'i2c' group (sudo usermod -aG i2c $USER, then log in again) or add a udev rule giving the group access"
        case Errno.ENOENT:
            "\(path) does not exist: enable the bus (dtparam=i2c_arm=on in /boot/firmware/config.txt, reboot) and load i2c-dev (echo i2c-dev | sudo tee /etc/modules-load.d/i2c-dev.conf)"
        case Errno.ENOTTY:
            "\(path) is not an i2c-dev device node"
        default:
            "\(Errno.name(e)) opening \(path)"
        }
    }

    static func gpio(label: String, line: Int, errno e: Int32) -> String {
        switch e {
        case Errno.EACCES, Errno.EPERM:
            "permission denied on the GPIO chip labelled \(label): run as a user in the 'gpio' group (sudo usermod -aG gpio $USER, then log in again)"
        case Errno.ENOENT, Errno.ENODEV:
            "no GPIO chip labelled '\(label)' (list them with gpiodetect; a Pi 4 has pinctrl-bcm2711, a Pi 5 pinctrl-rp1)"
        case Errno.EBUSY:
            "line \(line) of \(label) is already requested by another consumer (see gpioinfo \(label)); stop the other program or fix the board file"
        case Errno.EINVAL:
            "line \(line) of \(label) cannot be requested with these settings (offset beyond the chip, or a bias/drive the chip does not support)"
        case Errno.ENOSYS:
            "this program was built without libgpiod: install libgpiod-dev and rebuild (ECMO_LINUX_BACKEND=1 swift build)"
        default:
            "\(Errno.name(e)) requesting line \(line) of \(label)"
        }
    }

    static func watchdog(path: String, errno e: Int32) -> String {
        switch e {
        case Errno.EACCES, Errno.EPERM:
            "permission denied on \(path): the watchdog node is root-only by default; add the udev rule in deploy/99-ecmo-rig.rules (group 'watchdog') or run the service as described in docs/deploy-pi.md"
        case Errno.ENOENT:
            "\(path) does not exist: enable the hardware watchdog (dtparam=watchdog=on in /boot/firmware/config.txt) or load a driver (softdog in a VM)"
        case Errno.EBUSY:
            "\(path) is held by another process (systemd's RuntimeWatchdogSec= in /etc/systemd/system.conf, or the watchdog daemon): free it for the rig"
        default:
            "\(Errno.name(e)) opening \(path)"
        }
    }

    static func pwm(path: String, errno e: Int32) -> String {
        switch e {
        case Errno.EACCES, Errno.EPERM:
            "permission denied under \(path): install deploy/99-ecmo-rig.rules (gives the 'gpio' group the pwm sysfs files) or run as root"
        case Errno.ENOENT:
            "\(path) does not exist: enable the PWM overlay (dtoverlay=pwm,pin=18,func=2 on a Pi 4; dtoverlay=pwm on a Pi 5) and reboot; ls /sys/class/pwm"
        case Errno.ETIMEDOUT:
            "the PWM channel directory under \(path) did not appear (or stayed unwritable) after export"
        default:
            "\(Errno.name(e)) under \(path)"
        }
    }
}

extension Errno {
    public static let ENOSYS: Int32 = 38
}
#endif

/// The exit codes of the rig's programs (`ecmo-rig`, and `ecmo-pi` on the Pi): decisions a
/// service manager must not undo by restarting (deploy/*.service list them), one table for both.
public enum RigExitCode {
    public static let boardInvalid: Int32 = 2
    public static let faulted: Int32 = 3
    public static let sensorsNotReady: Int32 = 4
    public static let hardware: Int32 = 5
    public static let recordFailed: Int32 = 6
    public static let runStore: Int32 = 7
    public static let console: Int32 = 8
    /// `drill`: a prompt went unanswered (or the operator stopped it): outputs safe, record kept.
    public static let drillAborted: Int32 = 9
    /// Bad command-line arguments (ArgumentParser's, and `ecmo-pi`'s).
    public static let usage: Int32 = 64
}

import ECMOConsole
import Testing

/// The runs panel passes a run id from the URL to `ecmo-rig` as an argument: only ids
/// ecmo-rig makes pass, never a path out of the runs directory or an option.
struct RunsRoutesTests {
    @Test(arguments: ["20261204-200657-sim-4528", "millar-like", "run_1.b"])
    func aRunIdAsEcmoRigMakesThemIsAccepted(_ id: String) {
        #expect(ConsoleServer.validRunID(Substring(id)))
    }

    @Test(arguments: ["", "../etc", "a/b", ".hidden", "--runs", "-x", "a b", "run;rm"])
    func aPathAnOptionOrShellTextIsRefused(_ id: String) {
        let ok = ConsoleServer.validRunID(Substring(id))
        // "-x" and "--runs" are refused below: an id may not start with a dash either.
        #expect(!ok, "\(id) accepted")
    }
}

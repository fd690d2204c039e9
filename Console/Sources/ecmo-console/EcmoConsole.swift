import ArgumentParser
import ECMOConsole
import Foundation
import Hummingbird
import Logging

@main
struct EcmoConsole: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ecmo-console",
        abstract: "Operator console for a running ecmo-rig: web dashboard, authenticated API, /metrics.",
        subcommands: [Serve.self, User.self]
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the dashboard and API, connected to the rig's console socket.")

    @Option(help: "The rig's console socket (ecmo-rig run --console-socket PATH).")
    var rig = "/tmp/ecmo-rig.sock"

    @Option(help: "Users file (.yaml or .json), made with `ecmo-console user add`.")
    var users: String

    @Option(help: "Address to listen on, HOST:PORT. Localhost unless you say otherwise.")
    var bind = "127.0.0.1:8080"

    @Option(help: "Folder holding chart.min.js (default: Debian's /usr/share/javascript/chart.js).")
    var assets: String?

    @Option(help: "Folder of the console's own page (default: the copy built beside the program).")
    var web: String?

    @Option(help: "File holding a bearer token Prometheus may use at /metrics (besides any session).")
    var metricsTokenFile: String?

    @Option(help: "Runs directory of the rig (ecmo-rig … --out DIR): the runs panel lists its finished runs, opens their reports and CSV exports.")
    var runs: String?

    @Option(help: "The ecmo-rig program the runs panel asks (runs list, report, runs export).")
    var ecmoRig = "ecmo-rig"

    @Flag(help: "Mark the session cookie Secure (when served through a TLS reverse proxy).")
    var secureCookie = false

    @Option(help: "Sessions database (SQLite; only token hashes are stored). Default: console-sessions.sqlite beside the users file.")
    var sessions: String?

    @Option(help: "Audit log (JSON lines, appended): logins, failures, lockouts, logouts, refusals. Default: console-audit.jsonl beside the users file.")
    var auditLog: String?

    @Option(help: "Commands per user: sustained rate per second (burst: 5 times this, at least 10).")
    var commandRate: Double = 2

    func run() async throws {
        var logger = Logger(label: "ecmo-console")
        logger.logLevel = .info
        let usersFile: UsersFile
        do { usersFile = try UsersFile.load(path: users) } catch {
            throw ValidationError("\(error)")
        }
        if usersFile.users.isEmpty {
            logger.warning("users file \(users) has no users: nobody can log in (ecmo-console user add NAME --role operator)")
        }
        guard let colon = bind.lastIndex(of: ":"), let port = Int(bind[bind.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("--bind must be HOST:PORT, e.g. 127.0.0.1:8080")
        }
        var config = ConsoleConfiguration(rigSocket: rig, users: usersFile)
        config.host = String(bind[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        config.port = port
        config.secureCookie = secureCookie
        let beside = URL(fileURLWithPath: users).deletingLastPathComponent()
        config.sessionsDatabase = sessions ?? beside.appendingPathComponent("console-sessions.sqlite").path
        config.auditLog = auditLog ?? beside.appendingPathComponent("console-audit.jsonl").path
        guard commandRate > 0, commandRate <= 1000 else { throw ValidationError("--command-rate must be in (0, 1000]") }
        config.commandsPerSecond = commandRate
        config.commandBurst = max(10, 5 * commandRate)
        config.runsDirectory = runs.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        if runs != nil {
            // A bare name is looked up on PATH once, here.
            var binary = ecmoRig
            if !binary.contains("/") {
                let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin"
                binary = path.split(separator: ":").map { "\($0)/\(ecmoRig)" }.first { FileManager.default.isExecutableFile(atPath: $0) } ?? binary
            }
            guard FileManager.default.isExecutableFile(atPath: binary) else { throw ValidationError("--ecmo-rig \(ecmoRig) is not an executable program") }
            config.ecmoRigBinary = URL(fileURLWithPath: binary).standardizedFileURL.path
        }
        if let web { config.webDirectory = web }
        if let assets { config.chartJSPath = URL(fileURLWithPath: assets).appendingPathComponent("chart.min.js").path }
        if let path = config.chartJSPath, !FileManager.default.fileExists(atPath: path) {
            logger.error("chart.js not found at \(path): the dashboard will show no charts (apt-get install libjs-chart.js, or --assets DIR)")
        }
        if !FileManager.default.fileExists(atPath: config.webDirectory + "/index.html") {
            throw ValidationError("the console's page is not at \(config.webDirectory)/index.html (pass --web DIR)")
        }
        if let metricsTokenFile {
            guard let text = try? String(contentsOfFile: metricsTokenFile, encoding: .utf8) else {
                throw ValidationError("cannot read --metrics-token-file \(metricsTokenFile)")
            }
            config.metricsToken = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if !["127.0.0.1", "localhost", "::1"].contains(config.host) {
            logger.warning("listening on \(config.host): not localhost. Put a TLS reverse proxy in front (docs/console.md)")
        }
        let server: ConsoleServer
        do { server = try ConsoleServer(configuration: config, logger: logger) } catch { throw ValidationError("\(error)") }
        logger.info("ecmo-console on http://\(bind), rig socket \(rig), \(usersFile.users.count) user(s), sessions \(config.sessionsDatabase ?? "-") (\(server.sessions.count()) live), audit log \(config.auditLog ?? "-")")
        try await server.buildApplication().runService()
    }
}

struct User: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage console users.", subcommands: [Add.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a user or replace its password and role. The password is read from standard input (prompted on a terminal).")

        @Argument(help: "User name (letters, digits, '.', '_', '-').")
        var name: String

        @Option(help: "viewer (read-only) or operator (commands).")
        var role: Role

        @Option(help: "Users file (.yaml or .json); created with mode 0600 if absent.")
        var users = "console-users.yaml"

        @Option(help: "bcrypt cost (work factor).")
        var cost: UInt8 = 12

        func run() async throws {
            guard UsersFile.isValidName(name) else { throw ValidationError("user name must be 1-64 letters, digits, '.', '_' or '-'") }
            guard (4...31).contains(cost) else { throw ValidationError("--cost must be 4...31") }
            var file: UsersFile
            if FileManager.default.fileExists(atPath: users) {
                do { file = try UsersFile.load(path: users) } catch { throw ValidationError("\(error)") }
            } else {
                file = UsersFile(path: users)
            }
            let password: String
            if isatty(STDIN_FILENO) == 1 {
                guard let p = getpass("Password for \(name): ").map({ String(cString: $0) }), !p.isEmpty else {
                    throw ValidationError("empty password")
                }
                guard let again = getpass("Again: ").map({ String(cString: $0) }), again == p else {
                    throw ValidationError("the passwords differ")
                }
                password = p
            } else {
                guard let line = readLine(strippingNewline: true), !line.isEmpty else {
                    throw ValidationError("no password on standard input")
                }
                password = line
            }
            guard password.count >= 8 else { throw ValidationError("password shorter than 8 characters") }
            file.set(name: name, role: role, password: password, cost: cost)
            try file.save()
            print("\(name) (\(role.rawValue)) saved in \(users)")
        }
    }
}

extension Role: ExpressibleByArgument {}

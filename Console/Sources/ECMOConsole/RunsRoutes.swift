import Foundation
import Hummingbird
import NIOCore

/// Finished runs in the console: the list, a run's HTML report, its CSV export and a
/// comparison of several runs. The console reads no run store itself (no GRDB in this
/// package): it asks `ecmo-rig` — the same `runs list --json`, `report` and `runs export`
/// a person types — so the console and the terminal can never disagree about a run.
/// Read-only, so a viewer may use them; off unless `--runs DIR` is given.
extension ConsoleServer {
    /// A run id as `ecmo-rig` makes them: letters, digits, `-`, `_`, `.` (no leading dot or
    /// dash: never a hidden path or an option of ecmo-rig; no slash).
    public static func validRunID(_ s: Substring) -> Bool {
        !s.isEmpty && s.count <= 200 && s.first != "." && s.first != "-" && s.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) }
    }

    /// Runs `ecmo-rig ARGS` and returns its exit status, standard output and standard error.
    static func ecmoRig(_ binary: String, _ args: [String]) async -> (status: Int32, out: Data, err: String) {
        await withCheckedContinuation { continuation in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = args
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            do { try p.run() } catch {
                continuation.resume(returning: (127, Data(), "cannot start \(binary): \(error)"))
                return
            }
            DispatchQueue.global().async {
                let o = out.fileHandleForReading.readDataToEndOfFile()
                let e = err.fileHandleForReading.readDataToEndOfFile()
                p.waitUntilExit()
                continuation.resume(returning: (p.terminationStatus, o, String(decoding: e, as: UTF8.self)))
            }
        }
    }

    func addRunRoutes(to router: Router<ConsoleContext>) {
        router.get("/api/runs") { request, context in
            guard identity(request) != nil else { return unauthenticated(request, context) }
            guard let runs = configuration.runsDirectory else { return Self.error(.notFound, "this console has no runs directory (ecmo-console serve --runs DIR)") }
            let r = await Self.ecmoRig(configuration.ecmoRigBinary, ["runs", "list", "--runs", runs, "--json"])
            guard r.status == 0 else { return Self.error(.internalServerError, "ecmo-rig runs list failed: \(r.err)") }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: r.out)))
        }
        router.get("/api/runs/:id/report") { request, context in
            guard identity(request) != nil else { return unauthenticated(request, context) }
            return await runFile(context, kind: "report")
        }
        router.get("/api/runs/:id/telemetry.csv") { request, context in
            guard identity(request) != nil else { return unauthenticated(request, context) }
            return await runFile(context, kind: "csv")
        }
        router.get("/api/compare") { request, context in
            guard identity(request) != nil else { return unauthenticated(request, context) }
            let ids = (request.uri.queryParameters.get("ids") ?? "").split(separator: ",")
            guard ids.count >= 2, ids.count <= 8, ids.allSatisfy(Self.validRunID) else {
                return Self.error(.badRequest, "ids: two to eight run ids separated by commas")
            }
            return await generated(["report"] + ids.map(String.init), file: "comparison-report.html", type: "text/html; charset=utf-8")
        }
    }

    func runFile(_ context: ConsoleContext, kind: String) async -> Response {
        guard let id = context.parameters.get("id"), Self.validRunID(Substring(id)) else {
            return Self.error(.badRequest, "not a run id")
        }
        if kind == "report" { return await generated(["report", id], file: "report.html", type: "text/html; charset=utf-8") }
        return await generated(["runs", "export", id], file: "out/telemetry.csv", type: "text/csv; charset=utf-8",
                               download: "\(id)-telemetry.csv")
    }

    /// Lets ecmo-rig write its file into a private temporary folder, then serves it.
    func generated(_ args: [String], file: String, type: String, download: String? = nil) async -> Response {
        guard let runs = configuration.runsDirectory else { return Self.error(.notFound, "this console has no runs directory (ecmo-console serve --runs DIR)") }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ecmo-console-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: tmp) }
        do { try FileManager.default.createDirectory(at: tmp.appendingPathComponent("out"), withIntermediateDirectories: true) } catch {
            return Self.error(.internalServerError, "cannot create a temporary folder: \(error)")
        }
        let target = tmp.appendingPathComponent(file)
        let out = args.first == "runs" ? tmp.appendingPathComponent("out/telemetry.csv").path : target.path
        let r = await Self.ecmoRig(configuration.ecmoRigBinary, args + ["--runs", runs, "--out", out])
        guard r.status == 0, let data = try? Data(contentsOf: target) else {
            let why = r.err.trimmingCharacters(in: .whitespacesAndNewlines)
            return Self.error(r.status == 127 ? .internalServerError : .notFound, why.isEmpty ? "ecmo-rig \(args.joined(separator: " ")) failed" : why)
        }
        var headers: HTTPFields = [.contentType: type]
        if let download { headers[.contentDisposition] = "attachment; filename=\"\(download)\"" }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

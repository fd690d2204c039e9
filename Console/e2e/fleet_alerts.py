#!/usr/bin/env python3
"""A lab of three rigs under a real Prometheus (scripts/fleet-alerts runs this).

Starts three rigs with their consoles — rig3 a real `ecmo-rig run --pace realtime` when
--rig names the program (else a fake rig too), rig1 and rig2 the package's ecmo-fake-rig,
which speaks the same link protocol — and a Prometheus server of its own (temporary
config and data directory, its own port) that scrapes the three consoles' /metrics with
the metrics token and evaluates deploy/prometheus/ecmo-alerts.yml every second. Then it
checks that no EcmoHighPriorityAlarm fires, makes one rig raise a high-priority alarm
through its console (a speed set-point the rig answers with suction, P_DRAIN_LOW, on the
real rig; P_POST_HIGH on a fake one), and waits until Prometheus's /api/v1/alerts shows
the alert firing for that rig and for no other. Stops everything it started.
"""
import argparse, json, os, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request, urllib.error

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RULES = os.path.join(ROOT, "deploy", "prometheus", "ecmo-alerts.yml")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http(method, url, body=None, headers=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    h = dict(headers or {})
    if data:
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw.decode(errors="replace"))
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


def wait_for(what, fn, timeout, interval=0.5):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 (keep polling; report the last error)
            last = e
        time.sleep(interval)
    raise AssertionError("timed out after %.0f s waiting for %s (last: %r)" % (timeout, what, last))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "Console", ".build", "debug"), help="folder of ecmo-console and ecmo-fake-rig")
    ap.add_argument("--rig", default=None, help="ecmo-rig program for rig3 (else a fake rig)")
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    args = ap.parse_args()
    started = time.time()
    work = tempfile.mkdtemp(prefix="ecmo-fleet-")
    procs = []

    def start(name, cmd):
        log = open(os.path.join(work, name + ".log"), "w")
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        procs.append((name, p))
        return p

    try:
        console = os.path.join(args.bin, "ecmo-console")
        users = os.path.join(work, "users.yaml")
        subprocess.run([console, "user", "add", "olga", "--role", "operator", "--users", users, "--cost", "4"],
                       input="operator-password\n", text=True, check=True, capture_output=True)
        token_file = os.path.join(work, "metrics.token")
        with open(token_file, "w") as f:
            f.write(os.urandom(16).hex() + "\n")

        rigs = {}
        for name in ("rig1", "rig2", "rig3"):
            sock = os.path.join(work, name + ".sock")
            if name == "rig3" and args.rig:
                start(name, [args.rig, "run", "--pace", "realtime", "--rpm", "3000", "--duration", "10m", "--quiet",
                             "--out", os.path.join(work, "runs-" + name), "--console-socket", sock])
                kind = "ecmo-rig run --pace realtime"
            else:
                start(name, [os.path.join(args.bin, "ecmo-fake-rig"), sock, "25"])
                kind = "ecmo-fake-rig"
            port = free_port()
            d = os.path.join(work, name)
            os.makedirs(d)
            start(name + "-console", [console, "serve", "--rig", sock, "--users", users, "--bind", "127.0.0.1:%d" % port,
                                      "--metrics-token-file", token_file, "--sessions", os.path.join(d, "sessions.sqlite"),
                                      "--audit-log", os.path.join(d, "audit.jsonl")])
            rigs[name] = {"port": port, "kind": kind, "base": "http://127.0.0.1:%d" % port}
        for name, r in rigs.items():
            wait_for("%s's console" % name, lambda: http("GET", r["base"] + "/")[0] == 200, timeout=30)

        # Prometheus: the lab's job (deploy/prometheus/prometheus.yml) with file_sd targets
        # of our three consoles, 1 s intervals, and the lab's rules file itself.
        targets = os.path.join(work, "targets.json")
        with open(targets, "w") as f:
            json.dump([{"targets": ["127.0.0.1:%d" % r["port"]], "labels": {"rig": n}} for n, r in rigs.items()], f)
        config = os.path.join(work, "prometheus.yml")
        with open(config, "w") as f:
            f.write("""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%s]
scrape_configs:
  - job_name: ecmo-console
    metrics_path: /metrics
    authorization: { type: Bearer, credentials_file: %s }
    scheme: http
    scrape_timeout: 900ms
    file_sd_configs: [{ files: [%s], refresh_interval: 5s }]
""" % (json.dumps(RULES), json.dumps(token_file), json.dumps(targets)))
        subprocess.run(["promtool", "check", "config", config], check=True, capture_output=True)
        pport = free_port()
        prom = "http://127.0.0.1:%d" % pport
        start("prometheus", [args.prometheus, "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(work, "tsdb"),
                             "--web.listen-address=127.0.0.1:%d" % pport, "--log.level=warn"])

        def targets_up():
            s, v = http("GET", prom + "/api/v1/targets")
            active = v["data"]["activeTargets"] if s == 200 else []
            up = sorted(t["labels"]["rig"] for t in active if t["health"] == "up")
            return up if up == sorted(rigs) else None
        wait_for("Prometheus scraping the three consoles", targets_up, timeout=60)

        def rig_connected(name):
            s, v = http("GET", prom + "/api/v1/query?query=" + urllib.request.quote('ecmo_console_rig_connected{rig="%s"}' % name))
            res = v["data"]["result"] if s == 200 else []
            return res and res[0]["value"][1] == "1"
        for name in rigs:
            wait_for("%s connected to its console, as Prometheus sees it" % name, lambda: rig_connected(name), timeout=60)

        def high_alarm_alerts():
            s, v = http("GET", prom + "/api/v1/alerts")
            return [a for a in v["data"]["alerts"] if a["labels"].get("alertname") == "EcmoHighPriorityAlarm"]
        time.sleep(3)
        quiet = high_alarm_alerts()
        assert quiet == [], "a high-priority alarm alert before any alarm: %r" % quiet
        print("prometheus scrapes %s; no EcmoHighPriorityAlarm (%.0f s in)" % (
            ", ".join("%s (%s)" % (n, r["kind"]) for n, r in rigs.items()), time.time() - started))

        # One rig raises a high-priority alarm: a speed set-point its console forwards.
        target = "rig3"
        r = rigs[target]
        s, login = http("POST", r["base"] + "/api/login", {"user": "olga", "password": "operator-password"})
        assert s == 200, "login: %s %r" % (s, login)
        auth = {"Authorization": "Bearer " + login["token"]}
        rpm = 4500 if r["kind"].startswith("ecmo-rig") else 3800

        def set_speed():
            s, v = http("POST", r["base"] + "/api/command", {"name": "set_speed", "args": {"rpm": rpm}}, auth)
            return v if s == 200 else None  # the real rig refuses until it runs (409)
        wait_for("%s to accept set_speed %d" % (target, rpm), set_speed, timeout=60, interval=1)
        t0 = time.time()
        print("%s: set_speed %d rpm accepted" % (target, rpm))

        def firing():
            alerts = high_alarm_alerts()
            on = sorted(a["labels"]["rig"] for a in alerts if a["state"] == "firing")
            return (on, alerts) if on else None
        on, alerts = wait_for("EcmoHighPriorityAlarm firing", firing, timeout=60)
        assert on == [target], "firing for %s, expected only %s: %r" % (on, target, alerts)
        others = [a for a in alerts if a["labels"]["rig"] != target]
        assert not others, "alerts for the other rigs: %r" % others
        print("EcmoHighPriorityAlarm firing for %s only, %.1f s after the set-point (value %s)" % (target, time.time() - t0,
              [a["value"] for a in alerts][0]))
        s, v = http("GET", prom + "/api/v1/alerts")
        names = sorted({"%s/%s/%s" % (a["labels"]["alertname"], a["labels"].get("rig"), a["state"]) for a in v["data"]["alerts"]})
        print("all alerts now: %s" % ", ".join(names))
        print("fleet alerts: %.0f s" % (time.time() - started))
        print("1 passed, 0 failed")
        return 0
    except Exception as e:  # noqa: BLE001
        print("FAIL: fleet alerts: %s" % e)
        for name in sorted(os.listdir(work)):
            if name.endswith(".log"):
                print("---- %s (tail)" % name)
                print("".join(open(os.path.join(work, name), errors="replace").readlines()[-12:]))
        print("0 passed, 1 failed")
        return 1
    finally:
        for name, p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

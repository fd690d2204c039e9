#!/usr/bin/env python3
"""A console killed during a run changes nothing in the rig's outputs or record.

Runs `ecmo-rig run --pace fast --seed N` twice with the same arguments: once alone, once
with `--console-socket` and an `ecmo-console` attached that is SIGKILLed mid-run (a
WebSocket viewer is not needed: the console reads the socket whether or not a browser
listens). Then compares the two runs' telemetry.csv byte for byte, and the events.jsonl
lines other than the console's own.

Run from the repository root after building both:
  python3 Console/e2e/console_kill_test.py --rig .build/release/ecmo-rig --bin Console/.build/debug
"""
import argparse, glob, json, os, shutil, signal, subprocess, sys, tempfile, time


def run_dir(out):
    dirs = [d for d in glob.glob(os.path.join(out, "*")) if os.path.isdir(d) and os.path.exists(os.path.join(d, "telemetry.csv"))]
    if len(dirs) != 1:
        raise AssertionError("expected one run directory under %s, found %s" % (out, dirs))
    return dirs[0]


def events_without_console(path):
    keep = []
    for line in open(path):
        try:
            e = json.loads(line)
        except ValueError:
            keep.append(line)
            continue
        if "console" in str(e.get("event", "")) or "client" in str(e.get("event", "")):
            continue
        keep.append(line)
    return keep


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rig", default=".build/release/ecmo-rig")
    ap.add_argument("--bin", default="Console/.build/debug")
    ap.add_argument("--duration", default="20m", help="loop time of each run (long enough to attach and kill the console)")
    ap.add_argument("--seed", default="7")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="ecmo-console-kill-")
    base = [args.rig, "run", "--pace", "fast", "--seed", args.seed, "--duration", args.duration, "--quiet", "--rpm", "3000"]
    try:
        # 1. Alone.
        alone = os.path.join(work, "alone")
        t0 = time.time()
        subprocess.run(base + ["--out", alone], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
        alone_s = time.time() - t0

        # 2. With a console attached, then SIGKILLed.
        users = os.path.join(work, "users.yaml")
        subprocess.run([os.path.join(args.bin, "ecmo-console"), "user", "add", "olga", "--role", "operator", "--users", users, "--cost", "4"],
                       input="operator-password\n", text=True, check=True, capture_output=True)
        sock = os.path.join(work, "rig.sock")
        attached = os.path.join(work, "attached")
        rig = subprocess.Popen(base + ["--out", attached, "--console-socket", sock], stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "rig.log"), "w"))
        console_log = os.path.join(work, "console.log")
        console = subprocess.Popen([os.path.join(args.bin, "ecmo-console"), "serve", "--rig", sock, "--users", users, "--bind", "127.0.0.1:0"],
                                   stdout=open(console_log, "w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline and "connected to rig" not in open(console_log).read():
            if rig.poll() is not None:
                raise AssertionError("the rig finished before the console connected (run %.1f s alone); use a longer --duration" % alone_s)
            time.sleep(0.05)
        if "connected to rig" not in open(console_log).read():
            raise AssertionError("the console never connected:\n" + open(console_log).read())
        time.sleep(min(1.0, alone_s / 4))
        killed_while_running = rig.poll() is None
        console.send_signal(signal.SIGKILL)
        console.wait()
        rc = rig.wait(timeout=600)
        if rc != 0:
            raise AssertionError("the rig with a killed console exited %d:\n%s" % (rc, open(os.path.join(work, "rig.log")).read()[-2000:]))
        if not killed_while_running:
            raise AssertionError("the rig had already finished when the console was killed; use a longer --duration")

        a, b = run_dir(alone), run_dir(attached)
        ta = open(os.path.join(a, "telemetry.csv"), "rb").read()
        tb = open(os.path.join(b, "telemetry.csv"), "rb").read()
        if ta != tb:
            raise AssertionError("telemetry.csv differs (%d vs %d bytes)" % (len(ta), len(tb)))
        ea, eb = events_without_console(os.path.join(a, "events.jsonl")), events_without_console(os.path.join(b, "events.jsonl"))
        if ea != eb:
            raise AssertionError("events.jsonl differs beyond console events (%d vs %d lines)" % (len(ea), len(eb)))
        print("PASS: console SIGKILLed mid-run: telemetry.csv identical (%d rows), events identical (%d lines); run alone took %.1f s"
              % (ta.count(b"\n") - 1, len(ea), alone_s))
        print("1 passed, 0 failed")
        return 0
    except Exception as e:  # noqa: BLE001
        print("FAIL: console kill test: %s" % e)
        print("0 passed, 1 failed")
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

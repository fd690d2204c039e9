#!/usr/bin/env python3
"""Soak: a simulated run with the console attached and a client that opens a fresh WebSocket
every loop minute (and logs in afresh every wall minute). The telemetry rate the client
receives must hold, minute after minute, and the rig's and the console's memory must stay
flat (RSS sampled every 10 s of wall time, reported over time).

  python3 Console/e2e/soak.py --minutes 30 [--pace realtime|24x] [--rig .build/release/ecmo-rig]
                              [--bin Console/.build/debug] [--csv rss.csv]

--pace realtime runs the rig on the real clock; --pace 24x runs it in lockstep held to 24
times real time (`ecmo-rig run --pace 24x`), so --minutes 1440 (a day of loop time) takes an
hour of wall time and pushes the same day of telemetry through the link and the console.

Exit 1 if a loop minute's telemetry (counted from the messages' own `t`) falls below 90 % of
the link's rate, or in real time a minute's rate below 90 % of the first minute's; if either
process dies; or if a process's RSS grows by more than --growth-mb between the median of its
first and of its last ten samples.
Standard library only (its WebSocket client is the few lines a text stream needs).
"""
import argparse, base64, glob, http.client, json, os, socket, statistics, struct, subprocess, sys, tempfile, time


def rss_kb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def login(host, port, user, password):
    origin = f"http://{host}:{port}"
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.request("POST", "/api/login", body=json.dumps({"user": user, "password": password}),
              headers={"Content-Type": "application/json", "Origin": origin})
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        raise RuntimeError(f"login: HTTP {r.status} {body[:200]!r}")
    cookie = r.getheader("Set-Cookie", "").split(";")[0]
    csrf = None
    try:
        csrf = json.loads(body).get("csrf")
    except ValueError:
        pass
    return cookie, csrf


def logout(host, port, cookie, csrf):
    origin = f"http://{host}:{port}"
    c = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"Cookie": cookie, "Origin": origin, "Content-Type": "application/json"}
    if csrf:
        headers["X-CSRF-Token"] = csrf
    c.request("POST", "/api/logout", body="{}", headers=headers)
    c.getresponse().read()


def ws_open(host, port, cookie):
    s = socket.create_connection((host, port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /api/ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://{host}:{port}\r\n"
               f"Cookie: {cookie}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            raise RuntimeError("WebSocket: closed during the handshake")
        head += chunk
    status = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status:
        raise RuntimeError(f"WebSocket handshake: {status.decode(errors='replace')}")
    return s


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError
        b += chunk
    return b


def ws_frames(s, until):
    """Yields text messages until the wall time `until` (answers pings, ends on close)."""
    while time.time() < until:
        s.settimeout(max(0.05, until - time.time()))
        try:
            h = recv_exact(s, 2)
        except socket.timeout:
            return
        opcode, n = h[0] & 0x0F, h[1] & 0x7F
        if n == 126:
            n = struct.unpack(">H", recv_exact(s, 2))[0]
        elif n == 127:
            n = struct.unpack(">Q", recv_exact(s, 8))[0]
        payload = recv_exact(s, n)
        if opcode == 0x8:
            return
        if opcode == 0x9:  # ping: pong, masked as a client must
            mask = os.urandom(4)
            s.sendall(bytes([0x8A, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
            continue
        if opcode == 0x1:
            yield payload


def ws_close(s):
    try:
        s.sendall(bytes([0x88, 0x80]) + os.urandom(4))
        s.close()
    except OSError:
        pass


def parse_pace(text):
    """'realtime' -> 1.0 (real time); 'Nx' -> N (lockstep held to N times real time)."""
    if text == "realtime":
        return 1.0
    if text.endswith("x"):
        try:
            v = float(text[:-1])
        except ValueError:
            v = 0
        if 0 < v <= 1000:
            return v
    raise SystemExit(f"--pace {text!r}: must be 'realtime' or Nx with 0 < N <= 1000 (e.g. 24x)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30, help="length of the run in loop minutes")
    ap.add_argument("--pace", default="realtime",
                    help="realtime, or Nx: the rig in lockstep held to N times real time (24x: a day in an hour)")
    ap.add_argument("--rig", default=".build/release/ecmo-rig")
    ap.add_argument("--bin", default="Console/.build/debug")
    ap.add_argument("--port", type=int, default=0, help="the console's port (default: a free one)")
    ap.add_argument("--csv", default=None, help="write the RSS samples here (as they are taken)")
    ap.add_argument("--growth-mb", type=float, default=8.0)
    ap.add_argument("--rate", type=float, default=25.0, help="the console link's telemetry rate, per loop second")
    args = ap.parse_args()
    factor = parse_pace(args.pace)

    work = tempfile.mkdtemp(prefix="ecmo-soak-")
    host, port = "127.0.0.1", args.port
    if port == 0:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    users = os.path.join(work, "users.yaml")
    subprocess.run([os.path.join(args.bin, "ecmo-console"), "user", "add", "soak", "--role", "viewer", "--users", users, "--cost", "4"],
                   input="soak-password\n", text=True, check=True, capture_output=True)
    sock = os.path.join(work, "rig.sock")
    loop_seconds = int(args.minutes * 60)
    seconds = loop_seconds / factor          # wall time the client runs
    window = 60.0 / factor                   # one loop minute of wall time: a fresh WebSocket each
    # The rig runs a little longer than the client (the console must come up first).
    rig = subprocess.Popen([args.rig, "run", "--pace", args.pace, "--duration", f"{loop_seconds + int(60 * max(1, factor))}s",
                            "--flow", "4", "--quiet", "--console-rate", str(args.rate),
                            "--out", os.path.join(work, "runs"), "--console-socket", sock],
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "rig.log"), "w"))
    for _ in range(100):
        if os.path.exists(sock):
            break
        time.sleep(0.1)
    console = subprocess.Popen([os.path.join(args.bin, "ecmo-console"), "serve", "--rig", sock, "--users", users, "--bind", f"{host}:{port}"],
                               stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "console.log"), "w"))
    time.sleep(2)
    csv = open(args.csv, "w") if args.csv else None
    if csv:
        csv.write("t_s,rig_rss_kb,console_rss_kb\n")
        csv.flush()
    samples = []   # (t, rig kB, console kB)
    windows = []   # per WebSocket: (wall s, messages, loop s spanned, largest gap in loop s)
    minute = {"n": 0, "msgs": 0, "wall": 0.0, "loop": 0.0, "windows": 0}
    t0 = time.time()
    next_sample = t0
    next_minute = t0 + 60
    logins = 0
    last_login = None
    cookie = csrf = None
    ok = True

    def report_minute():
        minute["n"] += 1
        if minute["wall"] > 0 and minute["loop"] > 0:
            print(f"minute {minute['n']:3d}: {minute['msgs'] / minute['wall']:7.2f} telemetry/s, "
                  f"{minute['msgs'] / minute['loop']:6.2f} per loop s over {minute['windows']} WebSocket(s); "
                  f"RSS rig {samples[-1][1] / 1024:.1f} MB, console {samples[-1][2] / 1024:.1f} MB", flush=True)
        minute.update(msgs=0, wall=0.0, loop=0.0, windows=0)

    try:
        while time.time() - t0 < seconds:
            # A fresh login every wall minute (the console allows one per 5 s per address),
            # a fresh WebSocket every loop minute.
            if last_login is None or time.time() - last_login >= 59:
                if cookie:
                    logout(host, port, cookie, csrf)
                cookie, csrf = login(host, port, "soak", "soak-password")
                last_login = time.time()
                logins += 1
            s = ws_open(host, port, cookie)
            end = min(time.time() + window, t0 + seconds)
            started = time.time()
            count, first_t, last_t, gap = 0, None, None, 0.0
            while time.time() < end:
                for msg in ws_frames(s, min(end, next_sample)):
                    if b'"type":"telemetry"' in msg:
                        count += 1
                        t = json.loads(msg)["t"]
                        if last_t is not None:
                            gap = max(gap, t - last_t)
                        if first_t is None:
                            first_t = t
                        last_t = t
                if time.time() >= next_sample:
                    samples.append((round(time.time() - t0, 1), rss_kb(rig.pid), rss_kb(console.pid)))
                    if csv:
                        csv.write("%s,%s,%s\n" % samples[-1])
                        csv.flush()
                    next_sample += 10
                    if rig.poll() is not None or console.poll() is not None:
                        raise RuntimeError(f"a process ended: rig {rig.poll()}, console {console.poll()}")
            ws_close(s)
            span = time.time() - started
            loop_span = (last_t - first_t) if count > 1 else 0.0
            if span >= 0.9 * window:
                windows.append((span, count, loop_span, gap))
                minute["msgs"] += count
                minute["wall"] += span
                minute["loop"] += loop_span
                minute["windows"] += 1
                if factor == 1.0 or time.time() >= next_minute:
                    report_minute()
                    next_minute += 60
        if cookie:
            logout(host, port, cookie, csrf)
    except Exception as e:
        print("soak: FAILED:", e)
        ok = False
    finally:
        console.terminate()
        rig.terminate()
        for p in (console, rig):
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        if csv:
            csv.close()
    if windows:
        per_loop = [(c - 1) / l for _, c, l, _ in windows if l > 0]
        per_wall = [c / w for w, c, _, _ in windows]
        loop_covered = sum(l for _, _, l, _ in windows)
        print(f"telemetry: {len(windows)} WebSockets of one loop minute each ({logins} logins), "
              f"{sum(c for _, c, _, _ in windows)} messages over {loop_covered / 3600:.2f} h of loop time; "
              f"per wall s: mean {statistics.mean(per_wall):.2f}, min {min(per_wall):.2f}; "
              f"per loop s: mean {statistics.mean(per_loop):.3f}, min {min(per_loop):.3f} (link rate {args.rate}); "
              f"largest gap {max(g for *_, g in windows):.3f} loop s")
        if not per_loop or min(per_loop) < 0.9 * args.rate:
            print("soak: FAILED: a loop minute's telemetry fell below 90 % of the link's rate")
            ok = False
        if factor == 1.0 and min(per_wall) < 0.9 * per_wall[0]:
            print("soak: FAILED: a minute's telemetry fell below 90 % of the first minute's")
            ok = False
    else:
        ok = False
    for name, i in (("rig", 1), ("console", 2)):
        values = [s[i] for s in samples if s[i]]
        if len(values) >= 20:
            first, last = statistics.median(values[:10]) / 1024, statistics.median(values[-10:]) / 1024
            print(f"RSS {name}: first {first:.1f} MB, last {last:.1f} MB, max {max(values) / 1024:.1f} MB over {samples[-1][0] / 60:.0f} min")
            if last - first > args.growth_mb:
                print(f"soak: FAILED: {name} grew {last - first:.1f} MB (limit {args.growth_mb} MB)")
                ok = False
    summaries = glob.glob(os.path.join(work, "runs", "*", "summary.json"))
    if summaries:
        with open(summaries[0]) as f:
            summary = json.load(f)
        print(f"rig: outcome {summary.get('outcome')}, {summary.get('loop_time_s', 0) / 3600:.2f} h of loop time in "
              f"{summary.get('wall_time_s', 0) / 60:.1f} min, console {json.dumps(summary.get('console'))}")
    print("soak:", "PASS" if ok else "FAIL", "(work dir", work + ")")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

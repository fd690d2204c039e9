#!/usr/bin/env python3
"""Soak: a real-time simulated run with the console attached and a client that reconnects
every minute. The telemetry rate the client receives must hold, minute after minute, and
the rig's and the console's memory must stay flat (RSS sampled every 10 s, reported over time).

  python3 Console/e2e/soak.py --minutes 30 [--rig .build/release/ecmo-rig] [--bin Console/.build/debug]
                              [--csv rss.csv]

Exit 1 if a full minute's telemetry rate falls below 90 % of the rate the link promises
(measured over the first full minute), if either process dies, or if a process's RSS grows by
more than --growth-mb between the median of its first and of its last ten samples.
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rig", default=".build/release/ecmo-rig")
    ap.add_argument("--bin", default="Console/.build/debug")
    ap.add_argument("--port", type=int, default=18093)
    ap.add_argument("--csv", default=None, help="write the RSS samples here")
    ap.add_argument("--growth-mb", type=float, default=8.0)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="ecmo-soak-")
    host, port = "127.0.0.1", args.port
    users = os.path.join(work, "users.yaml")
    subprocess.run([os.path.join(args.bin, "ecmo-console"), "user", "add", "soak", "--role", "viewer", "--users", users, "--cost", "4"],
                   input="soak-password\n", text=True, check=True, capture_output=True)
    sock = os.path.join(work, "rig.sock")
    seconds = int(args.minutes * 60)
    rig = subprocess.Popen([args.rig, "run", "--pace", "realtime", "--duration", f"{seconds + 60}s", "--flow", "4", "--quiet",
                            "--out", os.path.join(work, "runs"), "--console-socket", sock],
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "rig.log"), "w"))
    for _ in range(100):
        if os.path.exists(sock):
            break
        time.sleep(0.1)
    console = subprocess.Popen([os.path.join(args.bin, "ecmo-console"), "serve", "--rig", sock, "--users", users, "--bind", f"{host}:{port}"],
                               stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "console.log"), "w"))
    time.sleep(2)
    samples = []   # (t, rig kB, console kB)
    minutes = []   # telemetry messages per full minute
    t0 = time.time()
    next_sample = t0
    ok = True
    try:
        while time.time() - t0 < seconds:
            cookie, csrf = login(host, port, "soak", "soak-password")
            s = ws_open(host, port, cookie)
            end = min(time.time() + 60, t0 + seconds)
            started = time.time()
            count = 0
            while time.time() < end:
                for msg in ws_frames(s, min(end, next_sample)):
                    if b'"type":"telemetry"' in msg:
                        count += 1
                if time.time() >= next_sample:
                    samples.append((round(time.time() - t0, 1), rss_kb(rig.pid), rss_kb(console.pid)))
                    next_sample += 10
                    if rig.poll() is not None or console.poll() is not None:
                        raise RuntimeError(f"a process ended: rig {rig.poll()}, console {console.poll()}")
            ws_close(s)
            logout(host, port, cookie, csrf)
            span = time.time() - started
            if span >= 59:
                minutes.append(count / span)
                print(f"minute {len(minutes):3d}: {count / span:6.2f} telemetry/s; RSS rig {samples[-1][1] / 1024:.1f} MB, console {samples[-1][2] / 1024:.1f} MB", flush=True)
    except Exception as e:
        print("soak: FAILED:", e)
        ok = False
    finally:
        console.terminate()
        rig.terminate()
        for p in (console, rig):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
    if args.csv:
        with open(args.csv, "w") as f:
            f.write("t_s,rig_rss_kb,console_rss_kb\n")
            for t, r, c in samples:
                f.write(f"{t},{r},{c}\n")
    if minutes:
        expected = minutes[0]
        low = min(minutes)
        print(f"telemetry: {len(minutes)} full minutes, each with a fresh login and WebSocket; rate first {expected:.2f}/s, "
              f"min {low:.2f}/s, mean {statistics.mean(minutes):.2f}/s, max {max(minutes):.2f}/s")
        if expected <= 0 or low < 0.9 * expected:
            print("soak: FAILED: no telemetry, or the rate fell below 90 % of the first minute's")
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
    print("soak:", "PASS" if ok else "FAIL", "(work dir", work + ")")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

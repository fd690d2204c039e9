#!/usr/bin/env python3
"""End-to-end test of the operator console in headless Chromium.

Starts a rig (the real `ecmo-rig run --mode realtime --console-socket` when ECMO_RIG_CMD
is given, else the package's `ecmo-fake-rig`), starts `ecmo-console serve`, and drives
chromedriver over the W3C WebDriver HTTP API (plain urllib, no Selenium):

  operator logs in -> live values change -> a fault is injected (a speed set-point high
  enough to cross the post-oxygenator pressure alarm) -> the alarm banner appears ->
  a click on Acknowledge acknowledges it -> a viewer sees no Acknowledge button and
  gets 403 from the API. Saves a screenshot of the dashboard (--screenshot PATH).

ECMO_E2E_FAULT_RPM: the speed set-point of the fault (default 3800, for the fake rig);
ECMO_E2E_ALARM: the alarm the banner must show (default P_POST_HIGH with the fake rig,
any alarm with ECMO_RIG_CMD). Skips (exit 0, "SKIP: ...") only where chromium or chromedriver is not installed.
Run from Console/ after `swift build`:  python3 e2e/dashboard_e2e.py
"""
import argparse, base64, json, os, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request, urllib.error

HERE = os.path.dirname(os.path.abspath(__file__))
CONSOLE_DIR = os.path.dirname(HERE)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http(method, url, body=None, headers=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}, **({"Content-Type": "application/json"} if data else {})))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            try:
                return r.status, json.loads(raw or b"null")
            except ValueError:
                return r.status, raw.decode(errors="replace")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


class WebDriver:
    """The handful of W3C WebDriver endpoints this test needs."""

    def __init__(self, base):
        self.base = base
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": shutil.which("chromium") or "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1500"]}}}}
        status, value = http("POST", base + "/session", caps, timeout=60)
        if status != 200:
            raise RuntimeError("chromedriver could not start a session: %s" % value)
        self.session = value["value"]["sessionId"]

    def cmd(self, method, path, body=None):
        status, value = http(method, "%s/session/%s%s" % (self.base, self.session, path), body)
        if status != 200:
            raise RuntimeError("webdriver %s %s: %s %s" % (method, path, status, value))
        return value["value"]

    def get(self, url): self.cmd("POST", "/url", {"url": url})
    def js(self, script, *args): return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        els = self.cmd("POST", "/elements", {"using": "css selector", "value": css})
        return [list(e.values())[0] for e in els]

    def click(self, css):
        els = self.find(css)
        if not els:
            raise RuntimeError("no element " + css)
        self.cmd("POST", "/element/%s/click" % els[0], {})

    def type(self, css, text):
        el = self.find(css)[0]
        self.cmd("POST", "/element/%s/clear" % el, {})
        self.cmd("POST", "/element/%s/value" % el, {"text": text})

    def displayed(self, css):
        els = self.find(css)
        return bool(els) and self.cmd("GET", "/element/%s/displayed" % els[0])

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.cmd("GET", "/screenshot")))

    def quit(self):
        try:
            http("DELETE", "%s/session/%s" % (self.base, self.session))
        except Exception:
            pass


def wait_for(what, fn, timeout=10.0, interval=0.1):
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
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(CONSOLE_DIR, ".build", "debug"), help="folder of ecmo-console and ecmo-fake-rig")
    ap.add_argument("--screenshot", default=None, help="where to save the dashboard screenshot")
    args = ap.parse_args()

    missing = [b for b in ("chromium", "chromedriver") if not shutil.which(b)]
    if missing:
        print("SKIP: dashboard end-to-end test: %s not installed (apt-get install chromium chromium-driver)" % " and ".join(missing))
        return 0

    work = tempfile.mkdtemp(prefix="ecmo-console-e2e-")
    sock = os.path.join(work, "rig.sock")
    users = os.path.join(work, "users.yaml")
    console = os.path.join(args.bin, "ecmo-console")
    procs = []

    def start(cmd, **kw):
        p = subprocess.Popen(cmd, stdout=open(os.path.join(work, os.path.basename(cmd[0]) + ".log"), "w"), stderr=subprocess.STDOUT, **kw)
        procs.append(p)
        return p

    driver = None
    try:
        for name, role, pw in (("olga", "operator", "operator-password"), ("victor", "viewer", "viewer-password")):
            subprocess.run([console, "user", "add", name, "--role", role, "--users", users, "--cost", "6"], input=pw + "\n", text=True, check=True, capture_output=True)
        rig_cmd = os.environ.get("ECMO_RIG_CMD")
        if rig_cmd:
            start(["/bin/sh", "-c", "exec " + rig_cmd.replace("{socket}", sock)])
        else:
            start([os.path.join(args.bin, "ecmo-fake-rig"), sock, "25"])
        port = free_port()
        base = "http://127.0.0.1:%d" % port
        serve = [console, "serve", "--rig", sock, "--users", users, "--bind", "127.0.0.1:%d" % port]
        # The runs panel: a short finished run of the real ecmo-rig in a runs directory of our own.
        rig_bin = os.environ.get("ECMO_E2E_RIG_BIN")
        if rig_bin:
            runs_dir = os.path.join(work, "runs")
            subprocess.run([rig_bin, "run", "--pace", "fast", "--rpm", "3000", "--duration", "30s", "--quiet", "--operator", "olga", "--out", runs_dir],
                           check=True, capture_output=True, timeout=120)
            serve += ["--runs", runs_dir, "--ecmo-rig", rig_bin]
        start(serve)
        wait_for("the console to listen", lambda: http("GET", base + "/")[0] == 200, timeout=20)

        dport = free_port()
        start(["chromedriver", "--port=%d" % dport])
        wait_for("chromedriver", lambda: http("GET", "http://127.0.0.1:%d/status" % dport)[1]["value"]["ready"], timeout=20)
        driver = WebDriver("http://127.0.0.1:%d" % dport)

        # Operator logs in.
        driver.get(base + "/")
        wait_for("the login form", lambda: driver.displayed("#login-user"))
        driver.type("#login-user", "olga")
        driver.type("#login-pass", "operator-password")
        driver.click("#login-btn")
        wait_for("the dashboard", lambda: driver.js("return document.body.classList.contains('operator')"))
        wait_for("rig connected badge", lambda: "rig connected" in driver.js("return document.querySelector('#link-state').textContent"))

        # Live values change.
        v1 = wait_for("a pressure value", lambda: (lambda v: v if v not in ("", "–") else None)(driver.js("return document.querySelector('#tile-p_drain .value').textContent")))
        t1 = driver.js("return window.ecmoStats.last.t")
        time.sleep(1.5)
        t2 = driver.js("return window.ecmoStats.last.t")
        assert t2 > t1, "telemetry time did not advance (%s -> %s)" % (t1, t2)
        assert not driver.js("return document.body.classList.contains('stale')"), "data marked stale while the rig runs"
        f1, c1 = driver.js("return [window.ecmoStats.totalFrames, performance.now()]")
        time.sleep(3.0)
        f2, c2 = driver.js("return [window.ecmoStats.totalFrames, performance.now()]")
        rate = (f2 - f1) * 1000.0 / (c2 - c1)
        assert rate > 5, "telemetry reaches the browser at only %.1f Hz" % rate
        print("browser telemetry rate: %.1f Hz; P_drain %s" % (rate, v1))
        assert driver.js("return typeof Chart !== 'undefined'"), "chart.js did not load"
        n_points = driver.js("return Chart.getChart('chart-pressures').data.datasets[0].data.length")
        assert n_points > 10, "pressure chart has only %d points" % n_points

        # Safety at a glance, before any fault: the fouling monitor's state (collecting until it has a baseline;
        # armed with the baseline drawn on the resistance chart when ECMO_E2E_FOULING_ARMED=1).
        first = wait_for("the fouling monitor's state", lambda: driver.js("var e=document.querySelector('#fouling-state'); return e && e.dataset.state || null"))
        print("fouling monitor: %s" % driver.js("return document.querySelector('#fouling-state').textContent"))
        if os.environ.get("ECMO_E2E_START_PROTOCOL") == "1":
            # The plan waits for the operator (`start: operator`): start it from the page, once
            # the circuit regulates (before that the rig refuses: waiting_for_circuit).
            def start_from_page():
                driver.click("button[data-simple=protocol_start]")
                time.sleep(0.8)
                t = driver.js("return document.querySelector('#command-result').textContent") or ""
                return t if "protocol_start: done" in t else None
            wait_for("the protocol started from the page", start_from_page, timeout=60, interval=1.0)
            started = wait_for("the protocol-started event", lambda: driver.js(
                "return [].slice.call(document.querySelectorAll('#events li')).map(function(x){return x.textContent})"
                ".find(function(t){return /started the protocol|Protocol started/.test(t)}) || null"), timeout=15)
            print("protocol started from the page: %s" % " ".join(started.split()))
        if os.environ.get("ECMO_E2E_FOULING_ARMED") == "1":
            assert first == "collecting", "fouling monitor starts %r, not collecting" % first
            armed_timeout = float(os.environ.get("ECMO_E2E_FOULING_TIMEOUT", "150"))
            wait_for("the fouling monitor armed", lambda: driver.js("return document.querySelector('#fouling-state').dataset.state") in ("armed", "warning"), timeout=armed_timeout)
            n_base = wait_for("the baseline drawn on the resistance chart", lambda: driver.js("return Chart.getChart('chart-roxy').data.datasets[1].data.length") or None, timeout=5)
            print("fouling monitor collecting -> %s; baseline drawn with %d points" % (driver.js("return document.querySelector('#fouling-state').textContent"), n_base))

        # Inject the fault: a constant-speed set-point high enough to cross the pressure alarm.
        driver.type("form[data-command=set_speed] input[name=rpm]", os.environ.get("ECMO_E2E_FAULT_RPM", "3800"))
        driver.click("form[data-command=set_speed] button")
        wait_for("set_speed accepted", lambda: "set_speed: done" in driver.js("return document.querySelector('#command-result').textContent"))
        expected = os.environ.get("ECMO_E2E_ALARM", "" if os.environ.get("ECMO_RIG_CMD") else "P_POST_HIGH")
        alarm = wait_for("the alarm banner" + (" showing " + expected if expected else ""), lambda: driver.js(
            "var b=document.querySelector('#alarm-banner'); var e=arguments[0];"
            "var on=b.classList.contains('high')||b.classList.contains('medium')||b.classList.contains('low');"
            "return on && (!e || b.querySelector('[data-alarm=\"'+e+'\"]')) ? b.className + ' | ' + b.textContent : null", expected), timeout=15)
        print("alarm banner: %s" % " ".join(alarm.split()))
        time.sleep(0.6)
        if args.screenshot:
            driver.screenshot(args.screenshot)
            print("screenshot saved to %s" % args.screenshot)

        # Acknowledge it by a click: the alarms shown then become acknowledged (or clear).
        # (More may be raised meanwhile, e.g. LOOP_OVERRUN on a loaded machine: not counted.)
        shown = driver.js("return window.ecmoStats.alarms.alarms.filter(function(x){return x.state!=='acknowledged'}).map(function(x){return x.name})")
        driver.click("#ack-all")
        wait_for("the rig to accept the acknowledge", lambda: "acknowledge: done" in driver.js("return document.querySelector('#command-result').textContent"))
        wait_for("%s acknowledged" % ", ".join(shown), lambda: driver.js(
            "var names=arguments[0]; var a=window.ecmoStats.alarms.alarms;"
            "return names.every(function(n){var x=a.find(function(y){return y.name===n}); return !x || x.state==='acknowledged'})", shown), timeout=10)
        print("acknowledged by a click: %s" % ", ".join(shown))

        # The acknowledge is an event a person reads: who, which alarm, in words.
        if os.environ.get("ECMO_RIG_CMD"):
            ack_text = wait_for("a human-readable acknowledge event", lambda: driver.js(
                "var li=[].slice.call(document.querySelectorAll('#events li')).map(function(x){return x.textContent});"
                "return li.find(function(t){return /Olga acknowledged [A-Z_]+/.test(t)}) || null"), timeout=10)
            print("event list: %s" % ack_text.strip())
            assert not driver.js("return [].slice.call(document.querySelectorAll('#events li')).some(function(x){return /lateness_s|previous_execution_s/.test(x.textContent)})"), \
                "an event is still shown in its machine form"

        # Alarm limits: shown with the rig's bounds; an operator changes one within bounds
        # (the rig records who, the change is an event), and one outside them is refused with the bound named.
        key, value = os.environ.get("ECMO_E2E_LIMIT", "flow_high_lpm=7.5").split("=")
        row = "#limits tr[data-key=%s]" % key
        wait_for("the alarm limits table", lambda: driver.displayed(row))
        driver.js("var i=document.querySelector(arguments[0]+' input'); i.value=arguments[1];", row, "1000")
        driver.click(row + " button")
        refusal = wait_for("the out-of-bounds limit refused", lambda: (lambda t: t if "set_alarm_limit: refused" in t else None)(
            driver.js("return document.querySelector('#command-result').textContent")), timeout=10)
        print("out of bounds: %s" % refusal)
        assert "maximum" in refusal, "the refusal does not name the bound: %s" % refusal
        driver.js("var i=document.querySelector(arguments[0]+' input'); i.value=arguments[1];", row, value)
        driver.click(row + " button")
        wait_for("set_alarm_limit accepted", lambda: "set_alarm_limit: done" in driver.js("return document.querySelector('#command-result').textContent"))
        shown_value = wait_for("the new limit shown", lambda: (lambda t: t if t.startswith(("%.2f" % float(value))) else None)(
            driver.js("return document.querySelector(arguments[0]+' .limit-value').textContent", row)), timeout=10)
        limit_event = wait_for("the limit change as an event", lambda: driver.js(
            "var k=arguments[0]; return [].slice.call(document.querySelectorAll('#events li')).map(function(x){return x.textContent}).find(function(t){return t.indexOf('changed alarm limit '+k)>=0}) || null", key), timeout=10)
        print("limit %s now %s; event: %s" % (key, shown_value, limit_event.strip()))

        # A viewer cannot: no button, and the API says 403.
        driver.click("#logout-btn")
        wait_for("the login form again", lambda: driver.displayed("#login-user"))
        driver.type("#login-user", "victor")
        driver.type("#login-pass", "viewer-password")
        driver.click("#login-btn")
        wait_for("the viewer dashboard", lambda: driver.js("return document.body.classList.contains('viewer')"))
        assert not driver.displayed("#ack-all"), "a viewer sees the Acknowledge button"
        assert not driver.displayed("#controls"), "a viewer sees the controls"
        status = driver.cmd("POST", "/execute/async", {"script": """var done=arguments[arguments.length-1];
            fetch('/api/command',{method:'POST',headers:{'Content-Type':'application/json'},body:JSON.stringify({name:'acknowledge',args:{alarm:'all'}})})
            .then(function(r){done(r.status)}).catch(function(e){done(String(e))});""", "args": []})
        assert status == 403, "viewer's acknowledge returned %r, not 403" % status
        # The viewer sees the limits, read-only; the server refuses a change with 403.
        wait_for("the viewer's limits table", lambda: driver.displayed(row))
        assert not driver.js("return !!document.querySelector('#limits input')"), "a viewer gets limit inputs"
        assert shown_value.split()[0] in driver.js("return document.querySelector(arguments[0]+' .limit-value').textContent", row), "viewer sees a stale limit"
        status = driver.cmd("POST", "/execute/async", {"script": """var done=arguments[arguments.length-1];
            fetch('/api/command',{method:'POST',headers:{'Content-Type':'application/json'},body:JSON.stringify({name:'set_alarm_limit',args:{key:arguments[0],value:5}})})
            .then(function(r){done(r.status)}).catch(function(e){done(String(e))});""", "args": [key]})
        assert status == 403, "viewer's set_alarm_limit returned %r, not 403" % status
        print("viewer: limits read-only, set_alarm_limit refused with 403")

        # A finished run's report opens from the runs list (a viewer may browse runs).
        if rig_bin:
            link = wait_for("a finished run in the runs list", lambda: driver.js(
                "var a=document.querySelector('#runs tr[data-run] a.run-report'); return a ? a.href : null"), timeout=20)
            run_id = driver.js("return document.querySelector('#runs tr[data-run]').dataset.run")
            driver.type("#f-operator", "nobody")
            assert wait_for("the operator filter", lambda: driver.js("return document.querySelectorAll('#runs tr[data-run]').length === 0") or None, timeout=5)
            driver.js("var i=document.querySelector('#f-operator'); i.value='olga'; i.dispatchEvent(new Event('input'));")
            wait_for("the run back under its operator", lambda: driver.js("return document.querySelectorAll('#runs tr[data-run]').length") or None, timeout=5)
            driver.js("document.querySelector('#runs tr[data-run] a.run-report').removeAttribute('target');")
            driver.click("#runs tr[data-run] a.run-report")
            title = wait_for("the run's report", lambda: (lambda t: t if t and t.startswith("Run report") else None)(driver.js("return document.title")), timeout=30)
            assert run_id in title, "report %r is not of run %s" % (title, run_id)
            status = driver.cmd("POST", "/execute/async", {"script": """var done=arguments[arguments.length-1];
                fetch('/api/runs/'+arguments[0]+'/telemetry.csv').then(function(r){return r.text().then(function(t){done([r.status, t.split('\\n')[0]])})}).catch(function(e){done(String(e))});""", "args": [run_id]})
            assert status[0] == 200 and status[1].startswith("time_s,"), "CSV export: %r" % (status,)
            print("runs list: %s (filter by operator), report opened: %r, CSV header %s..." % (run_id, title, status[1][:30]))
        started = ", protocol started from the page" if os.environ.get("ECMO_E2E_START_PROTOCOL") == "1" else ""
        print("PASS: dashboard end-to-end (login, live values, alarm, acknowledge by click, event in words, fouling state%s, alarm limit changed by the operator, viewer refused, a finished run's report opened from the runs list)" % started)
        print("1 passed, 0 failed")
        return 0
    except Exception as e:  # noqa: BLE001
        print("FAIL: dashboard end-to-end: %s" % e)
        for name in sorted(os.listdir(work)):
            if name.endswith(".log"):
                print("---- %s (tail)" % name)
                print("".join(open(os.path.join(work, name)).readlines()[-20:]))
        print("0 passed, 1 failed")
        return 1
    finally:
        if driver:
            driver.quit()
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Uses the web page in headless Chromium as a person would, against a running stack.

    check-web-page.py URL SCREENSHOT_DIR

Loads the page at URL, waits until its pickers are filled from the API, picks C++ with
clang-16 and c++20, writes a program that does not compile into the editor, presses Compile
and waits for the verdict. Then it checks that the verdict says so, that the lines of the
errors are marked in the editor's gutter with their messages, that the diagnostics are listed
as a compiler prints them, and that the compiler's output stayed text: the program's `#error`
line carries markup (an <img> whose onerror would run script), which must show as text and
never become an element. Any script error or Content-Security-Policy violation on the page
fails it too. Then the matrix mode: gcc-12's every standard for a program whose `#error`
(with markup again) fires before C++11; each cell of the page's table is checked against the
API's answer for that matrix (its mark, its first error on hover), and a click on a failing
cell shows that error as text. Last it tries the policy itself: markup put into the page as
HTML on purpose must neither run its inline handler nor load its image. Screenshots (PNG):
SCREENSHOT_DIR/1-ready.png (the program, before compiling), SCREENSHOT_DIR/2-verdict.png and
SCREENSHOT_DIR/3-matrix.png.

Chromium (Debian's `chromium`) is driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: commands on its descriptor 3, answers on 4, each a JSON message
ending in NUL), with Python's standard library only. It reaches nothing but loopback: every
other host name resolves to nothing and every other request goes to a proxy that is not there.

Exits 0 when everything held; 1 naming each thing that did not, with what the page showed.
"""

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

PROGRAM = """#include <cstdio>

int main() {
    std::puts("hello")
    return 0;
}
#error <img src=x onerror="document.body.dataset.injected='yes'">
"""
# Compiles from C++11 on; before, its #error (carrying markup) is the first error.
MATRIX_PROGRAM = """#if __cplusplus < 201103L
#error <img src=x onerror="document.body.dataset.injected='matrix'">
#endif
int main() { int *p = nullptr; return p ? 1 : 0; }
"""
# What a cell of each status shows.
MARKS = {"completed": "✓", "failed": "✗", "timeout": "✗", "error": "!"}

# The lines the program's errors are on, and what their messages start with.
EXPECTED = {4: "expected ';' after expression", 7: "<img src=x onerror="}


class Browser:
    """One headless Chromium, and one page in it."""

    def __init__(self, profile):
        to_browser_read, self.to_browser = os.pipe()
        self.from_browser, from_browser_write = os.pipe()
        flags = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
            f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--no-pings", "--hide-scrollbars",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
            # Loopback addresses bypass a proxy by default.
            "--proxy-server=127.0.0.1:9",
            "about:blank",
        ]
        # The pipe's ends become Chromium's descriptors 3 and 4.
        self.process = subprocess.Popen(
            ["/bin/sh", "-c", 'exec 3<&"$1" 4>&"$2"; shift 2; exec /usr/bin/chromium "$@"', "sh",
             str(to_browser_read), str(from_browser_write)] + flags,
            pass_fds=(to_browser_read, from_browser_write),
            # Its own process group: close() ends every process Chromium started, not just the first.
            start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(os.path.join(profile, "chromium.log"), "w"))
        os.close(to_browser_read)
        os.close(from_browser_write)
        self.buffer = b""
        self.next_id = 0
        self.session = None
        self.events = []

    def close(self):
        """Ends Chromium and every process it started, and waits until they are gone (so that
        none still writes into the profile when it is removed)."""
        try:
            self.send("Browser.close", browser=True, seconds=10)
            self.process.wait(timeout=10)
        except (TimeoutError, RuntimeError, OSError, subprocess.TimeoutExpired):
            pass
        deadline = time.monotonic() + 10
        while self.group_members():
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"Chromium's processes (group {self.process.pid}) did not end within 10 s")
            time.sleep(0.05)
        self.process.wait()
        os.close(self.to_browser)
        os.close(self.from_browser)

    def group_members(self):
        """The running processes of Chromium's process group; a zombie counts as gone (it is
        reaped by whoever reaps orphans, if anyone does)."""
        members = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/stat") as file:
                    fields = file.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            # After the command: state, parent, process group.
            if fields[2] == str(self.process.pid) and fields[0] not in ("Z", "X"):
                members.append(int(entry))
        return members

    def message(self, deadline):
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self.from_browser, 65536)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe (see chromium.log in the profile)")
            self.buffer += chunk
        text, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(text)

    def send(self, method, params=None, browser=False, seconds=30):
        """A command's result; events that arrive meanwhile are kept in self.events."""
        self.next_id += 1
        command = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session and not browser:
            command["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + seconds
        while True:
            answer = self.message(deadline)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            if "method" in answer:
                self.events.append(answer)

    def open_page(self):
        targets = self.send("Target.getTargets", browser=True)["targetInfos"]
        page = next(target for target in targets if target["type"] == "page")
        self.session = self.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}, browser=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", {"width": 1150, "height": 1000, "deviceScaleFactor": 1, "mobile": False})

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, what, expression, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.evaluate(expression):
                return
            time.sleep(0.1)
        raise TimeoutError(f"the page did not show {what} within {seconds} s")

    def screenshot(self, path):
        with open(path, "wb") as file:
            file.write(base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"]))

    def problems(self):
        """Script errors, and console errors such as a Content-Security-Policy violation."""
        found = []
        for event in self.events:
            if event["method"] == "Runtime.exceptionThrown":
                found.append(f"script error: {event['params']['exceptionDetails'].get('text')}")
            elif event["method"] == "Log.entryAdded":
                entry = event["params"]["entry"]
                # A browser asks for /favicon.ico by itself; the page has none.
                if entry["level"] == "error" and "favicon.ico" not in entry.get("url", ""):
                    found.append(f"console error ({entry['source']}): {entry['text']}")
        return found


# What the page shows after the verdict, read in the page.
STATE = """(() => {
  const gutter = [...document.querySelectorAll('#gutter span')];
  return {
    verdict: document.getElementById('verdict').textContent,
    verdictClass: document.getElementById('verdict').className,
    marked: Object.fromEntries(gutter.filter((s) => s.className).map((s) => [s.dataset.line, {severity: s.className, title: s.title}])),
    diagnostics: [...document.querySelectorAll('#diagnostics li')].map((li) => li.textContent),
    output: document.getElementById('output').textContent,
    images: document.querySelectorAll('img').length,
    injected: document.body.dataset.injected || null,
  };
})()"""


# The matrix table's cells, read in the page.
MATRIX_STATE = """(() => {
  const table = document.getElementById('matrix-table');
  return {
    id: table.dataset.matrixId || null,
    cells: [...table.querySelectorAll('td[data-status]')].map((td) => ({
      compiler: td.dataset.compiler, standard: td.dataset.standard, target: td.dataset.target,
      mark: td.textContent, title: td.title})),
    columns: [...table.querySelectorAll('thead th')].map((th) => th.textContent),
    verdict: document.getElementById('verdict').textContent,
    images: document.querySelectorAll('img').length,
    injected: document.body.dataset.injected || null,
  };
})()"""


def diagnostic_text(diagnostic, compiler):
    """A diagnostic as a compiler prints it, as the page shows it."""
    place = diagnostic.get("file") or compiler
    if diagnostic.get("file") and diagnostic.get("line"):
        place += f":{diagnostic['line']}"
        if diagnostic.get("column"):
            place += f":{diagnostic['column']}"
    option = f" [{diagnostic['option']}]" if diagnostic.get("option") else ""
    return f"{place}: {diagnostic['severity']}: {diagnostic['message']}{option}"


def api_matrix(url, matrix_id):
    """The API's answer for the matrix, read directly (no proxy)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{url.rstrip('/')}/api/v1/matrix/{matrix_id}", timeout=30) as answer:
        return json.load(answer)


def matrix_failures(page, api):
    """What of the page's table differs from the API's answer."""
    failures = []
    shown = {(cell["compiler"], cell["standard"], cell["target"]): cell for cell in page["cells"]}
    if len(shown) != len(api["cells"]):
        failures.append(f"the table shows {len(shown)} cells, the API answers {len(api['cells'])}")
    for cell in api["cells"]:
        key = (cell["compiler"], cell.get("standard", ""), f"{cell['architecture']}/{cell['os']}")
        td = shown.get(key)
        if td is None:
            failures.append(f"the table has no cell {key}")
            continue
        if td["mark"] != MARKS.get(cell["status"]):
            failures.append(f"cell {key} shows {td['mark']!r} for {cell['status']}")
        if cell.get("first_error") and td["title"] != diagnostic_text(cell["first_error"], cell["compiler"]):
            failures.append(f"cell {key}'s first error is {td['title']!r}, the API's {cell['first_error']}")
    statuses = {cell["status"] for cell in api["cells"]}
    if statuses != {"completed", "failed"}:
        failures.append(f"the matrix's cells are {sorted(statuses)}, expected some compiled and some failed")
    old = next((td for td in page["cells"] if td["standard"] == "c++98"), None)
    if not old or not old["title"].startswith("main.cpp:2:2: error: #error <img src=x onerror="):
        failures.append(f"the c++98 cell does not show the #error as text: {old}")
    if page["images"] != 0 or page["injected"] is not None:
        failures.append("markup in a matrix cell's error became an element of the page")
    return failures


# The page's Content-Security-Policy, tried: markup put into the page as HTML (what a mistake in
# the page's script could do with a compiler's message) may neither run its handler nor load its
# image. Waits for the browser's two violation reports (a bounded wait for an event, not a
# pause), and answers the directives that stopped it, or the handler's mark if it ran.
POLICY_PROBE = """new Promise((done) => {
  const stopped = [];
  const finish = () => done(document.body.dataset.policyBroken ? ['handler ran'] : stopped.sort().reverse());
  document.addEventListener('securitypolicyviolation', (event) => {
    stopped.push(event.effectiveDirective);
    if (stopped.length === 2) finish();
  });
  setTimeout(finish, 5000);
  const probe = document.createElement('div');
  probe.innerHTML = '<img src="/probe.png" onerror="document.body.dataset.policyBroken = 1">';
  document.body.append(probe);
})"""


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    url, screenshots = sys.argv[1], sys.argv[2]
    os.makedirs(screenshots, exist_ok=True)
    failures = []
    with tempfile.TemporaryDirectory(prefix="wic-chromium-") as profile:
        browser = Browser(profile)
        try:
            browser.open_page()
            browser.send("Page.navigate", {"url": url})
            browser.wait_for("its pickers filled from the API", "document.body && document.body.dataset.ready === 'true'", 30)
            for select, value in (("language", "cpp"), ("compiler", "clang-16"), ("standard", "c++20")):
                picked = browser.evaluate(f"""(() => {{
                  const select = document.getElementById({json.dumps(select)});
                  if (![...select.options].some((o) => o.value === {json.dumps(value)})) return false;
                  select.value = {json.dumps(value)};
                  select.dispatchEvent(new Event('change'));
                  return true;
                }})()""")
                if not picked:
                    failures.append(f"the {select} picker does not offer {value}")
            browser.evaluate(f"""(() => {{
              const source = document.getElementById('source');
              source.value = {json.dumps(PROGRAM)};
              source.dispatchEvent(new Event('input'));
            }})()""")
            browser.screenshot(os.path.join(screenshots, "1-ready.png"))
            browser.evaluate("document.getElementById('submit').click()")
            browser.wait_for("a verdict", "/\\b(compiled|failed|problem)\\b/.test(document.getElementById('verdict').className)", 120)
            state = browser.evaluate(STATE)
            browser.screenshot(os.path.join(screenshots, "2-verdict.png"))

            # The matrix mode: gcc-12 with each of its standards.
            browser.evaluate(f"""(() => {{
              const compiler = document.getElementById('compiler');
              compiler.value = 'gcc-12';
              compiler.dispatchEvent(new Event('change'));
              document.getElementById('matrix-scope').value = 'compiler';
              const source = document.getElementById('source');
              source.value = {json.dumps(MATRIX_PROGRAM)};
              source.dispatchEvent(new Event('input'));
              document.getElementById('matrix').click();
            }})()""")
            browser.wait_for("the matrix's table", "!!document.getElementById('matrix-table').dataset.matrixId", 150)
            matrix_state = browser.evaluate(MATRIX_STATE)
            detail = browser.evaluate("""(() => {
              document.querySelector('#matrix-table td.failed').click();
              return document.getElementById('matrix-detail').textContent;
            })()""")
            browser.screenshot(os.path.join(screenshots, "3-matrix.png"))
            failures += matrix_failures(matrix_state, api_matrix(url, matrix_state["id"]))
            if not detail.startswith("gcc-12 c++98 x86_64/linux: main.cpp:2:2: error: #error <img"):
                failures.append(f"a click on the first failing cell shows {detail!r}")
            # What the page did itself; the probe below makes violations on purpose.
            failures += browser.problems()
            blocked = browser.evaluate(POLICY_PROBE)
        except (TimeoutError, RuntimeError, StopIteration) as error:
            try:
                browser.screenshot(os.path.join(screenshots, "failed.png"))
            except Exception:
                pass
            browser.close()
            sys.exit(f"check-web-page: {error}")
        browser.close()

    if not state["verdict"].startswith("Did not compile: clang-16 cpp c++20 x86_64/linux, exit code 1"):
        failures.append(f"the verdict is {state['verdict']!r}")
    for line, message in EXPECTED.items():
        mark = state["marked"].get(str(line))
        if not mark or mark["severity"] != "error" or f"error: {message}" not in mark["title"]:
            failures.append(f"line {line} is not marked as the error {message!r} in the gutter: {mark}")
    unexpected = sorted(set(state["marked"]) - {str(line) for line in EXPECTED})
    if unexpected:
        failures.append(f"lines {unexpected} are marked but have no error")
    if not any(text.startswith("main.cpp:4:23: error: expected ';' after expression") for text in state["diagnostics"]):
        failures.append(f"the diagnostics do not list main.cpp:4:23: {state['diagnostics']}")
    if state["images"] != 0 or state["injected"] is not None:
        failures.append("markup in the compiler's messages became an element of the page")
    if '<img src=x onerror="document.body.dataset.injected' not in state["output"]:
        failures.append(f"the compiler's output is not shown as text: {state['output']!r}")
    if blocked != ["script-src-attr", "img-src"]:
        failures.append(f"the Content-Security-Policy did not stop markup put into the page: {blocked}")
    if failures:
        print(json.dumps(state, indent=2))
        sys.exit("check-web-page: " + "\ncheck-web-page: ".join(failures))
    print(f"check-web-page: the page showed the errors at lines {sorted(EXPECTED)} and the matrix's "
          f"{len(matrix_state['cells'])} cells as the API answers them; screenshots in {screenshots}")


if __name__ == "__main__":
    main()

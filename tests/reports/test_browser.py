"""report.html in a real browser: headless Chromium renders it, the screenshot is not blank, the
page logs nothing to the console, and every embedded figure decodes.

How errors are detected, and why it is robust:
- Chromium run with --enable-logging=stderr --v=0 writes every console message of a page to stderr
  as `...:CONSOLE:<line>] "<message>", source: <url> (<line>)`: uncaught exceptions, console.error,
  and Content-Security-Policy violations (the report forbids any fetch, so an external resource
  shows up here). The report has no scripts at all, so *any* console message from it is a defect.
- Broken images log nothing, so a second run loads a copy of the page with a small probe script
  placed before the CSP meta tag (a meta CSP only governs what follows it). The probe records
  error and securitypolicyviolation events and console.error calls, counts images that failed to
  decode, and writes the result as JSON into the DOM, which --dump-dom returns.
- A control page with a deliberate script error, a broken image and a blocked remote image proves
  both detectors fire on this Chromium build, so a change in its log format cannot silently turn
  the checks into no-ops.

Without /usr/bin/chromium (scripts/ensure_chromium.sh installs it) the tests skip.
"""

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed; "
                                "run scripts/ensure_chromium.sh (Debian package 'chromium') to enable the browser test")

CONSOLE_LINE = re.compile(r':CONSOLE(?::\d+)?\] "(?P<message>.*)", source: (?P<source>\S*)')
CSP_META = '<meta http-equiv="Content-Security-Policy"'
PROBE = """<script>(function () {
  var errors = [];
  window.addEventListener("error", function (e) {
    var t = e.target;
    errors.push(t && t !== window && t.tagName ? "failed to load " + t.tagName : "error: " + e.message);
  }, true);
  document.addEventListener("securitypolicyviolation", function (e) { errors.push("csp: " + e.blockedURI); });
  var consoleError = console.error;
  console.error = function () { errors.push("console.error: " + [].join.call(arguments, " ")); consoleError.apply(console, arguments); };
  window.addEventListener("load", function () {
    var images = [].slice.call(document.images);
    var broken = images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).length;
    var out = document.createElement("pre");
    out.id = "ws-probe";
    out.textContent = JSON.stringify({errors: errors, images: images.length, broken: broken,
                                      headings: [].map.call(document.querySelectorAll("h2"), function (h) { return h.textContent; })});
    document.body.appendChild(out);
  });
})();</script>
"""  # noqa: E501 - the probe script goes into the page verbatim


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}", "--hide-scrollbars",
           "--enable-logging=stderr", "--v=0", *args, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def console_messages(stderr: str, page: Path) -> list[str]:
    """Console messages that Chromium attributes to `page` (other lines on stderr are the browser's own)."""
    uri = page.resolve().as_uri()
    return [m["message"] for m in CONSOLE_LINE.finditer(stderr) if m["source"].startswith(uri)]


def probed_copy(page: Path, dest: Path, extra_body: str = "") -> Path:
    """`page` with the probe script inserted before its CSP meta tag (and optional extra body HTML)."""
    text = page.read_text(encoding="utf-8")
    assert CSP_META in text
    text = text.replace(CSP_META, PROBE + CSP_META, 1).replace("</main>", extra_body + "</main>", 1)
    dest.write_text(text, encoding="utf-8")
    return dest


def probe_result(dom: str) -> dict:
    m = re.search(r'<pre id="ws-probe">(.*?)</pre>', dom, re.S)
    assert m, "probe did not run (no #ws-probe in the dumped DOM)"
    return json.loads(m.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))


def test_detectors_fire_on_a_broken_page(report_dir, tmp_path):
    bad = ('<img src="data:image/png;base64,AAAA" alt="broken">'
           '<img src="https://example.invalid/remote.png" alt="remote">'
           '<script>undefinedFunction();</script>')
    page = probed_copy(report_dir / "report.html", tmp_path / "control.html", bad)
    out = chromium(page, tmp_path / "profile", "--dump-dom")
    assert out.returncode == 0, out.stderr[-2000:]
    messages = console_messages(out.stderr, page)
    assert any("Content Security Policy" in m for m in messages), messages   # remote image and inline script blocked
    probe = probe_result(out.stdout)
    assert probe["broken"] >= 2 and any(e.startswith("csp:") for e in probe["errors"])


def test_report_renders_in_chromium(report_dir, tmp_path):
    page = report_dir / "report.html"
    shot = tmp_path / "report.png"
    out = chromium(page, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,2000")
    assert out.returncode == 0, out.stderr[-2000:]
    assert console_messages(out.stderr, page) == []

    # Not blank: many distinct colours (text, tables, plotted lines) and a fair share of non-white.
    from matplotlib.image import imread

    pixels = imread(shot)[..., :3]                                       # (H, W, 3) floats in [0, 1]
    assert pixels.shape[:2] == (2000, 1200)
    rgb = (pixels * 255).round().astype(np.uint32)
    colours = np.unique(rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2])   # one int per colour: fast unique
    assert colours.size > 50
    assert (pixels.min(axis=-1) < 0.9).mean() > 0.02

    probed = probed_copy(page, report_dir / "report_probe.html")
    try:
        out = chromium(probed, tmp_path / "profile", "--dump-dom")
    finally:
        probed.unlink()
    assert out.returncode == 0, out.stderr[-2000:]
    probe = probe_result(out.stdout)
    assert probe["errors"] == [] and console_messages(out.stderr, probed) == []
    assert probe["images"] == 4 and probe["broken"] == 0
    assert probe["headings"][:3] == ["What pretraining bought", "Data efficiency", "Labels saved"]

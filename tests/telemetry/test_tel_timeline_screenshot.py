"""``devx timeline --html`` as a browser draws it (issue 25): headless Chromium takes a
screenshot of the page of a real run, and the PNG (read with the standard library) is
checked: the size asked for, not blank, and the colours of the legend's bars (the
crashed lifetime, the holds) on screen. Skipped, saying why, where Chromium is not
installed (the Debian package ``chromium``)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from test_tel_timeline import runs, timeline  # noqa: F401  (runs: the fixture)

from conftest import scaled
from devx.telemetry.timeline import html

pytestmark = pytest.mark.timeout(180)

MARGIN = 16  # the page's body margin (html.py's CSS), each side
EXTRA_H = 160  # room above and below the drawing: title, meta line, legend, footer


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and rows of RGB(A) pixel bytes of an 8-bit RGB or RGBA PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and color in (2, 6), (depth, color)
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    if bpp == 4:  # drop alpha: a screenshot is opaque
        rows = [bytes(b for i, b in enumerate(r) if i % 4 != 3) for r in rows]
    return width, height, rows


def _rgb(colour: str) -> bytes | None:
    """``#rgb`` or ``#rrggbb`` as RGB bytes; ``None`` for a translucent ``#rrggbbaa``."""
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(2 * d for d in digits)
    return bytes.fromhex(digits) if len(digits) == 6 else None


def test_the_html_timeline_as_chromium_draws_it(
    runs: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip(
            "chromium is not installed (Debian package `chromium`): no screenshot "
            "of the HTML timeline"
        )
    width = 900
    page = tmp_path / "session.html"
    proc = timeline(str(runs["multi_pause_crash"]), "--html", str(page), "--width", str(width))
    assert proc.returncode == 0, proc.stderr
    text = page.read_text()
    svg_h = int(text.split('<svg xmlns="http://www.w3.org/2000/svg" width="')[1].split('"')[2])
    win_w, win_h = width + 2 * MARGIN, svg_h + EXTRA_H
    shot = tmp_path / "session.png"
    argv = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={win_w},{win_h}",
        f"--screenshot={shot}",
        page.as_uri(),
    ]
    chrome = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its helper processes go with it below
    )
    try:
        out, _ = chrome.communicate(timeout=scaled(40))
    finally:
        try:
            os.killpg(chrome.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        chrome.wait()
    assert shot.exists(), out.decode(errors="replace")[-2000:]

    w, h, rows = read_png(shot)
    assert (w, h) == (win_w, win_h)  # the window asked for: the page's drawing and margins
    pixels = [p for r in rows for p in _pixels(r)]
    white = bytes((255, 255, 255))
    drawn = sum(1 for p in pixels if p != white)
    assert drawn > 0.02 * len(pixels), f"a blank page: {drawn} of {len(pixels)} pixels drawn"
    # the drawing: the first lane's background (#f6f6f6) is html.TOP px into it
    lane_bg = _rgb("#f6f6f6")
    first_lane = next(y for y, r in enumerate(rows) if _pixels(r).count(lane_bg) > width // 2)
    xs = [x for x, p in enumerate(_pixels(rows[first_lane])) if p == lane_bg]
    top = first_lane - html.TOP  # the lanes start below the time axis
    # the whole width asked for is on screen, where the page puts it
    assert (min(xs), max(xs)) == (MARGIN, MARGIN + width - 1), (min(xs), max(xs))
    # and the whole height: the line under the drawing is there, the window's last
    # rows are the page's margin
    below = [y for y in range(top + svg_h, h) if any(p != white for p in _pixels(rows[y]))]
    assert below and max(below) < h - MARGIN // 2, (top, svg_h, h, below[-1:])
    in_drawing = {p for r in rows[top : top + svg_h] for p in _pixels(r)}
    # every opaque colour of the legend (bars and marks: flat fills) is drawn there,
    # not only in the legend's swatches
    legend = re.findall(r'<span data-color="([^"]+)">', text)
    opaque = {c: _rgb(c) for c in legend if _rgb(c) is not None}
    assert {"#d9534f", "#3a87ad", "#999"} <= set(opaque), legend  # a crash, a pause
    missing = [c for c, rgb in opaque.items() if rgb not in in_drawing]
    assert not missing, f"legend colours not in the drawing on the screenshot: {missing}"


def _pixels(row: bytes) -> list[bytes]:
    return [row[i : i + 3] for i in range(0, len(row), 3)]

"""Headless Chromium for the review's picture tests (tests/test_review_html.py,
tests/test_review_plots_mermaid.py): the DOM a page ends up with, a screenshot, and a PNG reader
(stdlib zlib: no Pillow in the test install).

Chromium is Debian's `chromium` package, which `make test` installs when missing (target
`chromium`). Without it these tests FAIL with the command to run: a browser test that skips
would let a report that draws nothing pass unseen.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy

INSTALL = "make chromium (part of make test), or: apt-get install chromium"

# No network, no profile state, no GPU: the same page renders the same on a developer's
# machine and in CI. --no-sandbox because CI runs as root, where Chromium's sandbox refuses to
# start. A fixed scale factor makes one CSS pixel one screenshot pixel.
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise AssertionError(f"headless Chromium is not installed: run {INSTALL}")
    return found


def _run(arguments: list[str]) -> str:
    with tempfile.TemporaryDirectory(prefix="smgha-chromium-") as profile:
        completed = subprocess.run(
            [chromium(), *_FLAGS, f"--user-data-dir={profile}", *arguments],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    if completed.returncode != 0:
        raise AssertionError(
            f"chromium failed ({completed.returncode}): {completed.stderr[-2000:]}"
        )
    return completed.stdout


def dump_dom(page: Path, wait_ms: int = 0) -> str:
    """The page's DOM, serialized after load (and after `wait_ms` of virtual time, which lets
    the page's own promises settle: a Mermaid render is asynchronous)."""
    wait = [f"--virtual-time-budget={wait_ms}"] if wait_ms else []
    return _run([*wait, "--dump-dom", page.resolve().as_uri()])


def screenshot(page: Path, width: int, height: int, into: Path) -> Image:
    """A width x height screenshot of the page's top."""
    _run([f"--window-size={width},{height}", f"--screenshot={into}", page.resolve().as_uri()])
    return read_png(into)


@dataclass(frozen=True)
class Image:
    """Pixels as a height x width x 3 array of RGB bytes."""

    pixels: numpy.ndarray

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def read_png(path: Path) -> Image:
    """An 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes), as RGB."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError(f"{path} is not a PNG")
    offset, chunks, header = 8, [], b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        offset += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour not in (2, 6) or interlace:
        raise AssertionError(f"{path}: PNG depth {depth}, colour type {colour}: not read here")
    channels = 3 if colour == 2 else 4
    raw = numpy.frombuffer(zlib.decompress(b"".join(chunks)), dtype=numpy.uint8)
    lines = raw.reshape(height, width * channels + 1)
    pixels = numpy.zeros((height, width * channels), dtype=numpy.uint8)
    above = numpy.zeros(width * channels, dtype=numpy.uint8)
    for y in range(height):
        above = _unfilter(int(lines[y, 0]), lines[y, 1:].copy(), above, channels)
        pixels[y] = above
    return Image(pixels=pixels.reshape(height, width, channels)[:, :, :3])


def _unfilter(kind: int, row: numpy.ndarray, above: numpy.ndarray, channels: int) -> numpy.ndarray:
    """Undo one row's PNG filter (RFC 2083, section 6). None, Sub and Up (what Chromium mostly
    writes) are array operations; Average and Paeth depend on the byte just decoded, so they go
    byte by byte."""
    if kind == 0:
        return row
    if kind == 1:  # each byte plus the decoded one a pixel to its left: a running sum, mod 256
        return row.reshape(-1, channels).cumsum(axis=0, dtype=numpy.uint8).reshape(-1)
    if kind == 2:
        return row + above
    out = bytearray(row.tobytes())
    up = above.tobytes()
    for i in range(channels):  # the first pixel: no left neighbour, Paeth then predicts `up`
        out[i] = (out[i] + (up[i] // 2 if kind == 3 else up[i])) & 0xFF
    for i in range(channels, len(out)):
        left, over, corner = out[i - channels], up[i], up[i - channels]
        if kind == 3:
            out[i] = (out[i] + ((left + over) >> 1)) & 0xFF
            continue
        to_left, to_up, to_corner = (
            abs(over - corner),
            abs(left - corner),
            abs(left + over - 2 * corner),
        )
        if to_left <= to_up and to_left <= to_corner:
            out[i] = (out[i] + left) & 0xFF
        elif to_up <= to_corner:
            out[i] = (out[i] + over) & 0xFF
        else:
            out[i] = (out[i] + corner) & 0xFF
    return numpy.frombuffer(bytes(out), dtype=numpy.uint8)

#!/usr/bin/env python3
"""Render docs/rosetta.html in headless Chromium to a PNG, to look at it as a reader would.

    python scripts/render_rosetta.py                      # docs/rosetta.html -> rosetta-1280.png
    python scripts/render_rosetta.py --width 1280 --height 2400 --out /tmp/page.png some.html
    python scripts/render_rosetta.py --width 390 --height 2400 --out /tmp/phone.png   # as on a phone

Needs Debian's ``chromium`` package (``apt-get install -y chromium``), or a Google Chrome already
installed; nothing is downloaded.
The page is opened as a file:// URL with networking features off and a fresh profile, so a page
that needed the network would show it. Exit status 2 when Chromium is missing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Debian's package first; Google Chrome (preinstalled on GitHub's Ubuntu runners) takes the same flags.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The Chromium (or Chrome) executable on PATH (Debian's package installs /usr/bin/chromium), or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def flags(profile: str, width: int, height: int) -> list[str]:
    """Headless, nothing fetched or synced in the background, a fresh profile, the window's size."""
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ]


def fresh_profile() -> tempfile.TemporaryDirectory:
    """A new, empty user-data directory, removed afterwards (``with fresh_profile() as path``)."""
    return tempfile.TemporaryDirectory(prefix="rosetta-chromium-")


def render(
    html: Path, png: Path, width: int = 1280, height: int = 2000, chromium: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Screenshot ``html`` at width x height CSS pixels into ``png``; raises if no PNG comes out."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("chromium not found: apt-get install -y chromium")
    png = png.resolve()
    png.unlink(missing_ok=True)
    with fresh_profile() as profile:
        cmd = [chromium, *flags(profile, width, height), f"--screenshot={png}", html.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if not png.is_file() or png.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", nargs="?", default=str(ROOT / "docs" / "rosetta.html"))
    parser.add_argument("--out", default="rosetta-1280.png", help="the PNG to write (default: rosetta-1280.png)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2000)
    args = parser.parse_args(argv)
    if find_chromium() is None:
        print("render_rosetta: chromium not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    render(Path(args.html), Path(args.out), args.width, args.height)
    print(f"wrote {args.out} ({args.width} x {args.height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Check a built site in a real headless browser: every page loads, every gallery image is
larger than a thumbnail.

    python docs/check_pages.py docs/_build/html [--browser chromium]

Each HTML page is opened by headless Chromium (Debian's ``chromium`` package), which prints
the DOM after the page's scripts ran; a page loads when that DOM has its body and title. The
gallery pages' images (``auto_examples/*.html``, sphinx-gallery's captured figures) are then
read from the files the DOM points at: each must be wider than sphinx-gallery's thumbnail
(400 x 280 px), and the gallery's index must show no placeholder thumbnail. Exit status 1
names every failure.
"""

from __future__ import annotations

import argparse
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

THUMBNAIL = (400, 280)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])


def dom(browser: str, page: Path) -> str:
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                           "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    return done.stdout


def check(site: Path, browser: str) -> list[str]:
    failures = []
    pages = sorted(site.rglob("*.html"))
    if not pages:
        return [f"no HTML pages under {site}"]
    for page in pages:
        text = dom(browser, page)
        if "<body" not in text or "<title>" not in text:
            failures.append(f"{page.relative_to(site)}: did not load")
            continue
        if page.parent.name != "auto_examples":
            continue
        if page.name == "index.html":  # the gallery: a real thumbnail for every example
            if "no_image" in text:
                failures.append(f"{page.relative_to(site)}: an example without a thumbnail")
            continue
        if not page.name.startswith("plot_"):  # (the execution times' page)
            continue
        images = [src for src in re.findall(r'<img[^>]+src="([^"]+)"', text)
                  if "sphx_glr_" in src and "thumb" not in src]
        if not images:
            failures.append(f"{page.relative_to(site)}: no figure")
        for src in images:
            width, height = png_size((page.parent / src).resolve())
            if width <= THUMBNAIL[0]:
                failures.append(f"{page.relative_to(site)}: {src} is {width} x {height} px, "
                                f"no larger than a thumbnail")
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path, help="the built HTML folder")
    parser.add_argument("--browser", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args(argv)
    failures = check(args.site, args.browser)
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"{'FAILED' if failures else 'ok'}: {len(list(args.site.rglob('*.html')))} pages",
          file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

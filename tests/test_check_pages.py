"""docs/check_pages.py, with a stand-in browser that prints the page (as --dump-dom does):
a small gallery figure, a placeholder thumbnail and a page that does not load are named."""

import importlib.util
import struct
import sys
import zlib
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def load():
    spec = importlib.util.spec_from_file_location("check_pages", DOCS / "check_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def png(path: Path, width: int, height: int) -> None:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\0" + bytes(width) for _ in range(height)))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
                     + chunk(b"IEND", b""))


def test_the_page_check_names_small_figures_placeholders_and_broken_pages(tmp_path):
    check_pages = load()
    site = tmp_path / "html"
    (site / "auto_examples").mkdir(parents=True)
    (site / "_images").mkdir()
    png(site / "_images" / "sphx_glr_plot_a_001.png", 800, 500)
    png(site / "_images" / "sphx_glr_plot_b_001.png", 300, 200)
    page = "<html><head><title>{}</title></head><body>{}</body></html>"
    (site / "index.html").write_text(page.format("home", "hello"))
    for name in ("a", "b"):
        (site / "auto_examples" / f"plot_{name}.html").write_text(page.format(
            name, f'<img src="../_images/sphx_glr_plot_{name}_001.png"/>'))
    (site / "auto_examples" / "index.html").write_text(page.format(
        "gallery", '<img src="../_static/no_image.png"/>'))
    (site / "broken.html").write_text("")
    browser = tmp_path / "browser"
    browser.write_text(f"#!{sys.executable}\nimport sys, urllib.parse\n"
                       "print(open(urllib.parse.urlparse(sys.argv[-1]).path).read())\n")
    browser.chmod(0o755)
    assert check_pages.png_size(site / "_images" / "sphx_glr_plot_a_001.png") == (800, 500)
    failures = check_pages.check(site, str(browser))
    assert len(failures) == 3, failures
    assert any("plot_b.html" in f and "300 x 200" in f for f in failures)
    assert any("without a thumbnail" in f for f in failures)
    assert any("broken.html: did not load" in f for f in failures)

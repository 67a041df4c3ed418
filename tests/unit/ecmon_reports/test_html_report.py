"""The report's charts draw Chinese with an installed CJK font; a PDF's pages are counted."""

import shutil

import pytest

from ecmon_reports import html_report


@pytest.mark.skipif(shutil.which("fc-match") is None, reason="fontconfig is not installed")
def test_charts_use_the_installed_cjk_font_not_dejavu():
    from matplotlib import font_manager


    plt = html_report._pyplot()
    path = font_manager.findfont(font_manager.FontProperties(family=plt.rcParams["font.sans-serif"][0]),
                                 fallback_to_default=False)
    assert plt.rcParams["font.sans-serif"][0] == html_report.CJK_FONT
    assert "NotoSansCJK" in path, f"{path}: install fonts-noto-cjk (make system-packages)"


def test_pdf_pages_are_counted_without_the_page_tree():
    data = b"<< /Type /Pages /Count 2 >> << /Type /Page /Parent 1 0 R >> << /Type/Page >>"
    assert html_report.pdf_pages(data) == 2


def test_a_missing_chromium_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(html_report.ChromiumMissing, match="chromium"):
        html_report.chromium()

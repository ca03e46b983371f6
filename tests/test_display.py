"""The command's display: written to a file or a pipe, progress comes out as plain lines, throttled."""

from __future__ import annotations

import io
import logging

from rich.console import Console

from recgpt.cli.display import Display


def test_progress_to_a_file_prints_throttled_plain_lines_and_the_last_one():
    out = io.StringIO()
    display = Display(console=Console(file=out, width=200), plain_every=3600)
    try:
        for done in range(1, 6):
            display("fine-tuning", done, 5, loss=1.0 / done)
        display("fine-tuning", 1, 2)  # a finished task starts afresh under its name
    finally:
        display.close()
    lines = out.getvalue().splitlines()
    assert [line.split("  ")[0] for line in lines] == ["fine-tuning: 1/5 (20%)", "fine-tuning: 5/5 (100%)",
                                                      "fine-tuning: 1/2 (50%)"]
    assert "loss 0.2" in lines[1] and "eta" in lines[0] and "eta" not in lines[1]


def test_every_report_is_printed_when_the_interval_is_zero_and_logs_still_pass():
    out = io.StringIO()
    display = Display(console=Console(file=out, width=200), plain_every=0)
    try:
        for done in range(3):
            display("embedding", done, None)
        logging.getLogger("recgpt.test").warning("a warning")
    finally:
        display.close()
    text = out.getvalue()
    assert text.count("embedding: ") == 3 and "embedding: 2/?" in text and "a warning" in text

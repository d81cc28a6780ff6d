"""Speed of the event-stream parser on hostile input, as ratios measured in one session.

The baseline is an ordinary stream: ``size`` bytes of short ``data:`` events. Against it:

1. the same number of bytes as one line without a newline, fed in ``read`` byte network
   reads (a server that never ends its line). The parser keeps the pieces of an unfinished
   line apart and joins them once, so this is linear: target ratio <= 2. (Before, each read
   re-joined and re-scanned the whole unfinished line: 16 MB in 1 KiB reads took 15 s.)
   The decoder stops such a line at 8 Mi characters; the benchmark raises that limit so
   that the whole input is parsed.
2. the same line parsed at twice the size, to show the time doubles (ratio ~2), not
   quadruples.

    python benchmarks/sse_parse.py [--size 16000000] [--read 1024] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

from pytest_modelbench.models.providers._http import SSEDecoder


def parse_time(data: bytes, read: int) -> float:
    decoder = SSEDecoder(max_line_chars=len(data) + 1)
    started = time.perf_counter()
    for start in range(0, len(data), read):
        decoder.feed(data[start : start + read])
    decoder.close()
    return time.perf_counter() - started


def median_time(data: bytes, read: int, repeats: int) -> float:
    return statistics.median(parse_time(data, read) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=16_000_000, help="bytes of each input (default 16 MB)")
    parser.add_argument("--read", type=int, default=1024, help="bytes per network read (default 1024)")
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    event = b'data: {"choices": [{"delta": {"content": "word "}}]}\n\n'
    events = event * (options.size // len(event))
    line = b"data: " + b"x" * (len(events) - 6)
    double = b"data: " + b"x" * (2 * len(events) - 6)
    baseline = median_time(events, options.read, options.repeats)
    endless = median_time(line, options.read, options.repeats)
    twice = median_time(double, options.read, options.repeats)
    print(f"input {len(events) / 1e6:.1f} MB in {options.read}-byte reads, median of {options.repeats}")
    print(f"  ordinary events (baseline)       {baseline:8.3f} s")
    print(f"  one line without a newline       {endless:8.3f} s   ratio {endless / baseline:5.2f} (target <= 2)")
    print(f"  the same line at twice the size  {twice:8.3f} s   ratio {twice / endless:5.2f} to the line "
          "(linear: ~2)")


if __name__ == "__main__":
    main()

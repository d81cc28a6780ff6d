"""Peak memory of a client reading compression bombs, beside an ordinary reply, in one session.

The server is tests/hostile_server.py on 127.0.0.1. Each case runs one OpenAI-compatible call
in a fresh process, which resets its peak resident memory just before the call (writing 5 to
/proc/self/clear_refs, Linux) and prints how much the peak (VmHWM) grew during it:

- baseline: an ordinary 16 MB JSON reply (not compressed), half the cap;
- a 1.5 MB gzip body that decodes to 1.5 GB of zeros (``Content-Type: application/json``);
- a gzipped event stream that decodes to 1.5 GB of 1000-character content events.

The client decodes bodies itself, 64 KiB at a time, and stops past ``max_response_bytes``
(32 MiB by default), so both bombs should cost about as much as an ordinary reply of the
cap's size, whatever their compression ratio: target ratio to the baseline <= 4. (Before the
cap, the same calls grew the client by 4.9 GiB and 1.5 GiB.)

    python benchmarks/hostile_memory.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fake_openai import chunk, sse  # noqa: E402
from hostile_server import HostileServer, gzip_bomb, response  # noqa: E402

CLIENT = textwrap.dedent("""
    import sys
    from pytest_modelbench.models.providers.openai import OpenAIProvider

    def status_kib(field):
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))

    url, stream = sys.argv[1], sys.argv[2] == "stream"
    provider = OpenAIProvider("m", base_url=url, max_retries=0, timeout=120, stream=stream)
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # the peak (VmHWM) starts again from what is resident now
    before = status_kib("VmRSS")
    try:
        provider.complete([{"role": "user", "content": "Hi"}])
        outcome = "reply"
    except Exception as exc:
        outcome = type(exc).__name__ + ": " + str(exc).split(": ", 1)[-1][:70]
    print((status_kib("VmHWM") - before) / 1024)
    print(outcome)
""")


def growth_mib(body: bytes, *, content_type: str, encoding: str | None, stream: bool) -> tuple[float, str]:
    fields = {"content_type": content_type}
    if encoding:
        fields["content_encoding"] = encoding
    with HostileServer(response(body, **fields)) as server:
        completed = subprocess.run([sys.executable, "-c", CLIENT, server.url, "stream" if stream else "whole"],
                                   capture_output=True, text=True, timeout=600, cwd="/")
    if completed.returncode != 0:
        raise SystemExit(completed.stderr[-2000:])
    growth, outcome = completed.stdout.strip().splitlines()
    return float(growth), outcome


def main() -> None:
    if not sys.platform.startswith("linux"):
        raise SystemExit("needs Linux (/proc/self/clear_refs and VmHWM)")
    ordinary = json.dumps({"choices": [{"message": {"content": "x" * 16_000_000}, "finish_reason": "stop"}]}).encode()
    events = sse(chunk("a" * 1000)) * 1000
    cases = [
        ("ordinary 16 MB JSON reply (baseline)", ordinary, "application/json", None, False),
        ("1.5 MB gzip bomb -> 1.5 GB", gzip_bomb(b"\0" * 2**20, 1500), "application/json", "gzip", False),
        ("gzipped event stream -> 1.5 GB", gzip_bomb(events, 1500, prefix=sse(chunk(role="assistant", content=""))),
         "text/event-stream", "gzip", True),
    ]
    baseline = None
    for name, body, content_type, encoding, stream in cases:
        grown, outcome = growth_mib(body, content_type=content_type, encoding=encoding, stream=stream)
        baseline = grown if baseline is None else baseline
        ratio = f"ratio {grown / baseline:5.2f}" if baseline else "ratio     -"
        print(f"{name:40s} body {len(body) / 1e6:5.2f} MB  peak RSS +{grown:6.1f} MiB  {ratio}  {outcome}")
    print("target: each bomb's ratio <= 4")


if __name__ == "__main__":
    main()

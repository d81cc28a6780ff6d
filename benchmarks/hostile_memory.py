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

``--path`` picks the code path that makes the call: ``complete`` (the provider's sync
``complete()``, the default), ``acomplete`` (its ``await acomplete()``, models/providers/_async.py)
or ``metered`` (the official openai SDK through ``model.openai_client()``, models/metering.py).
``--repeats N`` makes the bombs decode to N MiB (default 1500), e.g. a smaller bomb for a
version without the cap.

    python benchmarks/hostile_memory.py [--path complete|acomplete|metered] [--repeats N]
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

    url, stream, path = sys.argv[1], sys.argv[2] == "stream", sys.argv[3]
    messages = [{"role": "user", "content": "Hi"}]
    provider = OpenAIProvider("m", base_url=url, max_retries=0, timeout=120, stream=stream)
    if path == "complete":
        call = lambda: provider.complete(messages)
    elif path == "acomplete":
        import asyncio
        call = lambda: asyncio.run(provider.acomplete(messages))
    else:
        import openai  # imported before the peak is reset
        from pytest_modelbench.models.model import CallMeter, CallTotals, Model
        from pytest_modelbench.models.specs import ModelSpec
        model = Model(ModelSpec(name="m", provider="openai", model="m", base_url=url), lambda: provider, run=1,
                      timeout=120, totals=CallTotals(), meter=CallMeter(), task="t",
                      endpoint=lambda: (url, None), retries=0)
        client = model.openai_client()

        def call():
            reply = client.chat.completions.create(model="m", messages=messages, stream=stream)
            for _ in (reply if stream else ()):
                pass
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # the peak (VmHWM) starts again from what is resident now
    before = status_kib("VmRSS")
    try:
        call()
        outcome = "reply"
    except Exception as exc:
        outcome = type(exc).__name__ + ": " + str(exc).split(": ", 1)[-1][:70]
    print((status_kib("VmHWM") - before) / 1024)
    print(outcome)
""")


def growth_mib(body: bytes, *, content_type: str, encoding: str | None, stream: bool,
               path: str = "complete") -> tuple[float, str]:
    fields = {"content_type": content_type}
    if encoding:
        fields["content_encoding"] = encoding
    with HostileServer(response(body, **fields)) as server:
        completed = subprocess.run([sys.executable, "-c", CLIENT, server.url, "stream" if stream else "whole", path],
                                   capture_output=True, text=True, timeout=600, cwd="/")
    if completed.returncode != 0:
        raise SystemExit(completed.stderr[-2000:])
    growth, outcome = completed.stdout.strip().splitlines()
    return float(growth), outcome


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", choices=("complete", "acomplete", "metered"), default="complete")
    parser.add_argument("--repeats", type=int, default=1500, help="MiB the bombs decode to (default 1500)")
    arguments = parser.parse_args()
    if not sys.platform.startswith("linux"):
        raise SystemExit("needs Linux (/proc/self/clear_refs and VmHWM)")
    repeats = arguments.repeats
    ordinary = json.dumps({"choices": [{"message": {"content": "x" * 16_000_000}, "finish_reason": "stop"}]}).encode()
    events = sse(chunk("a" * 1000)) * 1000
    # The JSON bomb is a JSON object (spaces after its opening): an SDK reading the body gets as
    # far as the cap either way.
    cases = [
        ("ordinary 16 MB JSON reply (baseline)", ordinary, "application/json", None, False),
        (f"{repeats / 1000:g} MB gzip bomb -> {repeats / 1000:g} GB",
         gzip_bomb(b" " * 2**20, repeats, prefix=b'{"choices": '), "application/json", "gzip", False),
        (f"gzipped event stream -> {repeats / 1000:g} GB",
         gzip_bomb(events, repeats, prefix=sse(chunk(role="assistant", content=""))), "text/event-stream", "gzip", True),
    ]
    print(f"path: {arguments.path}")
    baseline = None
    for name, body, content_type, encoding, stream in cases:
        grown, outcome = growth_mib(body, content_type=content_type, encoding=encoding, stream=stream,
                                    path=arguments.path)
        baseline = grown if baseline is None else baseline
        ratio = f"ratio {grown / baseline:5.2f}" if baseline else "ratio     -"
        print(f"{name:40s} body {len(body) / 1e6:5.2f} MB  peak RSS +{grown:6.1f} MiB  {ratio}  {outcome}")
    print("target: each bomb's ratio <= 4")


if __name__ == "__main__":
    main()

"""Overhead of metering an app's own client, as per-call time ratios measured in one process.

Against the local scriptable server of tests/fake_openai.py (127.0.0.1, instant replies),
each configuration makes the same chat-completion calls, streamed and not:

* ``sdk``: a plain ``openai.OpenAI`` client (``max_retries=0``), nothing metered: the baseline;
* ``metered``: ``model.openai_client()``, every call metered into a run (stream parsing,
  usage injection, pricing, totals);
* ``complete``: ``model.complete()`` through the built-in OpenAI provider.

Configurations alternate in rounds and the median per-call time of each is kept, so machine
noise affects all alike. Printed: per-call milliseconds and the ratio to ``sdk``; the
difference ``metered - sdk`` is the metering's own cost per call.

    python benchmarks/metering_overhead.py [--calls 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402
from fake_openai import FakeOpenAI, completion_body, json_reply, stream_reply  # noqa: E402

from pytest_modelbench.cost.prices import ModelPrice  # noqa: E402
from pytest_modelbench.models.model import CallMeter, CallTotals, Model  # noqa: E402
from pytest_modelbench.models.providers.openai import OpenAIProvider  # noqa: E402
from pytest_modelbench.models.specs import ModelSpec  # noqa: E402

MESSAGES = [{"role": "user", "content": "Say hello in five words."}]
PIECES = ["Hello", " there", ",", " dear", " friend", "!"] * 4


def reply(request):  # noqa: ANN001 - fake server responder
    if request.body.get("stream"):
        return stream_reply(PIECES, usage=(12, len(PIECES)))
    return json_reply(completion_body("".join(PIECES), usage=(12, len(PIECES))))


def per_call_ms(call, calls: int) -> float:  # noqa: ANN001
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) * 1000.0 / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    with FakeOpenAI() as server:
        server.always(reply)
        spec = ModelSpec(name="m", provider="openai", model="m", base_url=server.url)
        provider = OpenAIProvider("m", base_url=server.url)
        price = ModelPrice(model="m", input_usd_per_mtok=1.0, output_usd_per_mtok=2.0)
        model = Model(spec, lambda: provider, run=1, timeout=30.0, totals=CallTotals(), meter=CallMeter(price),
                      endpoint=lambda: (server.url, None))
        plain = openai.OpenAI(base_url=server.url, api_key="none", max_retries=0)
        metered = model.openai_client()

        def sdk_call(client: openai.OpenAI, stream: bool) -> None:
            if stream:
                for _ in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
                    pass
            else:
                client.chat.completions.create(model="m", messages=MESSAGES)

        configurations = {}
        for stream in (False, True):
            kind = "stream" if stream else "json"
            configurations[f"sdk/{kind}"] = lambda stream=stream: sdk_call(plain, stream)
            configurations[f"metered/{kind}"] = lambda stream=stream: sdk_call(metered, stream)
        configurations["complete/stream"] = lambda: model.complete(MESSAGES)
        times: dict[str, list[float]] = {name: [] for name in configurations}
        for call in configurations.values():  # warm up connections and imports
            per_call_ms(call, 10)
        for _ in range(options.rounds):
            for name, call in configurations.items():
                times[name].append(per_call_ms(call, options.calls))
        medians = {name: statistics.median(values) for name, values in times.items()}
        print(f"{options.calls} calls x {options.rounds} rounds, {len(PIECES)} content chunks per stream")
        for kind in ("json", "stream"):
            base = medians[f"sdk/{kind}"]
            for name in (f"sdk/{kind}", f"metered/{kind}") + (("complete/stream",) if kind == "stream" else ()):
                print(f"  {name:18s} {medians[name]:7.3f} ms/call   ratio to sdk/{kind}: {medians[name] / base:5.2f}")
            print(f"  metering overhead ({kind}): {medians[f'metered/{kind}'] - base:+.3f} ms/call")
        print(f"calls metered: {model._calls.totals.calls}")
        metered.close()
        plain.close()
        model.close()
        provider.close()


if __name__ == "__main__":
    main()

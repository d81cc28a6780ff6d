"""Requests per second that run_load sustains, beside a bare httpx loop and GuideLLM.

The server is tests/load_server.py in its own process with no delays (each answer: a role
chunk, ``--tokens`` content chunks, finish, usage and [DONE] in one write), so the client is
what limits the rate. Measured at each concurrency level in one session, median of
``--repeats``:

- ``run_load`` with ``engine="httpx"`` and ``engine="raw"``, automatic layout, and the
  client CPU time it used per request (steadier than req/s on a shared machine);
- a bare loop: one ``httpx.AsyncClient`` (pool = concurrency) streaming and reading every
  body to the end, nothing parsed or measured, in a fresh process; once as anyone would write
  it and once with the failing ``import sniffio`` short-circuited as run_load does;
- GuideLLM 0.8 (``--guidellm PATH`` to its executable, installed in a throwaway venv, e.g.
  ``python -m venv /tmp/guidellm-venv && /tmp/guidellm-venv/bin/pip install guidellm``),
  when it is there; prompts from a JSON file (offline: no tokenizer download).

The server shares the machine's CPUs with the client: on 2 cores, a client that needs less
CPU per request leaves more to the server.

    python benchmarks/load_throughput.py [--levels 16,64,256] [--requests 3000] [--tokens 8]
                                         [--repeats 3] [--guidellm /tmp/guidellm-venv/bin/guidellm]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from load_server import server_process  # noqa: E402

from pytest_modelbench.profile.load import available_cpus, run_load  # noqa: E402

BARE = """
import asyncio, json, sys, time
if {skip_sniffio}:
    import importlib.util
    if importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None
import httpx

URL, LEVEL, REQUESTS = {url!r}, {level}, {requests}
BODY = json.dumps({{"model": "m", "messages": [{{"role": "user", "content": "hi"}}], "stream": True,
                   "stream_options": {{"include_usage": True}}}}).encode()

async def main():
    limits = httpx.Limits(max_connections=LEVEL, max_keepalive_connections=LEVEL)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        left = [REQUESTS]
        async def worker():
            while left[0] > 0:
                left[0] -= 1
                async with client.stream("POST", URL, content=BODY) as response:
                    async for _ in response.aiter_bytes():
                        pass
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(LEVEL)))
        print(REQUESTS / (time.perf_counter() - start))

asyncio.run(main())
"""


def bare_httpx(url: str, level: int, requests: int, *, skip_sniffio: bool) -> float:
    code = textwrap.dedent(BARE.format(url=url, level=level, requests=requests, skip_sniffio=skip_sniffio))
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    if completed.returncode != 0:
        raise SystemExit(f"bare httpx loop failed:\n{completed.stderr[-2000:]}")
    return float(completed.stdout.strip().splitlines()[-1])


def guidellm(executable: str, base_root: str, level: int, requests: int, tokens: int) -> tuple[float | None, str]:
    """Requests/s GuideLLM (0.8 command line) sustains at this concurrency, or None and why not.

    Requests/s = successful requests / benchmark duration, from its JSON report.
    """
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "guidellm.json"
        data = Path(tmp) / "prompts.json"
        data.write_text(json.dumps([{"prompt": "hi", "output_tokens_count": tokens}] * requests))
        command = [
            executable, "run", "--backend", f"kind=openai_http,target={base_root},model=load-model",
            "--profile", f"kind=concurrent,streams={level}", "--constraint", f"kind=max_requests,count={requests}",
            "--data", f"kind=json_file,path={data}", "--output", f"kind=json,path={output}",
            "--disable-console-interactive",
        ]
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        try:
            completed = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, cwd=tmp)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"{type(exc).__name__}: {exc}"
        if completed.returncode != 0 or not output.exists():
            tail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
            return None, " | ".join(tail)[-400:]
        try:
            benchmark = json.loads(output.read_text())["benchmarks"][0]
            done = benchmark["metrics"]["request_totals"]["successful"]
            in_flight = benchmark["metrics"]["request_concurrency"]["successful"]["mean"]
            return done / benchmark["duration"], f"its mean concurrency {in_flight:.1f}"
        except (KeyError, IndexError, TypeError, ZeroDivisionError) as exc:
            return None, f"could not read its report ({exc!r})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="16,64,256")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--guidellm", default="/tmp/guidellm-venv/bin/guidellm")
    options = parser.parse_args()
    levels = [int(level) for level in options.levels.split(",")]
    print(f"machine: {available_cpus()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
          f"{options.requests} requests per measurement, {options.tokens} tokens per answer, "
          f"median of {options.repeats}")
    with server_process(ttft_ms=0, itl_ms=0, tokens=options.tokens) as server:
        url = server.base_url + "/chat/completions"
        run_load(base_url=server.base_url, model="m", api_key=None, prompts=["hi"], concurrency=16,
                 requests=200, engine="raw")  # warm the server
        for level in levels:
            samples: dict[str, list[float]] = {"httpx": [], "raw": [], "bare": [], "bare_fixed": []}
            cpu_us: dict[str, list[float]] = {"httpx": [], "raw": []}
            layouts: dict[str, str] = {}
            flagged: dict[str, int] = {"httpx": 0, "raw": 0}
            for _ in range(options.repeats):
                for engine in ("httpx", "raw"):
                    result = run_load(base_url=server.base_url, model="m", api_key=None, prompts=["hi"],
                                      concurrency=level, requests=options.requests, engine=engine)
                    assert result.failed == 0, result.errors
                    samples[engine].append(result.request_throughput)
                    cpu_us[engine].append(result.client_cpu_s / result.completed * 1e6)
                    layouts[engine] = f"{result.processes} process(es), {result.clients} client(s)"
                    flagged[engine] += result.client_bottleneck
                samples["bare"].append(bare_httpx(url, level, options.requests, skip_sniffio=False))
                samples["bare_fixed"].append(bare_httpx(url, level, options.requests, skip_sniffio=True))
            medians = {name: statistics.median(values) for name, values in samples.items()}
            guide, why = (None, "not installed")
            if options.guidellm and Path(options.guidellm).exists():
                guide, why = guidellm(options.guidellm, server.root, level, options.requests, options.tokens)
            print(f"concurrency {level}:")
            for engine in ("httpx", "raw"):
                print(f"  run_load engine={engine:5} {medians[engine]:7.0f} req/s  "
                      f"{statistics.median(cpu_us[engine]):6.0f} us client CPU/request  "
                      f"({layouts[engine]}; self-check flagged {flagged[engine]}/{options.repeats})")
            print(f"  bare httpx loop          {medians['bare']:7.0f} req/s")
            print(f"  bare httpx + sniffio fix {medians['bare_fixed']:7.0f} req/s")
            print(f"  GuideLLM                 {f'{guide:7.0f} req/s' if guide is not None else 'n/a'}  ({why})")
            ratios = (f"  ratios: raw/httpx {medians['raw'] / medians['httpx']:.2f}, "
                      f"httpx/bare {medians['httpx'] / medians['bare']:.2f}, raw/bare {medians['raw'] / medians['bare']:.2f}")
            if guide:
                ratios += f", httpx/GuideLLM {medians['httpx'] / guide:.2f}, raw/GuideLLM {medians['raw'] / guide:.2f}"
            print(ratios, flush=True)
    print(f"load average at end {os.getloadavg()[0]:.1f}; target: run_load >= 1000 req/s at every level")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"took {time.perf_counter() - started:.0f} s")

"""Load on `headstart serve` over loopback: throughput, p50/p99 latency, errors and server memory.

Trains two small bundles (texts: the tests' topic CSV on `minilm-l6` by default; images: colour patches
on `efficientnet-lite0`), or takes them from --text-bundle / --image-bundle, starts each with
`headstart serve` as its own process on 127.0.0.1, then sends a fixed number of single-input requests at
each concurrency (1, 10, 50) from this process (a minimal keep-alive HTTP/1.1 client on asyncio streams,
so the client takes little CPU from the server). Request texts are distinct real sentences: SST-2
validation + test (2,693, from ../shared/data) when present, else numbered synthetic sentences
(`--texts synthetic`). Each level reports the CPU seconds per second used by the server process and by
this client (both share the 2 cores). The server's RSS is read from /proc before the first request and
after the last.

    .venv/bin/python bench/serve.py
    .venv/bin/python bench/serve.py --only text --repeats 3 --serve-args "--precision int8"
    .venv/bin/python bench/serve.py --text-backbone test-text --image-backbone test-cnn --requests 2000
    .venv/bin/python bench/serve.py --wrk --only text --repeats 3 --max-batch 64   # issue 20's figure, fp32 and int8

`--wrk` (text bundle) measures what issue 20 asks instead: `wrk -t1 -c50 -d{--wrk-seconds}s --latency` over
loopback with a Lua script cycling 1,000 distinct SST-2 texts (no duplicate within a batch, so none is computed
once for several requests), and, in the same run while the server idles, the engine's own batched throughput:
the same bundle loaded in this process (as `serve` configures it: --max-batch, --precision, all cores) predicting
the same 1,000 texts in batches of --max-batch, just before and just after each wrk run (their mean). The goal is
served req/s >= 85 % of that ceiling, with p99 at 50 clients beside it, for each of --precisions (fp32 and int8 by
default, one server after the other). Each run also reports the server's CPU milliseconds per request against the
engine's CPU milliseconds per item: the difference is what HTTP costs. The goal's record names the CPU's vector
instruction sets (int8 runs much faster with VNNI) and rewrites README.md's serving figures from the same runs.
wrk comes from Debian (`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS_DIR, load_average, machine_info, write_json  # noqa: E402
from bench.goals import record_serve, record_serve_distinct, write_readme_serving  # noqa: E402
from tests.conftest import make_image_folder, make_text_csv  # noqa: E402
from tests.serve.server import running_server  # noqa: E402

TEXTS = [
    "the team won the match in the last minute",
    "a sweet cake with cream and strawberries",
    "the coach was angry after the draw",
    "we cooked pasta with garlic and tomato sauce",
    "fans sang for the whole game",
]


SST2 = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "sst2" / "sst2.csv"


def request_texts(kind: str) -> list[str]:
    """Distinct texts to send: SST-2 validation + test sentences, or numbered synthetic sentences."""
    if kind == "sst2" or (kind == "auto" and SST2.is_file()):
        import csv

        with SST2.open(newline="") as f:
            texts = [r["text"] for r in csv.DictReader(f) if r["split"] in ("validation", "test")]
        return list(dict.fromkeys(texts))
    return [f"{TEXTS[i % len(TEXTS)]} (request {i})" for i in range(10_000)]


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of process `pid` (all its threads), from /proc."""
    if pid is None:
        return float("nan")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def server_pid(port: int) -> int | None:
    """The pid listening on `port` (the `headstart serve` process), from `ss`."""
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
    for part in out.split("pid=")[1:]:
        return int(part.split(",")[0])
    return None


def image_payloads(n: int) -> list[bytes]:
    """`n` distinct JPEGs (the model deduplicates identical items within a batch, so repeats would flatter it)."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        rgb = [(220, 30, 30), (30, 200, 40), (30, 40, 220)][i % 3]
        pixels = np.clip(np.array(rgb) + rng.normal(0, 25, size=(160, 160, 3)), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


class Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: light enough not to starve the server's cores."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return int(status_line.split()[1]), payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def multipart(name: str, data: bytes, boundary: str = "headstartbench") -> tuple[bytes, str]:
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


async def load(
    url: str, modality: str, requests: int, concurrency: int, sentences: list[str] | None = None, offset: int = 0
) -> dict[str, Any]:
    """`requests` single-input POSTs with `concurrency` connections in flight; latency per request."""
    host, port = url.removeprefix("http://").split(":")
    distinct = min(requests, 1000)
    images = [multipart(f"{i}.jpg", d) for i, d in enumerate(image_payloads(distinct))] if modality == "image" else []
    pool = sentences or request_texts("synthetic")
    texts = [json.dumps({"inputs": [pool[(offset + i) % len(pool)]]}).encode() for i in range(requests)]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    counter = iter(range(requests))

    async def worker() -> None:
        connection = Connection(host, int(port))
        try:
            for i in counter:
                t0 = time.perf_counter()
                try:
                    if modality == "text":
                        status, _ = await connection.post("/v1/predict", texts[i], "application/json")
                    else:
                        body, content_type = images[i % len(images)]
                        status, _ = await connection.post("/v1/predict", body, content_type)
                except (OSError, asyncio.IncompleteReadError, ValueError) as err:
                    errors[type(err).__name__] = errors.get(type(err).__name__, 0) + 1
                    await connection.close()
                    connection = Connection(host, int(port))
                    continue
                if status != 200:
                    errors[str(status)] = errors.get(str(status), 0) + 1
                    continue
                latencies.append(time.perf_counter() - t0)
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    ms = [x * 1000 for x in latencies]
    return {
        "concurrency": concurrency,
        "requests": requests,
        "ok": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "seconds": round(elapsed, 3),
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(ms), 2) if ms else None,
        "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 2) if ms else None,
        "max_ms": round(ms[-1], 2) if ms else None,
    }


WRK_TEXTS = 1000
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {
%s
}
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, "/v1/predict", nil, bodies[(i %% #bodies) + 1])
end
"""


def wrk_script(texts: list[str], folder: Path) -> Path:
    """A wrk Lua script cycling one JSON body per distinct text (one Lua state: `wrk -t1`)."""
    bodies = [json.dumps({"inputs": [t]}) for t in texts]
    if any("]==]" in b for b in bodies):
        raise ValueError("a text contains the Lua long-string terminator ]==]")
    path = folder / "distinct.lua"
    path.write_text(LUA % ",\n".join(f"[==[{b}]==]" for b in bodies))
    return path


def _ms(value: str) -> float:
    """wrk's '335.12ms', '1.20s' or '950.00us' in milliseconds."""
    for unit, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if value.endswith(unit):
            return float(value[: -len(unit)]) * scale
    raise ValueError(f"unknown wrk duration {value!r}")


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests/s, latency percentiles and errors from `wrk --latency` output."""
    result: dict[str, Any] = {"errors": 0}
    lines = [line.strip() for line in output.splitlines()]
    for i, line in enumerate(lines):
        if line.startswith("Requests/sec:"):
            result["throughput_rps"] = float(line.split()[1])
        elif line.startswith("Latency Distribution"):
            for row in lines[i + 1 : i + 5]:
                pct, value = row.split()
                result[f"p{pct.rstrip('%')}_ms"] = round(_ms(value), 2)
        elif "requests in" in line:
            result["requests"] = int(line.split()[0])
        elif line.startswith("Non-2xx or 3xx responses:"):
            result["errors"] += int(line.split(":")[1])
        elif line.startswith("Socket errors:"):
            result["errors"] += sum(int(part.split()[-1]) for part in line.split(":", 1)[1].split(","))
    return result


def engine_ceiling(
    bundle: Path, texts: list[str], batch: int, precision: str = "fp32", passes: int = 1
) -> dict[str, Any]:
    """The bundle's own batched throughput in this process, configured as `serve` configures it (batch size,
    precision, all cores): distinct texts in batches of `batch`, no HTTP."""
    import headstart

    model = headstart.load(bundle)
    model.configure(batch_size=batch, precision=precision)
    model.predict_proba(texts[:batch])  # session opened, warm
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(passes):
        for s in range(0, len(texts), batch):
            model.predict_proba(texts[s : s + batch])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    items = passes * len(texts)
    return {
        "items_per_s": round(items / seconds, 1),
        "cpu_ms_per_item": round(1000 * cpu / items, 2),
        "batch": batch,
        "seconds": round(seconds, 3),
    }


def bench_wrk(bundle: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Issue 20's serving figure: wrk with distinct texts at 50 clients against the engine's batched ceiling, for
    each precision in --precisions (one server each, started in turn)."""
    import shutil

    if shutil.which("wrk") is None:
        sys.exit("bench: wrk is not installed (Debian: apt-get install -y wrk)")
    texts = list(dict.fromkeys(request_texts("auto")))[:WRK_TEXTS]
    variants = []
    for precision in args.precisions.split(","):
        serve_args = ["--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms)]
        serve_args += ["--precision", precision, *shlex.split(args.serve_args)]
        print(f"  --precision {precision}:", flush=True)
        variants.append(wrk_variant(bundle, texts, serve_args, precision, args))
    return {"model": variants[0]["model"], "distinct_texts": len(texts), "variants": variants}


def wrk_variant(
    bundle: Path, texts: list[str], serve_args: list[str], precision: str, args: argparse.Namespace
) -> dict[str, Any]:
    """--repeats wrk runs against one server, each between two measurements of the engine's own ceiling."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="headstart-bench-wrk-") as tmp:
        script = wrk_script(texts, Path(tmp))
        with running_server(bundle, *serve_args, timeout=300) as url:
            health = httpx.get(f"{url}/v1/health").json()
            wrk = ["wrk", "-t1", "-c50", f"-d{args.wrk_seconds}s", "--latency", "--timeout", "10s", "-s", str(script)]
            subprocess.run([*wrk[:3], "-d3s", *wrk[4:], url], capture_output=True, check=True)  # warm-up
            pid = server_pid(int(url.rsplit(":", 1)[1]))
            for repeat in range(args.repeats):  # the engine runs just before and after wrk, the server idling
                first = engine_ceiling(bundle, texts, args.max_batch, precision)
                load_before = load_average()
                before = httpx.get(f"{url}/v1/health").json()
                server_cpu = cpu_seconds(pid)
                done = subprocess.run([*wrk, url], capture_output=True, text=True, check=True)
                server_cpu = cpu_seconds(pid) - server_cpu
                after = httpx.get(f"{url}/v1/health").json()
                second = engine_ceiling(bundle, texts, args.max_batch, precision)
                ceiling = {"items_per_s": round((first["items_per_s"] + second["items_per_s"]) / 2, 1)}
                run = parse_wrk(done.stdout)
                answered = after["items"] - before["items"]
                run.update(
                    repeat=repeat,
                    load_average_before=load_before,
                    load_average_after=load_average(),
                    engine_items_per_s=ceiling["items_per_s"],
                    engine_items_per_s_before_after=[first["items_per_s"], second["items_per_s"]],
                    engine_cpu_ms_per_item=round((first["cpu_ms_per_item"] + second["cpu_ms_per_item"]) / 2, 2),
                    server_cpu_ms_per_request=round(1000 * server_cpu / max(1, answered), 2),
                    ratio=round(run["throughput_rps"] / ceiling["items_per_s"], 3),
                    mean_batch=round(answered / max(1, after["batches"] - before["batches"]), 1),
                )
                print(
                    f"  wrk c=50 {run['throughput_rps']:.1f} req/s, p50 {run['p50_ms']} ms, p99 {run['p99_ms']} ms, "
                    f"errors {run['errors']}, batch {run['mean_batch']}; engine {ceiling['items_per_s']} items/s "
                    f"-> {run['ratio']:.0%}; CPU ms per request: server {run['server_cpu_ms_per_request']}, engine "
                    f"alone {run['engine_cpu_ms_per_item']}; load {load_before}",
                    flush=True,
                )
                runs.append(run)
    return {"model": health["model"], "precision": precision, "serve_args": serve_args, "runs": runs}


def bench_bundle(bundle: Path, modality: str, requests: int, levels: list[int], args: argparse.Namespace) -> dict:
    serve_args = ["--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms)]
    serve_args += shlex.split(args.serve_args)
    sentences = request_texts(args.texts) if modality == "text" else None
    with running_server(bundle, *serve_args, timeout=300) as url:
        port = int(url.rsplit(":", 1)[1])
        pid = server_pid(port)
        health = httpx.get(f"{url}/v1/health").json()
        before = rss_mib(pid) if pid else None
        asyncio.run(load(url, modality, min(200, requests), 10, sentences))  # warm-up, not recorded
        runs = []
        offset = 0
        for repeat in range(args.repeats):
            for concurrency in levels:
                offset += requests
                load_before, server_cpu, client_cpu = load_average(), cpu_seconds(pid), time.process_time()
                counts = httpx.get(f"{url}/v1/health").json()
                result = asyncio.run(load(url, modality, requests, concurrency, sentences, offset))
                seconds = result["seconds"]
                result["repeat"] = repeat
                result["load_average_before"] = load_before
                result["server_cpu"] = round((cpu_seconds(pid) - server_cpu) / seconds, 2)  # cores busy on average
                result["client_cpu"] = round((time.process_time() - client_cpu) / seconds, 2)
                done = httpx.get(f"{url}/v1/health").json()
                result["mean_batch"] = round(
                    (done["items"] - counts["items"]) / max(1, done["batches"] - counts["batches"]), 1
                )
                print(
                    f"  {modality} c={concurrency:<3} {result['throughput_rps']:>7.1f} req/s  "
                    f"p50 {result['p50_ms']} ms  p99 {result['p99_ms']} ms  errors {result['errors']}  "
                    f"batch {result['mean_batch']}  cpu server {result['server_cpu']} "
                    f"client {result['client_cpu']}  load {load_before}",
                    flush=True,
                )
                runs.append(result)
        after_health = httpx.get(f"{url}/v1/health").json()
        after = rss_mib(pid) if pid else None
    return {
        "model": health["model"],
        "modality": modality,
        "serve_args": serve_args,
        "texts": (args.texts if args.texts != "auto" else ("sst2" if SST2.is_file() else "synthetic"))
        if modality == "text"
        else None,
        "server_rss_mib_before": before,
        "server_rss_mib_after": after,
        "batches": after_health["batches"],
        "items": after_health["items"],
        "mean_batch_size": round(after_health["items"] / max(1, after_health["batches"]), 2),
        "load_average_after": load_average(),  # other processes on the same cores skew every figure
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text-backbone", default="minilm-l6")
    parser.add_argument("--image-backbone", default="efficientnet-lite0")
    parser.add_argument("--requests", type=int, default=3000, help="text requests per concurrency level")
    parser.add_argument("--image-requests", type=int, default=600, help="image requests per concurrency level")
    parser.add_argument("--concurrency", default="1,10,50")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--serve-args", default="", help='extra `headstart serve` options, e.g. "--precision int8"')
    parser.add_argument("--texts", choices=["auto", "sst2", "synthetic"], default="auto", help="request texts")
    parser.add_argument("--repeats", type=int, default=1, help="runs of every concurrency level")
    parser.add_argument("--only", choices=["text", "image"], help="bench one bundle only")
    parser.add_argument("--text-bundle", type=Path, help="serve this text bundle instead of training one")
    parser.add_argument("--image-bundle", type=Path, help="serve this image bundle instead of training one")
    parser.add_argument("--wrk", action="store_true", help="issue 20: wrk, 1,000 distinct texts, vs the engine")
    parser.add_argument("--wrk-seconds", type=int, default=20, help="duration of each wrk run (default 20)")
    parser.add_argument(
        "--precisions", default="fp32,int8", help="--wrk: the precisions served in turn (default fp32,int8)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "serve.json")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    import headstart

    settings = {**vars(args), "out": str(args.out)}
    results: dict[str, Any] = {"machine": machine_info(), "command": " ".join(sys.argv), "settings": settings}
    with tempfile.TemporaryDirectory(prefix="headstart-bench-serve-") as tmp:
        root = Path(tmp)
        if args.only in (None, "text"):
            text_bundle = args.text_bundle
            if text_bundle is None:
                text_csv = make_text_csv(root / "texts.csv", repeats=4)
                text_bundle = root / "text"
                headstart.fit(str(text_csv), backbone=args.text_backbone, out=str(text_bundle), progress=False)
            print(f"text bundle ({text_bundle}):", flush=True)
            if args.wrk:
                results["wrk"] = bench_wrk(text_bundle, args)
            else:
                results["text"] = bench_bundle(text_bundle, "text", args.requests, levels, args)
        if args.only in (None, "image") and not args.wrk:
            image_bundle = args.image_bundle
            if image_bundle is None:
                folder = make_image_folder(root / "images", per_class=12)
                image_bundle = root / "image"
                headstart.fit(str(folder), backbone=args.image_backbone, out=str(image_bundle), progress=False)
            print(f"image bundle ({image_bundle}):", flush=True)
            results["image"] = bench_bundle(image_bundle, "image", args.image_requests, levels, args)
    write_json(args.out, results)
    print(f"wrote {args.out}")
    if args.wrk:
        record_serve_distinct(results, args.out)
        if write_readme_serving():
            print("README.md: serving figures rewritten from bench/results/latest/serve-distinct.json")
    else:
        record_serve(results, args.out)


if __name__ == "__main__":
    main()

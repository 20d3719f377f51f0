#!/usr/bin/env python3
"""Helper of scripts/bench (standard library only).

  report.py free-port                      a free TCP port on 127.0.0.1
  report.py procs ROOT_PID PORT            the processes of one `wrangler dev`
  report.py check URL STATUS [options]     one request; fails unless the answer is right
  report.py unknown-key PREFIX [--count N] well-formed keys that were never issued
  report.py record [options]               parse one wrk run, validate it, append a JSON line
  report.py table RESULTS.jsonl            the summary table (medians over rounds)
  report.py startup [--one] < LINES        the start-up figures (fresh starts, vs the no-op)
"""

import argparse
import gzip
import json
import os
import re
import secrets
import signal
import socket
import statistics
import sys
import urllib.error
import urllib.request
import zlib


def die(message):
    print(f"bench: {message}", file=sys.stderr)
    sys.exit(1)


# --------------------------------------------------------------------------------------------
# free-port


def cmd_free_port(_args):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


# --------------------------------------------------------------------------------------------
# procs: which process of a `wrangler dev` tree does what


def read_stat(pid):
    """(ppid, comm) from /proc/PID/stat, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            line = f.read()
    except OSError:
        return None
    comm = line[line.index("(") + 1 : line.rindex(")")]
    fields = line[line.rindex(")") + 2 :].split()
    return int(fields[1]), comm  # fields[0] is the state (field 3), fields[1] the ppid (4)


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def cmd_procs(args):
    """Walks the ppid tree under ROOT_PID. wrangler dev (4.86) runs two workerd processes:
    the proxy that listens on the public port (--socket-addr=entry=127.0.0.1:PORT) and
    forwards to the one that runs the worker (entry on an ephemeral port, with an inspector).
    Prints `worker=PID proxy=PID others=PID,PID…` (others: wrangler's node, esbuild)."""
    children = {}
    comms = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = read_stat(int(name))
        if st:
            children.setdefault(st[0], []).append(int(name))
            comms[int(name)] = st[1]
    tree, todo = [], [args.root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    public = f"--socket-addr=entry=127.0.0.1:{args.port}"
    worker, proxy, others = [], [], []
    for pid in tree:
        if comms.get(pid) == "workerd":
            (proxy if public in cmdline(pid) else worker).append(pid)
        elif pid in comms:
            others.append(pid)
    if len(worker) != 1 or len(proxy) != 1:
        die(
            f"expected one worker and one proxy workerd under pid {args.root}, found "
            f"worker={worker} proxy={proxy} (tree: "
            + ", ".join(f"{p}:{comms.get(p)}" for p in tree)
            + ")"
        )
    print(f"worker={worker[0]} proxy={proxy[0]} others={','.join(map(str, others))}")


# --------------------------------------------------------------------------------------------
# check: one request, its answer must be right


def cmd_check(args):
    req = urllib.request.Request(args.url, method="GET")
    for h in args.header:
        name, _, value = h.partition(":")
        req.add_header(name.strip(), value.strip())
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, headers, body = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        status, headers, body = e.code, e.headers, e.read()
    except OSError as e:
        die(f"{args.name}: GET {args.url}: {e}")
    text = body.decode(errors="replace")
    problems = []
    if status != args.status:
        problems.append(f"status {status}, expected {args.status}")
    if args.body_exact is not None and text != args.body_exact:
        problems.append(f"body is not exactly {args.body_exact!r}")
    if args.json or args.json_contains:
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
            problems.append("body is not JSON")
        for spec, contains in [(s, False) for s in args.json] + [
            (s, True) for s in args.json_contains
        ]:
            key, _, want = spec.partition("=")
            got = doc.get(key) if isinstance(doc, dict) else None
            ok = isinstance(got, str) and (want in got if contains else got == want)
            if not ok:
                how = "contain" if contains else "be"
                problems.append(f"JSON {key!r} is {got!r}, should {how} {want!r}")
    for spec in args.header_is:
        name, _, want = spec.partition("=")
        if headers.get(name) != want:
            problems.append(f"header {name} is {headers.get(name)!r}, expected {want!r}")
    if problems:
        die(f"{args.name}: wrong answer to GET {args.url}: " + "; ".join(problems)
            + f"\n  body: {text[:400]}")


# --------------------------------------------------------------------------------------------
# unknown-key: the documented key format (docs/key-format.md) with a random body

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def cmd_unknown_key(args):
    for _ in range(args.count):
        text = args.prefix + "".join(secrets.choice(BASE62) for _ in range(32))
        value, digits = zlib.crc32(text.encode("ascii")), ""
        for _ in range(6):
            value, d = divmod(value, 62)
            digits = BASE62[d] + digits
        print(text + digits)


# --------------------------------------------------------------------------------------------
# record: one wrk run


UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(text):
    def num(pattern, cast=float, default=None):
        m = re.search(pattern, text, re.MULTILINE)
        return cast(m.group(1)) if m else default

    out = {
        "requests": num(r"^\s*(\d+) requests in ", int),
        "rps": num(r"^Requests/sec:\s*([\d.]+)"),
        "non2xx": num(r"Non-2xx or 3xx responses:\s*(\d+)", int, 0),
        "socket_errors": 0,
    }
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["socket_errors"] = sum(map(int, m.groups()))
        out["socket_errors_text"] = m.group(0)
    for pct in ("50", "99"):
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m)\b", text, re.MULTILINE)
        out[f"p{pct}_ms"] = float(m.group(1)) * UNIT[m.group(2)] if m else None
    if out["requests"] is None or out["rps"] is None:
        die("cannot parse wrk's output:\n" + text)
    return out


def cmd_record(args):
    with open(args.wrk_output) as f:
        wrk = parse_wrk(f.read())
    n = wrk["requests"]
    if n == 0:
        die(f"{args.case}: wrk completed no request")
    if args.expect == "errors" and wrk["non2xx"] != n:
        die(f"{args.case} round {args.round}: {wrk['non2xx']} of {n} answers were non-2xx; "
            "this case must refuse every request")
    if args.expect == "ok" and wrk["non2xx"] != 0:
        die(f"{args.case} round {args.round}: {wrk['non2xx']} of {n} answers were non-2xx; "
            "this case must succeed every time")
    if wrk["socket_errors"]:
        die(f"{args.case} round {args.round}: {wrk['socket_errors_text']}")
    cpu = [int(t) for t in args.cpu_us.split()]
    if len(cpu) != 6:
        die("--cpu-us needs 6 numbers: worker before/after, proxy before/after, others before/after")

    def us_per_req(before, after):
        return (after - before) / n

    row = {
        "case": args.case,
        "round": args.round,
        "seconds": args.seconds,
        **{k: v for k, v in wrk.items() if k != "socket_errors_text"},
        "worker_us": us_per_req(cpu[0], cpu[1]),
        "proxy_us": us_per_req(cpu[2], cpu[3]),
        "node_us": us_per_req(cpu[4], cpu[5]),
        "worker_cpu_s": (cpu[1] - cpu[0]) / 1e6,
    }
    # The whole machine over the run: busy cores, and how many of them were not this
    # wrangler dev (the load generator, the origin, and whatever else the machine was doing).
    b0, t0, b1, t1 = (int(x) for x in args.machine.split())
    if t1 > t0:
        busy = (b1 - b0) / (t1 - t0) * args.cores
        ours = (sum(cpu[1::2]) - sum(cpu[0::2])) / 1e6 / args.seconds
        row["machine_busy_cores"] = busy
        row["other_cores"] = max(0.0, busy - ours)
    with open(args.out, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(
        f"  round {args.round}  {args.case:<14} {n:>7} req  {wrk['rps']:>8.0f} req/s  "
        f"p50 {fmt_ms(wrk['p50_ms'])}  p99 {fmt_ms(wrk['p99_ms'])}  "
        f"workerd {row['worker_us']:6.0f} µs/req  proxy {row['proxy_us']:5.0f}  "
        f"node {row['node_us']:5.0f}  busy {row.get('machine_busy_cores', 0):.1f}/{args.cores} cores, "
        f"{row.get('other_cores', 0):.1f} not wrangler  (non-2xx {wrk['non2xx']})"
    )


def fmt_ms(v):
    return "   n/a" if v is None else (f"{v:5.2f}ms" if v < 10 else f"{v:5.1f}ms")


# --------------------------------------------------------------------------------------------
# table: medians over rounds


def cmd_table(args):
    rows = [json.loads(line) for line in open(args.results) if line.strip()]
    order = []
    for r in rows:
        if r["case"] not in order:
            order.append(r["case"])
    by = {(r["case"], r["round"]): r for r in rows}
    rounds = sorted({r["round"] for r in rows})
    base = args.baseline

    def med(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    def spread(values):
        return f"{min(values):.0f}…{max(values):.0f}" if len(values) > 1 else ""

    header = ["case", "req/s", "p50 ms", "p99 ms", "workerd µs/req", "own µs/req",
              "own min…max", "proxy µs/req", "node µs/req", "req/s vs no-op"]
    table = [header]
    for case in order:
        runs = [by[(case, n)] for n in rounds if (case, n) in by]
        own = [by[(case, n)]["worker_us"] - by[(base, n)]["worker_us"]
               for n in rounds if (case, n) in by and (base, n) in by]
        ratio = [by[(case, n)]["rps"] / by[(base, n)]["rps"]
                 for n in rounds if (case, n) in by and (base, n) in by]
        is_base = case == base
        table.append([
            case,
            f"{med([r['rps'] for r in runs]):.0f}",
            f"{med([r['p50_ms'] for r in runs]):.2f}",
            f"{med([r['p99_ms'] for r in runs]):.1f}",
            f"{med([r['worker_us'] for r in runs]):.0f}",
            "0 (baseline)" if is_base else f"{med(own):.0f}",
            "" if is_base else spread(own),
            f"{med([r['proxy_us'] for r in runs]):.0f}",
            f"{med([r['node_us'] for r in runs]):.0f}",
            "1.00" if is_base else f"{med(ratio):.2f}",
        ])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        cells = [c.ljust(widths[j]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(row)]
        print("  " + "  ".join(cells))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))
    print()
    print(f"  Medians over {len(rounds)} round(s). workerd = the process that runs the worker; "
          "own = its µs/req minus the\n  no-op's in the same round (median, and min…max over "
          "rounds); proxy = the workerd wrangler puts in\n  front of it; node = wrangler's node "
          "processes and esbuild. req/s is bounded by 2 shared cores, not by the worker.")
    if "d_live_origin" in order and "f_js_fetch" in order:
        diff = [by[("d_live_origin", n)]["worker_us"] - by[("f_js_fetch", n)]["worker_us"]
                for n in rounds if ("d_live_origin", n) in by and ("f_js_fetch", n) in by]
        print(f"  d_live_origin − f_js_fetch (workerd): {med(diff):.0f} µs/req "
              f"({spread(diff) or 'one round'}): the live path beyond one plain JS subrequest.")
    if "d_live_origin" in order and "h_js_forward" in order:
        diff = [by[("d_live_origin", n)]["worker_us"] - by[("h_js_forward", n)]["worker_us"]
                for n in rounds if ("d_live_origin", n) in by and ("h_js_forward", n) in by]
        print(f"  d_live_origin − h_js_forward (workerd): {med(diff):.0f} µs/req "
              f"({spread(diff) or 'one round'}): the live path beyond a JS forward with the same headers.")
    if "c_unknown_key" in order and "g_js_kv" in order:
        diff = [by[("c_unknown_key", n)]["worker_us"] - by[("g_js_kv", n)]["worker_us"]
                for n in rounds if ("c_unknown_key", n) in by and ("g_js_kv", n) in by]
        print(f"  c_unknown_key − g_js_kv (workerd): {med(diff):.0f} µs/req "
              f"({spread(diff) or 'one round'}): the unknown-key path beyond one plain JS KV read.")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("| " + " | ".join(header) + " |\n")
            f.write("|" + "|".join("---" for _ in header) + "|\n")
            for row in table[1:]:
                f.write("| " + " | ".join(row) + " |\n")


# --------------------------------------------------------------------------------------------
# startup: fresh starts, keygate against the no-op


# Each contains the one before (scripts/bench, "isolate start-up").
STARTUP_VARIANTS = (
    ("no-op", "bench/noop"),
    ("+ wasm in bundle", "keygate's wasm a module of the no-op's bundle, never instantiated"),
    ("+ instantiated", "the same, instantiated at the first request, nothing called"),
    ("+ bindings", "the same with keygate's KV and Durable Object bindings, empty classes"),
    ("keygate loaded", "keygate's bundle and classes; first answer without the wasm"),
    ("keygate", "the first answer through the wasm: GET /, a 401"),
)


def cmd_startup(args):
    """Reads lines of `cpu_us wall_ms` pairs, one pair per variant (STARTUP_VARIANTS), one line
    per round of starts."""
    starts = [list(map(int, line.split())) for line in sys.stdin if line.strip()]
    n = len(STARTUP_VARIANTS)
    if not starts or any(len(s) != 2 * n for s in starts):
        die(f"startup: each line needs {2 * n} numbers")
    cpu_ms = [[s[2 * v] / 1000 for s in starts] for v in range(n)]
    wall_ms = [[s[2 * v + 1] for s in starts] for v in range(n)]
    if args.one:
        print("workerd CPU through the first answer: " + ", ".join(
            f"{name} {cpu[0]:.1f} ms" for (name, _), cpu in zip(STARTUP_VARIANTS, cpu_ms)))
        return

    def row(values):
        return (f"{statistics.median(values):6.1f} ms"
                + (f" ({min(values):.1f}…{max(values):.1f})" if len(values) > 1 else ""))

    print(f"  {'variant':<17} {'CPU, exec → first answer':<28} {'− the variant above, per start':<30} what")
    for v, (name, what) in enumerate(STARTUP_VARIANTS):
        step = "" if v == 0 else row([b - a for a, b in zip(cpu_ms[v - 1], cpu_ms[v])])
        print(f"  {name:<17} {row(cpu_ms[v]):<28} {step:<30} {what}")
    print(f"  keygate − no-op, per start: {row([k - z for z, k in zip(cpu_ms[0], cpu_ms[-1])])}")
    print("  wall clock, spawn of wrangler dev → first answer: " + ", ".join(
        f"{name} {statistics.median(wall):.0f} ms" for (name, _), wall in zip(STARTUP_VARIANTS, wall_ms))
        + " (mostly wrangler's own start)")


def cmd_gzip_size(args):
    with open(args.file, "rb") as f:
        print(len(gzip.compress(f.read(), compresslevel=9)))


def main():
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: die of it, the bench's trap cleans up
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("free-port").set_defaults(func=cmd_free_port)

    s = sub.add_parser("startup")
    s.add_argument("--one", action="store_true", help="one line: print each variant's CPU")
    s.set_defaults(func=cmd_startup)

    s = sub.add_parser("procs")
    s.add_argument("root", type=int)
    s.add_argument("port", type=int)
    s.set_defaults(func=cmd_procs)

    s = sub.add_parser("check")
    s.add_argument("url")
    s.add_argument("status", type=int)
    s.add_argument("--name", default="check")
    s.add_argument("-H", "--header", action="append", default=[])
    s.add_argument("--body-exact")
    s.add_argument("--json", action="append", default=[], help="KEY=VALUE (top-level string)")
    s.add_argument("--json-contains", action="append", default=[], help="KEY=SUBSTRING")
    s.add_argument("--header-is", action="append", default=[], help="NAME=VALUE")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("unknown-key")
    s.add_argument("prefix")
    s.add_argument("--count", type=int, default=1, help="how many, one per line")
    s.set_defaults(func=cmd_unknown_key)

    s = sub.add_parser("record")
    s.add_argument("--case", required=True)
    s.add_argument("--round", type=int, required=True)
    s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--wrk-output", required=True)
    s.add_argument("--expect", choices=["ok", "errors"], required=True)
    s.add_argument("--cpu-us", required=True)
    s.add_argument("--machine", required=True, help="busy0 total0 busy1 total1 (/proc/stat)")
    s.add_argument("--cores", type=int, required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_record)

    s = sub.add_parser("table")
    s.add_argument("results")
    s.add_argument("--baseline", default="noop")
    s.add_argument("--markdown")
    s.set_defaults(func=cmd_table)

    s = sub.add_parser("gzip-size")
    s.add_argument("file")
    s.set_defaults(func=cmd_gzip_size)

    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Capacity model of a keygate deployment (docs/scaling.md).

Computes, from the parameters below (override any with NAME=value arguments), the load on
each store and Durable Object, where the first bottleneck is, and the monthly bill at
Cloudflare's published prices. Every figure is derived here from the parameters; nothing is
measured. Example: scripts/capacity.py requests_per_second=50000 locations=300
"""
import math
import sys

P = {
    # Traffic.
    "keys": 1_000_000,
    "accounts": 10_000,
    "requests_per_second": 50_000,
    "locations": 300,
    # Isolates serving keygate per location (Cloudflare decides; a busy location runs many).
    "isolates_per_location": 8,
    # Share of keys that make requests in any 10 s (the isolate cache lifetime).
    "active_key_share": 0.05,
    # Locations one key's traffic arrives at (a customer's servers sit in a few regions).
    "locations_per_key": 3,
    # Share of keys with a rate limit (each of their requests is one Durable Object call).
    "limited_key_share": 0.10,
    # Busiest single key, requests per second (one RateLimiter object serialises it).
    "busiest_key_rps": 200,
    # Admin commands per second that change an edge record (disable, roll, ...).
    "admin_writes_per_second": 5,
    # keygate constants (crates/keygate-core/src/revocation.rs, keystore.rs).
    "sync_interval_s": 0.5,
    "isolate_cache_ttl_s": 10,
    # One Durable Object's soft limit, requests per second.
    "do_soft_limit_rps": 1_000,
    # Published prices, USD (Workers Paid, standard usage model; check before relying on them).
    "price_requests_per_million": 0.30,
    "price_cpu_ms_per_million": 0.02,
    "price_kv_reads_per_million": 0.50,
    "price_kv_writes_per_million": 5.00,
    "price_do_requests_per_million": 0.15,
    "cpu_ms_per_request": 0.25,
}


def main(argv):
    p = dict(P)
    for arg in argv:
        name, _, value = arg.partition("=")
        if name not in p:
            sys.exit(f"unknown parameter {name}; known: {', '.join(p)}")
        p[name] = float(value)
    rps = p["requests_per_second"]
    isolates = p["locations"] * p["isolates_per_location"]
    per_isolate_rps = rps / isolates
    month = 30 * 24 * 3600

    # KV: an isolate reads a key again once per cache lifetime while the key is active there.
    active_keys = p["keys"] * p["active_key_share"]
    # Each active key is served by the isolates of the locations its traffic arrives at; each
    # of them reads it from KV once per cache lifetime (or once per request, if rarer).
    key_rps = rps / active_keys
    isolates_per_key = min(isolates, p["locations_per_key"] * p["isolates_per_location"])
    kv_reads = active_keys * min(key_rps, isolates_per_key / p["isolate_cache_ttl_s"])
    kv_writes = p["admin_writes_per_second"] * (1 + p["keys"] / p["accounts"] * 0.1)

    # Revocation log: every serving isolate reads it twice a second.
    log_reads = isolates / p["sync_interval_s"]
    log_shards_needed = math.ceil(log_reads / p["do_soft_limit_rps"])
    # With one mirror object per location, the primary serves the mirrors only.
    mirror_reads = p["locations"] / p["sync_interval_s"]
    per_mirror = p["isolates_per_location"] / p["sync_interval_s"]

    limiter_calls = rps * p["limited_key_share"]
    registry = p["admin_writes_per_second"]

    do_requests = log_reads + limiter_calls + registry
    cost = {
        "requests": rps * month / 1e6 * p["price_requests_per_million"],
        "cpu": rps * month * p["cpu_ms_per_request"] / 1e6 * p["price_cpu_ms_per_million"],
        "kv reads": kv_reads * month / 1e6 * p["price_kv_reads_per_million"],
        "kv writes": kv_writes * month / 1e6 * p["price_kv_writes_per_million"],
        "do requests": do_requests * month / 1e6 * p["price_do_requests_per_million"],
    }
    total = sum(cost.values())
    per_million = total / (rps * month / 1e6)

    rows = [
        ("isolates (locations x per location)", f"{isolates:,.0f}"),
        ("requests/s per isolate", f"{per_isolate_rps:,.1f}"),
        ("KV reads/s (isolate cache misses)", f"{kv_reads:,.0f}"),
        ("KV writes/s (write-through of admin changes)", f"{kv_writes:,.1f}"),
        ("revocation log reads/s, one object", f"{log_reads:,.0f}"),
        ("  objects needed at the soft limit", f"{log_shards_needed}"),
        ("  with one mirror per location: primary reads/s", f"{mirror_reads:,.0f}"),
        ("  with one mirror per location: reads/s per mirror", f"{per_mirror:,.0f}"),
        ("rate limiter calls/s (all keys)", f"{limiter_calls:,.0f}"),
        ("  busiest key's limiter object, req/s", f"{p['busiest_key_rps']:,.0f}"),
        ("Registry commands/s", f"{registry:,.0f}"),
        ("Durable Object requests/s in total", f"{do_requests:,.0f}"),
    ]
    print("| quantity | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print("\n| monthly cost (USD) | value |\n|---|---|")
    for name, value in cost.items():
        print(f"| {name} | {value:,.0f} |")
    print(f"| total | {total:,.0f} |")
    print(f"| per million requests | {per_million:.3f} |")
    print()
    bottlenecks = []
    if log_reads > p["do_soft_limit_rps"]:
        bottlenecks.append(
            f"the revocation log: {log_reads:,.0f} reads/s against ~{p['do_soft_limit_rps']:,.0f} "
            f"for one object"
        )
    if p["busiest_key_rps"] > p["do_soft_limit_rps"]:
        bottlenecks.append("the busiest key's rate limiter object")
    print("first bottleneck:", bottlenecks[0] if bottlenecks else "none at these parameters")


if __name__ == "__main__":
    main(sys.argv[1:])

//! Reports as markdown: one column per run.

use crate::objects::Kind;
use crate::report::Report;

/// A number with thousands separators and `decimals` decimals.
pub fn number(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return "-".into();
    }
    let text = format!("{:.*}", decimals, value.abs());
    let (whole, fraction) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if value < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// A figure with as many decimals as its size calls for.
fn figure(value: f64) -> String {
    let decimals = match value.abs() {
        v if v >= 100.0 => 0,
        v if v >= 1.0 => 1,
        _ => 3,
    };
    number(value, decimals)
}

fn kind_cell(report: &Report, kind: Kind) -> String {
    report
        .loads
        .iter()
        .find(|l| l.kind == kind)
        .map_or("-".into(), |l| {
            let refused = if l.refused_share > 0.0 {
                format!(", {}% refused", number(l.refused_share * 100.0, 0))
            } else {
                String::new()
            };
            let plural = if l.objects == 1 { "object" } else { "objects" };
            format!(
                "{} ({} {plural}{refused})",
                number(l.busiest_rps, 0),
                number(l.objects as f64, 0)
            )
        })
}

type Row = (&'static str, fn(&Report) -> String);

const ROWS: &[Row] = &[
    ("isolates (locations × per location)", |r| {
        format!(
            "{} ({} × {})",
            number(r.isolates as f64, 0),
            r.params.locations,
            r.params.isolates_per_location_scaled()
        )
    }),
    ("edge requests/s", |r| number(r.params.rps(), 0)),
    ("simulated in full: locations (share of requests)", |r| {
        format!(
            "{} ({}%)",
            r.sampled_locations,
            number(r.sampled_share * 100.0, 1)
        )
    }),
    (
        "revocation visible at every isolate, p50 / p99 / max (ms)",
        |r| {
            let v = &r.visibility;
            format!(
                "{} / {} / {}",
                number(v.p50_ms, 0),
                number(v.p99_ms, 0),
                number(v.max_ms, 0)
            )
        },
    ),
    ("  at one isolate, mean (ms)", |r| {
        number(r.visibility.mean_isolate_ms, 0)
    }),
    ("  revocations measured (not everywhere by the end)", |r| {
        format!("{} ({})", r.visibility.changes, r.visibility.not_everywhere)
    }),
    (
        "  granted before the isolate applied it (sampled requests)",
        |r| number(r.exposed_grants as f64, 0),
    ),
    ("  granted after the isolate applied it (must be 0)", |r| {
        number(
            (r.granted_after_apply + r.not_refused_after_apply) as f64,
            0,
        )
    }),
    ("keyed requests refused 503 (log unreachable 10 s)", |r| {
        format!("{}%", number(r.fail_closed_share * 100.0, 2))
    }),
    ("busiest Durable Object, req/s", |r| {
        r.busiest().map_or("-".into(), |l| {
            format!("{} ({})", number(l.busiest_rps, 0), l.busiest)
        })
    }),
    ("  busiest log copy, req/s", |r| kind_cell(r, Kind::Log)),
    ("  busiest log mirror, req/s", |r| {
        kind_cell(r, Kind::Mirror)
    }),
    ("  busiest rate limiter, req/s", |r| {
        kind_cell(r, Kind::Limiter)
    }),
    ("  busiest registry, req/s", |r| {
        kind_cell(r, Kind::Registry)
    }),
    ("  directory, req/s", |r| kind_cell(r, Kind::Directory)),
    ("rate-limited requests refused 429", |r| {
        format!(
            "{}% ({} per {} s per window)",
            number(r.limited_refused_share * 100.0, 1),
            number(r.params.limit_requests as f64, 0),
            r.params.limit_period_s
        )
    }),
    ("isolate cache misses per edge request", |r| {
        number(r.isolate_misses_per_request, 3)
    }),
    (
        "Cache API reads per edge request (trusted hits; refused by the stamp rule)",
        |r| {
            format!(
                "{} ({}%; {}%)",
                number(r.cache_reads_per_request, 3),
                number(r.cache_hit_share * 100.0, 1),
                number(r.cache_untrusted_share * 100.0, 2)
            )
        },
    ),
    ("Cache API writes per edge request", |r| {
        number(r.cache_writes_per_request, 4)
    }),
    ("KV reads per edge request", |r| {
        number(r.kv_reads_per_request, 4)
    }),
    ("KV writes/s", |r| number(r.kv_writes_per_second, 1)),
    ("Durable Object requests per edge request", |r| {
        number(r.do_requests_per_request, 4)
    }),
    ("tier + KV wait per edge request, mean (ms)", |r| {
        number(r.storage_wait_ms, 2)
    }),
    ("cost per million: requests + CPU", |r| {
        number(r.cost.requests + r.cost.cpu, 3)
    }),
    ("cost per million: KV reads", |r| number(r.cost.kv_reads, 3)),
    ("cost per million: KV writes", |r| {
        number(r.cost.kv_writes, 4)
    }),
    ("cost per million: Durable Objects", |r| {
        number(r.cost.durable_objects, 4)
    }),
    ("**cost per million requests (USD)**", |r| {
        format!("**{}**", number(r.cost.total, 3))
    }),
    ("targets met", |r| {
        if r.targets_met() {
            "yes".into()
        } else {
            "no".into()
        }
    }),
];

/// The table of `runs` (label, report), one column each.
pub fn table(runs: &[(String, Report)]) -> String {
    let mut out = String::from("| |");
    for (label, _) in runs {
        out.push_str(&format!(" {label} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(runs.len()));
    out.push('\n');
    for (name, cell) in ROWS {
        out.push_str(&format!("| {name} |"));
        for (_, report) in runs {
            out.push_str(&format!(" {} |", cell(report)));
        }
        out.push('\n');
    }
    out
}

/// For each run: the limits it passed, and the one it is closest to.
pub fn limits(runs: &[(String, Report)]) -> String {
    let mut out = String::new();
    for (label, report) in runs {
        out.push_str(&format!("- **{label}**: "));
        let exceeded = report.exceeded();
        if exceeded.is_empty() {
            out.push_str("every limit met");
        } else {
            let names: Vec<String> = exceeded
                .iter()
                .map(|l| format!("{} {} against {}", l.name, figure(l.value), figure(l.limit)))
                .collect();
            out.push_str(&format!("passed: {}", names.join("; ")));
        }
        if let Some(next) = report.next_limit() {
            out.push_str(&format!(
                ". Next: {} at {}% of {}",
                next.name,
                number(next.ratio() * 100.0, 0),
                figure(next.limit)
            ));
        }
        out.push_str(".\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_rounded() {
        for (value, decimals, text) in [
            (0.0, 0, "0"),
            (999.4, 0, "999"),
            (1_234.5, 1, "1,234.5"),
            (1_000_000.0, 0, "1,000,000"),
            (0.03456, 3, "0.035"),
            (-4_800.0, 0, "-4,800"),
            (-0.0001, 2, "0.00"),
            (f64::INFINITY, 0, "-"),
        ] {
            assert_eq!(number(value, decimals), text, "{value}");
        }
    }
}

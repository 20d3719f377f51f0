//! Prints the simulator's report: `cargo run -p keygate-sim --release -- [name=value ...]`
//! (`scaled.name=value` for the scaled design's runs only; `help` lists the parameters).

use std::process::ExitCode;
use std::time::Instant;

use keygate_sim::{Params, render, run, standard_runs};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "help" || a == "--help") {
        println!("parameters (name=value; before.name=value or scaled.name=value for one design):");
        for ((name, value), (_, doc)) in Params::default().pairs().iter().zip(Params::DOCS) {
            println!("  {name}={value}\n     {}", doc.trim());
        }
        return ExitCode::SUCCESS;
    }
    // `only=N`: the Nth run alone (1 before, 2 scaled, 3 at 5,000 isolates, 4 at 10×, 5 as
    // sketched), for profiling one.
    let only: Option<usize> = args
        .iter()
        .find_map(|a| a.strip_prefix("only="))
        .and_then(|n| n.parse().ok());
    let args: Vec<String> = args
        .into_iter()
        .filter(|a| !a.starts_with("only="))
        .collect();
    let runs = match standard_runs(&args) {
        Ok(runs) => runs,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let mut reports = Vec::new();
    for (n, r) in runs.into_iter().enumerate() {
        if only.is_some_and(|only| only != n + 1) {
            continue;
        }
        let at = Instant::now();
        let report = run(r.params);
        eprintln!("{}: {:.1} s", r.label, at.elapsed().as_secs_f64());
        reports.push((r.label, report));
    }
    print!("{}", method(&reports));
    println!();
    print!("{}", render::table(&reports));
    println!();
    print!("{}", render::limits(&reports));
    eprintln!("all runs: {:.1} s", started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}

/// How the figures were made, from the first scaled run's parameters.
fn method(reports: &[(String, keygate_sim::Report)]) -> String {
    let Some((_, r)) = reports.get(1).or_else(|| reports.first()) else {
        return String::new();
    };
    let p = &r.params;
    format!(
        "Method: {keys} keys in {accounts} accounts, popularity Zipf–Mandelbrot (s = {s:.3}, \
         q = {q:.1}: busiest key {busiest} req/s, {active}% of keys active in any 10 s), each key \
         at {per_key} locations; {admin} admin changes/s ({account}% account-wide). Seed {seed}; \
         {warm} s warm-up, {measure} s measured. Requests are simulated in full (isolate cache, \
         location tier, KV) at the first {sampled} of {locations} locations, {share}% of \
         requests: per-request ratios are measured there. Every isolate's log reads, every mirror, \
         every admin change and every rate-limited request at every location are simulated, so \
         each Durable Object's load is counted on the object. Isolates read the log when it is \
         due (as if a request were always waiting).\n",
        keys = render::number(p.keys as f64, 0),
        accounts = render::number(p.accounts as f64, 0),
        s = r.curve.0,
        q = r.curve.1,
        busiest = render::number(p.busiest_key_rps, 0),
        active = render::number(p.active_key_share * 100.0, 1),
        per_key = p.locations_per_key,
        admin = render::number(p.admin_changes_per_second, 1),
        account = render::number(p.account_change_share * 100.0, 0),
        seed = p.seed,
        warm = render::number(p.warmup(), 0),
        measure = render::number(p.measure_s, 0),
        sampled = r.sampled_locations,
        locations = p.locations,
        share = render::number(r.sampled_share * 100.0, 1),
    )
}

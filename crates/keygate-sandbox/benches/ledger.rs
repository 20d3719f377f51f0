//! What a read costs when the sandbox's clock has moved: the bank ledger is computed from the
//! files, the account's created objects and its clock on every read that needs it. Numbers and
//! machine: the README ("Performance figures").
//!
//! `cargo bench -p keygate-sandbox --bench ledger`

#[cfg(not(target_arch = "wasm32"))]
#[expect(
    clippy::unwrap_used,
    reason = "benchmark setup: a request that fails must stop the run, not be measured"
)]
mod native {
    use criterion::{Criterion, criterion_group};
    use keygate_core::random::{SecureRandom, Unavailable};
    use keygate_sandbox::{AccountState, Hooks, Sandbox, SandboxRequest, SandboxResponse};
    use std::hint::black_box;

    /// The benchmark registers no webhook endpoint, so no secret is ever drawn.
    struct NoSecrets;

    impl SecureRandom for NoSecrets {
        fn fill(&self, _: &mut [u8]) -> Result<(), Unavailable> {
            Err(Unavailable)
        }
    }

    /// 2026-12-07 12:00 UTC.
    const NOW: i64 = 1_796_644_800;

    fn send(
        sandbox: &Sandbox,
        state: &mut AccountState,
        method: &str,
        target: &str,
        body: &str,
        n: &mut u32,
    ) -> SandboxResponse {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let req = SandboxRequest {
            method,
            path,
            query,
            body: body.as_bytes(),
            idempotency_key: None,
            scenario: None,
            readable: keygate_sandbox::Readable::All,
            require_https: true,
        };
        sandbox.handle(
            &req,
            state,
            &mut Hooks::default(),
            NOW,
            &mut |prefix| {
                *n += 1;
                format!("{prefix}bench{n:08}")
            },
            &NoSecrets,
        )
    }

    /// An account with 500 created payment orders, due over the next 90 days, and its clock
    /// moved a year ahead.
    fn busy_account(sandbox: &Sandbox) -> AccountState {
        let mut state = AccountState::default();
        let mut n = 0;
        for i in 0..500 {
            let body = format!(
                r#"{{"debtor_account_id": "ba_xoJ5mZGQHTD4sa", "creditor_name": "Bench GmbH",
                    "creditor_iban": "DE17100700009493621957", "amount": {},
                    "requested_execution_date": "2027-{:02}-{:02}"}}"#,
                100 + i,
                1 + i % 2,
                1 + i % 28
            );
            let r = send(
                sandbox,
                &mut state,
                "POST",
                "/v1/payment_orders",
                &body,
                &mut n,
            );
            assert_eq!(r.status, 201, "{}", r.body);
        }
        let r = send(
            sandbox,
            &mut state,
            "POST",
            "/v1/sandbox/clock",
            r#"{"advance": {"days": 365}}"#,
            &mut n,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        state
    }

    fn bench(c: &mut Criterion) {
        let sandbox = Sandbox::embedded().unwrap();
        let mut state = busy_account(sandbox);
        let mut n = 0;
        c.bench_function("a year ahead, 500 orders: GET one account", |b| {
            b.iter(|| {
                let r = send(
                    sandbox,
                    &mut state,
                    "GET",
                    "/v1/accounts/ba_xoJ5mZGQHTD4sa",
                    "",
                    &mut n,
                );
                black_box(r.status)
            })
        });
        c.bench_function("a year ahead, 500 orders: a page of transactions", |b| {
            b.iter(|| {
                let r = send(
                    sandbox,
                    &mut state,
                    "GET",
                    "/v1/transactions?limit=100",
                    "",
                    &mut n,
                );
                black_box(r.status)
            })
        });
        c.bench_function("a year ahead, 500 orders: a page of events", |b| {
            b.iter(|| {
                let r = send(
                    sandbox,
                    &mut state,
                    "GET",
                    "/v1/events?limit=100",
                    "",
                    &mut n,
                );
                black_box(r.status)
            })
        });
        c.bench_function("a year ahead, 500 orders: advance a day", |b| {
            b.iter(|| {
                let mut moved = state.clone();
                let r = send(
                    sandbox,
                    &mut moved,
                    "POST",
                    "/v1/sandbox/clock",
                    r#"{"advance": {"days": 1}}"#,
                    &mut n,
                );
                black_box(r.status)
            })
        });
        let mut real_time = AccountState::default();
        c.bench_function("real time: GET one account", |b| {
            b.iter(|| {
                let r = send(
                    sandbox,
                    &mut real_time,
                    "GET",
                    "/v1/accounts/ba_xoJ5mZGQHTD4sa",
                    "",
                    &mut n,
                );
                black_box(r.status)
            })
        });
    }

    criterion_group!(benches, bench);

    pub(super) fn main() {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    native::main();
}

// The wasm test build compiles every target; there is nothing to measure there.
#[cfg(target_arch = "wasm32")]
fn main() {}

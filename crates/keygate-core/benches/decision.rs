//! The per-request cost of the edge decision, without I/O: what every API call pays at the
//! edge before the sandbox or the origin sees it. Numbers and machine: `docs/performance.md`.
//!
//! `cargo bench -p keygate-core --bench decision`

#[cfg(not(target_arch = "wasm32"))]
#[expect(
    clippy::unwrap_used,
    reason = "benchmark setup: a fixture that fails to parse or a decision that is not a grant \
              must stop the run, not be measured"
)]
mod native {
    use criterion::{Criterion, criterion_group};
    use keygate_core::admin::KeyTemplate;
    use keygate_core::keys::{IssuedKey, key_from_entropy};
    use keygate_core::policy::{PreparedRecord, RequestFacts, Settings, authenticate, authorize};
    use keygate_core::signing::origin_headers;
    use keygate_core::target::parse_target;
    use keygate_core::{
        Account, AccountStatus, Agreement, EdgeRecord, Environment, GatewayConfig, KeyHash,
        KeyKind, ProductKeyRef, parse_key,
    };
    use std::hint::black_box;

    /// The shipped configuration: three products, thirty routes.
    const CONFIG: &str = include_str!("../../../gateway.json");

    struct Fixture {
        config: GatewayConfig,
        secret: IssuedKey,
        product_key: String,
        record: EdgeRecord,
        record_json: String,
    }

    fn fixture() -> Fixture {
        let secret = IssuedKey::from_entropy(KeyKind::Secret, Environment::Live, &[7; 32]);
        let product_key = key_from_entropy(KeyKind::Product, Environment::Live, &[8; 32]);
        // 20 account CIDRs; the client matches only the last, so every entry is tried.
        let account_ips: Vec<String> = (0..19)
            .map(|i| format!("10.{i}.0.0/16"))
            .chain(["203.0.113.0/24".to_string()])
            .collect();
        let account = Account {
            id: "acct_bench".into(),
            name: "Bench".into(),
            agreement: Agreement::Production,
            status: AccountStatus::Active,
            allowed_ips: account_ips,
            created_at: 0,
            updated_at: 0,
            revision: 1,
            rate_limit: None,
            ip_mode: Default::default(),
            quota: None,
        };
        let key = KeyTemplate {
            environment: Environment::Live,
            name: "bench".into(),
            scopes: vec![
                "owners:read".into(),
                "accounts:read".into(),
                "statements:read".into(),
                "payment_orders:*".into(),
                "transactions:read".into(),
            ],
            allowed_ips: vec!["203.0.113.0/28".into(), "2001:db8::/32".into()],
            products: vec!["payments".into(), "bank_data".into()],
            expires_at: Some(i64::MAX),
            rate_limit: None,
            ip_mode: Default::default(),
            quota: None,
            credits: None,
        }
        .into_key(
            "key_bench".into(),
            "acct_bench",
            secret.start.clone(),
            secret.end.clone(),
            0,
        );
        let product_keys = ["insurance", "payments", "bank_data"]
            .iter()
            .enumerate()
            .flat_map(|(i, product)| {
                let test = key_from_entropy(KeyKind::Product, Environment::Test, &[i as u8; 32]);
                let live = if *product == "bank_data" {
                    product_key.clone()
                } else {
                    key_from_entropy(KeyKind::Product, Environment::Live, &[i as u8; 32])
                };
                [(Environment::Test, test), (Environment::Live, live)].map(|(environment, k)| {
                    ProductKeyRef {
                        product_id: product.to_string(),
                        environment,
                        hash: KeyHash::of(&k),
                    }
                })
            })
            .collect();
        let record = EdgeRecord {
            key,
            account,
            product_keys,
        };
        let record_json = serde_json::to_string(&record).unwrap();
        Fixture {
            config: GatewayConfig::from_json(CONFIG).unwrap(),
            secret,
            product_key,
            record,
            record_json,
        }
    }

    fn bench(c: &mut Criterion) {
        let f = fixture();
        let settings = Settings::default();
        let bearer = format!("Bearer {}", f.secret.text);
        let facts = RequestFacts {
            https: true,
            method: "GET",
            path: "/v1/accounts/acc_123/transactions",
            query: Some("limit=20"),
            authorization: Some(&bearer),
            x_api_key: None,
            x_product_key: Some(&f.product_key),
            client_ip: Some(std::net::IpAddr::from([203, 0, 113, 9])),
        };
        let target = authenticate(&facts, &settings).unwrap().target;
        let prepared = PreparedRecord::new(f.record.clone());
        // The benchmark is only meaningful if the decision is a grant.
        let grant = authorize(&facts, &target, &prepared, &f.config, &settings, 1).unwrap();
        assert_eq!(grant.product.as_deref(), Some("bank_data"));

        c.bench_function("parse_key + sha256", |b| {
            b.iter(|| parse_key(black_box(&f.secret.text)).map(|k| k.hash()))
        });
        c.bench_function("parse_target (canonical path check)", |b| {
            b.iter(|| parse_target(black_box(facts.path), black_box(facts.query)))
        });
        c.bench_function("authenticate (https, credential, format)", |b| {
            b.iter(|| authenticate(black_box(&facts), &settings))
        });
        c.bench_function("decode EdgeRecord JSON", |b| {
            b.iter(|| serde_json::from_str::<EdgeRecord>(black_box(&f.record_json)))
        });
        c.bench_function("authorize (state to scope, 20 CIDRs)", |b| {
            b.iter(|| {
                authorize(
                    black_box(&facts),
                    &target,
                    &prepared,
                    &f.config,
                    &settings,
                    1,
                )
            })
        });
        let mut open = f.record.clone();
        open.account.allowed_ips.clear();
        open.key.allowed_ips.clear();
        let open = PreparedRecord::new(open);
        c.bench_function("authorize (state to scope, no allowlists)", |b| {
            b.iter(|| authorize(black_box(&facts), &target, &open, &f.config, &settings, 1))
        });
        c.bench_function(
            "prepare EdgeRecord (parse its allowlists, once per cached record)",
            |b| b.iter(|| PreparedRecord::new(black_box(&f.record).clone())),
        );
        c.bench_function(
            "full decision (authenticate + decode + prepare + authorize)",
            |b| {
                b.iter(|| {
                    let authenticated = authenticate(black_box(&facts), &settings).unwrap();
                    let record: EdgeRecord =
                        serde_json::from_str(black_box(&f.record_json)).unwrap();
                    let record = PreparedRecord::new(record);
                    black_box(authenticated.credential.hash);
                    authorize(
                        &facts,
                        &authenticated.target,
                        &record,
                        &f.config,
                        &settings,
                        1,
                    )
                })
            },
        );
        c.bench_function("origin_headers (HMAC-SHA256)", |b| {
            b.iter(|| {
                origin_headers(
                    b"signing secret",
                    black_box(&grant),
                    "req_0123456789abcdefghijklmn",
                    1,
                    "GET",
                    facts.path,
                )
            })
        });
        c.bench_function("GatewayConfig::from_json (once per isolate)", |b| {
            b.iter(|| GatewayConfig::from_json(black_box(CONFIG)))
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

//! The edge decision through the public API, docs/edge-pipeline.md, steps `https` to `scope`: each
//! check, and that each earlier check answers before a later one.

// In the browser the tests are #[wasm_bindgen_test] functions, which clippy.toml's
// allow-*-in-tests does not recognise as tests; natively it does.
#![cfg_attr(
    target_arch = "wasm32",
    allow(
        clippy::unwrap_used,
        reason = "integration tests run as #[wasm_bindgen_test] in the browser"
    )
)]

use keygate_core::admin::KeyTemplate;
use keygate_core::forwarding::{forwardable_request_header, relayable_response_header};
use keygate_core::keys::{IssuedKey, key_from_entropy};
use keygate_core::policy::{
    self, Credential, PreparedRecord, RequestFacts, Settings, authenticate, authorize,
    authorize_key_manager,
};
use keygate_core::{
    Account, AccountStatus, Agreement, ApiKey, EdgeRecord, Environment, Error, GatewayConfig,
    Grant, KeyHash, KeyKind, KeyStatus, ProductKeyRef,
};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const NOW: i64 = 1_700_000_000;
const CLIENT: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 5));

const CONFIG: &str = r#"{
  "products": [
    {"id": "bank_data", "name": "Bank data"},
    {"id": "insurance", "name": "Insurance"}
  ],
  "routes": [
    {"method": "GET", "path": "/v1/accounts", "scope": "accounts:read", "product": "bank_data"},
    {"method": "GET", "path": "/v1/accounts/*", "scope": "accounts:read", "product": "bank_data"},
    {"method": "GET", "path": "/v1/accounts/*/transactions", "scope": "transactions:read", "product": "bank_data"},
    {"method": "GET", "path": "/v1/accounts/*/quotes", "scope": "quotes:read", "product": "insurance"},
    {"method": "GET", "path": "/v1/transactions", "scope": "transactions:read", "product": "bank_data"},
    {"method": "GET", "path": "/v1/transactions/*", "scope": "transactions:read", "product": "bank_data"},
    {"method": "GET", "path": "/v1/quotes", "scope": "quotes:read", "product": "insurance"},
    {"method": "GET", "path": "/v1/quotes/*", "scope": "quotes:read", "product": "insurance"},
    {"method": "POST", "path": "/v1/quotes", "scope": "quotes:write", "product": "insurance"},
    {"method": "POST", "path": "/v1/sandbox/reset", "scope": "sandbox:write", "product": null, "environments": ["test"]},
    {"method": "GET", "path": "/v1/status", "scope": "status:read", "product": null}
  ]
}"#;

/// One account with a live and a test secret key, entitled to `bank_data` (both environments)
/// and to `insurance` (live only).
struct World {
    config: GatewayConfig,
    live: IssuedKey,
    test: IssuedKey,
    pk_bank_live: String,
    pk_bank_test: String,
    pk_insurance_live: String,
    /// A well-formed bank_data product key of some other account.
    pk_foreign: String,
    record: EdgeRecord,
}

#[expect(
    clippy::unwrap_used,
    reason = "test helper: an invalid test configuration fails the test"
)]
fn world() -> World {
    let live = IssuedKey::from_entropy(KeyKind::Secret, Environment::Live, &[1; 32]);
    let test = IssuedKey::from_entropy(KeyKind::Secret, Environment::Test, &[2; 32]);
    let pk = |env, seed| key_from_entropy(KeyKind::Product, env, &[seed; 32]);
    let pk_bank_live = pk(Environment::Live, 10);
    let pk_bank_test = pk(Environment::Test, 11);
    let pk_insurance_live = pk(Environment::Live, 12);
    let pk_foreign = pk(Environment::Live, 13);
    let entitlement = |product: &str, env, key: &str| ProductKeyRef {
        product_id: product.into(),
        environment: env,
        hash: KeyHash::of(key),
    };
    let account = Account {
        id: "acct_1".into(),
        name: "Acme".into(),
        agreement: Agreement::Production,
        status: AccountStatus::Active,
        allowed_ips: vec![],
        created_at: 0,
        updated_at: 0,
        revision: 1,
        rate_limit: None,
        ip_mode: Default::default(),
        quota: None,
    };
    let key = api_key(&live, Environment::Live);
    let record = EdgeRecord {
        key,
        account,
        product_keys: vec![
            entitlement("bank_data", Environment::Live, &pk_bank_live),
            entitlement("bank_data", Environment::Test, &pk_bank_test),
            entitlement("insurance", Environment::Live, &pk_insurance_live),
        ],
    };
    World {
        config: GatewayConfig::from_json(CONFIG).unwrap(),
        live,
        test,
        pk_bank_live,
        pk_bank_test,
        pk_insurance_live,
        pk_foreign,
        record,
    }
}

fn api_key(secret: &IssuedKey, environment: Environment) -> ApiKey {
    KeyTemplate {
        environment,
        name: "backend".into(),
        scopes: vec![
            "accounts:read".into(),
            "transactions:*".into(),
            "quotes:read".into(),
        ],
        allowed_ips: vec![],
        products: vec![],
        expires_at: None,
        rate_limit: None,
        ip_mode: Default::default(),
        quota: None,
        credits: None,
    }
    .into_key(
        "key_1".into(),
        "acct_1",
        secret.start.clone(),
        secret.end.clone(),
        0,
    )
}

const STRICT: Settings = Settings {
    require_https: true,
    hide_forbidden: false,
};
const HIDING: Settings = Settings {
    require_https: true,
    hide_forbidden: true,
};

fn facts<'a>(w: &'a World, method: &'a str, path: &'a str) -> RequestFacts<'a> {
    RequestFacts {
        https: true,
        method,
        path,
        query: None,
        authorization: None,
        x_api_key: Some(&w.live.text),
        x_product_key: Some(&w.pk_bank_live),
        client_ip: Some(CLIENT),
    }
}

/// The whole pipeline as the worker runs it, with `record` standing in for the lookup.
fn run(
    w: &World,
    f: &RequestFacts<'_>,
    record: &EdgeRecord,
    settings: &Settings,
) -> Result<Grant, Error> {
    let authenticated = authenticate(f, settings)?;
    let credential = &authenticated.credential;
    assert_eq!(credential.hash, KeyHash::of(&credential.text));
    authorize(
        f,
        &authenticated.target,
        &prepared(record),
        &w.config,
        settings,
        NOW,
    )
}

/// The record as the worker caches it: allowlists parsed once.
fn prepared(record: &EdgeRecord) -> PreparedRecord {
    PreparedRecord::new(record.clone())
}

fn status(r: Result<Grant, Error>) -> u16 {
    r.map(|_| 200).unwrap_or_else(|e| e.status)
}

// ---- the happy paths ----

#[test]
fn a_valid_request_is_granted() {
    let w = world();
    let grant = run(
        &w,
        &facts(&w, "GET", "/v1/accounts/acc_9/transactions"),
        &w.record,
        &STRICT,
    )
    .unwrap();
    assert_eq!(
        grant,
        Grant {
            account_id: "acct_1".into(),
            key_id: "key_1".into(),
            environment: Environment::Live,
            product: Some("bank_data".into()),
            scope: "transactions:read".into(),
            key_rate_limit: None,
            account_rate_limit: None,
            ip_would_deny: None,
            account_quota: None,
            key_quota: None,
            credits: None,
            costed_route: None,
            cost: 1,
        }
    );
}

#[test]
fn a_route_outside_every_product_needs_no_product_key() {
    let w = world();
    let mut record = w.record.clone();
    record.key.scopes = vec!["*".into()];
    let mut f = facts(&w, "GET", "/v1/status");
    f.x_product_key = None;
    let grant = run(&w, &f, &record, &STRICT).unwrap();
    assert_eq!(grant.product, None);
    assert_eq!(grant.scope, "status:read");
}

#[test]
fn every_credential_form_is_accepted() {
    use base64::Engine;
    let w = world();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:", w.live.text))
    );
    let bearer = format!("Bearer {}", w.live.text);
    for (authorization, x_api_key) in [
        (Some(basic.as_str()), None),
        (Some(bearer.as_str()), None),
        (None, Some(w.live.text.as_str())),
    ] {
        let f = RequestFacts {
            authorization,
            x_api_key,
            ..facts(&w, "GET", "/v1/accounts")
        };
        let credential: Credential = authenticate(&f, &STRICT).unwrap().credential;
        assert_eq!(credential.environment, Environment::Live);
        assert_eq!(credential.hash, w.live.hash);
        assert!(!format!("{credential:?}").contains(&w.live.text[8..]));
    }
}

// ---- step `https`: HTTPS ----

#[test]
fn plain_http_is_403_unless_disabled() {
    let w = world();
    let f = RequestFacts {
        https: false,
        ..facts(&w, "GET", "/v1/accounts")
    };
    let e = authenticate(&f, &STRICT).unwrap_err();
    assert_eq!(e.status, 403);
    assert!(e.message.contains("HTTPS is required"));
    let dev = Settings {
        require_https: false,
        hide_forbidden: false,
    };
    assert!(run(&w, &f, &w.record, &dev).is_ok());
}

#[test]
fn https_is_checked_before_the_credential() {
    let w = world();
    let f = RequestFacts {
        https: false,
        x_api_key: None,
        ..facts(&w, "GET", "/v1/accounts")
    };
    assert_eq!(authenticate(&f, &STRICT).unwrap_err().status, 403);
}

// ---- step `credential`: credential ----

#[test]
fn no_credential_is_401_with_challenge() {
    let w = world();
    let f = RequestFacts {
        x_api_key: None,
        ..facts(&w, "GET", "/v1/accounts")
    };
    let e = authenticate(&f, &STRICT).unwrap_err();
    assert_eq!(e.status, 401);
    assert!(e.challenge);
    assert!(
        e.headers()
            .contains(&("WWW-Authenticate", "Basic realm=\"keygate\"".into()))
    );
}

#[test]
fn an_unknown_scheme_is_reported_rather_than_a_missing_key() {
    let w = world();
    let f = RequestFacts {
        x_api_key: None,
        authorization: Some("Digest abc"),
        ..facts(&w, "GET", "/v1/accounts")
    };
    let e = authenticate(&f, &STRICT).unwrap_err();
    assert_eq!(e.status, 401);
    assert!(e.message.contains("Unsupported"));
}

#[test]
fn two_different_keys_are_400_even_if_one_is_valid() {
    let w = world();
    let bearer = format!("Bearer {}", w.test.text);
    let f = RequestFacts {
        authorization: Some(&bearer),
        ..facts(&w, "GET", "/v1/accounts")
    };
    assert_eq!(authenticate(&f, &STRICT).unwrap_err().status, 400);
}

#[test]
fn a_malformed_header_is_400_before_the_key_format_is_judged() {
    let w = world();
    let f = RequestFacts {
        x_api_key: Some("not a key"),
        ..facts(&w, "GET", "/v1/accounts")
    };
    let e = authenticate(&f, &STRICT).unwrap_err();
    assert_eq!(e.status, 400);
    assert_eq!(e.errors[0].field, "X-API-Key");
}

// ---- step `format`: format, offline ----

#[test]
fn malformed_keys_are_401_without_a_lookup() {
    let w = world();
    let mut typo = w.live.text.clone().into_bytes();
    typo[20] = if typo[20] == b'x' { b'y' } else { b'x' };
    let typo = String::from_utf8(typo).unwrap();
    let short = &w.live.text[..45];
    let bad_char = format!("{}!{}", &w.live.text[..20], &w.live.text[21..]);
    for key in [
        typo.as_str(),
        short,
        bad_char.as_str(),
        "rk_live_abc",
        "sk_prod_0123456789012345678901234567890123456789",
    ] {
        let f = RequestFacts {
            x_api_key: Some(key),
            ..facts(&w, "GET", "/v1/accounts")
        };
        // `authenticate` failing is what guarantees the worker never reads storage for it.
        let e = authenticate(&f, &STRICT).unwrap_err();
        assert_eq!(e.status, 401, "{key}");
        assert!(!e.to_json().contains(key));
    }
}

#[test]
fn a_product_key_cannot_authenticate() {
    let w = world();
    let f = RequestFacts {
        x_api_key: Some(&w.pk_bank_live),
        ..facts(&w, "GET", "/v1/accounts")
    };
    let e = authenticate(&f, &STRICT).unwrap_err();
    assert_eq!(e.status, 401);
    assert!(
        e.message
            .contains("Product keys identify a product; authenticate with")
    );
}

// ---- step `lookup`: lookup (the worker's), with the errors defined here ----

#[test]
fn lookup_outcomes() {
    let e = policy::unknown_key();
    assert_eq!(e.status, 401);
    assert!(e.challenge);
    let e = policy::store_unavailable();
    assert_eq!(e.status, 503);
    assert!(e.retry_after.is_some());
}

// ---- step `state`: state ----

#[test]
fn key_state_comes_before_ip_route_product_and_scope() {
    let w = world();
    let mut record = w.record.clone();
    record.key.status = KeyStatus::Disabled;
    record.key.allowed_ips = vec!["10.0.0.0/8".into()];
    record.key.scopes = vec![];
    let mut f = facts(&w, "DELETE", "/v1/nowhere");
    f.x_product_key = None;
    let e = run(&w, &f, &record, &STRICT).unwrap_err();
    assert_eq!(e.status, 401);
    assert!(e.message.contains("disabled"));
}

#[test]
fn suspended_expired_and_revoked_are_401() {
    let w = world();
    let f = facts(&w, "GET", "/v1/accounts");
    let mut r = w.record.clone();
    r.account.status = AccountStatus::Suspended;
    assert_eq!(status(run(&w, &f, &r, &STRICT)), 401);
    let mut r = w.record.clone();
    r.key.expires_at = Some(NOW);
    assert_eq!(status(run(&w, &f, &r, &STRICT)), 401);
    let mut r = w.record.clone();
    r.key.revoke_at = Some(NOW - 1);
    assert_eq!(status(run(&w, &f, &r, &STRICT)), 401);
    r.key.revoke_at = Some(NOW + 1);
    assert_eq!(
        status(run(&w, &f, &r, &STRICT)),
        200,
        "still in its grace period"
    );
}

// ---- step `ip-allowlist`: IP allowlists ----

#[test]
fn both_allowlists_must_pass() {
    let w = world();
    let f = facts(&w, "GET", "/v1/accounts");
    let mut r = w.record.clone();
    r.account.allowed_ips = vec!["203.0.113.0/24".into()];
    r.key.allowed_ips = vec!["203.0.113.5/32".into()];
    assert_eq!(status(run(&w, &f, &r, &STRICT)), 200);

    r.key.allowed_ips = vec!["203.0.113.6/32".into()];
    let e = run(&w, &f, &r, &STRICT).unwrap_err();
    assert_eq!(e.status, 403);
    assert!(e.message.contains("key"));

    r.key.allowed_ips = vec![];
    r.account.allowed_ips = vec!["198.51.100.0/24".into()];
    let e = run(&w, &f, &r, &STRICT).unwrap_err();
    assert_eq!(e.status, 403);
    assert!(e.message.contains("account"));
}

#[test]
fn a_missing_client_address_is_denied_when_a_list_is_set_and_junk_never_becomes_one() {
    let w = world();
    let mut r = w.record.clone();
    r.key.allowed_ips = vec!["0.0.0.0/0".into(), "::/0".into()];
    let f = RequestFacts {
        client_ip: None,
        ..facts(&w, "GET", "/v1/accounts")
    };
    assert_eq!(status(run(&w, &f, &r, &STRICT)), 403);
    // A header that is not one address never becomes facts: it is refused before any decision.
    for junk in ["", "unknown", "203.0.113.5, 10.0.0.1"] {
        let e = keygate_core::ip::client_address(Some(junk)).unwrap_err();
        assert_eq!(e.status, 400, "{junk:?}");
    }
    let f = RequestFacts {
        client_ip: None,
        ..facts(&w, "GET", "/v1/accounts")
    };
    assert_eq!(
        status(run(&w, &f, &w.record, &STRICT)),
        200,
        "no list, no restriction"
    );
}

#[test]
fn ipv4_mapped_client_addresses_match_ipv4_rules() {
    let w = world();
    let mut r = w.record.clone();
    r.account.allowed_ips = vec!["203.0.113.0/24".into()];
    let f = RequestFacts {
        client_ip: keygate_core::ip::client_address(Some("::ffff:203.0.113.5")).unwrap(),
        ..facts(&w, "GET", "/v1/accounts")
    };
    assert_eq!(status(run(&w, &f, &r, &STRICT)), 200);
}

#[test]
fn ip_denial_comes_before_route_product_and_scope() {
    let w = world();
    let mut r = w.record.clone();
    r.key.allowed_ips = vec!["10.0.0.0/8".into()];
    r.key.scopes = vec![];
    for (method, path, pk) in [
        ("GET", "/v1/nowhere", None),
        ("DELETE", "/v1/accounts", None),
        ("GET", "/v1/accounts", None),
        ("GET", "/v1/accounts", Some("pk_live_garbage")),
    ] {
        let f = RequestFacts {
            x_product_key: pk,
            ..facts(&w, method, path)
        };
        assert_eq!(status(run(&w, &f, &r, &STRICT)), 403, "{method} {path}");
    }
}

#[test]
fn a_corrupt_stored_allowlist_fails_closed() {
    let w = world();
    let mut r = w.record.clone();
    r.account.allowed_ips = vec!["not an ip".into()];
    assert_eq!(
        status(run(&w, &facts(&w, "GET", "/v1/accounts"), &r, &STRICT)),
        500
    );
    // Not even behind an entry that admits everyone, in either list, nor in report mode: a
    // corrupt list is never half-read.
    for corrupt in [
        vec!["0.0.0.0/0".to_string(), "garbage".to_string()],
        vec!["garbage".to_string(), "0.0.0.0/0".to_string()],
    ] {
        let mut r = w.record.clone();
        r.key.allowed_ips = corrupt.clone();
        assert_eq!(
            status(run(&w, &facts(&w, "GET", "/v1/accounts"), &r, &STRICT)),
            500
        );
        r.key.ip_mode = keygate_core::model::IpMode::Report;
        assert_eq!(
            status(run(&w, &facts(&w, "GET", "/v1/accounts"), &r, &STRICT)),
            500
        );
    }
}

#[test]
fn a_prepared_record_is_prepared_from_its_record_alone() {
    let w = world();
    let mut r = w.record.clone();
    r.key.allowed_ips = vec!["10.0.0.0/8".into()];
    let refused = prepared(&r);
    // Changing the record means preparing it again; what was prepared keeps the old lists.
    let mut changed = EdgeRecord::clone(&refused);
    changed.key.allowed_ips = vec![format!("{CLIENT}/32")];
    let f = facts(&w, "GET", "/v1/accounts");
    let target = authenticate(&f, &STRICT).unwrap().target;
    let decide =
        |record: &PreparedRecord| status(authorize(&f, &target, record, &w.config, &STRICT, NOW));
    assert_eq!(decide(&refused), 403);
    assert_eq!(decide(&PreparedRecord::new(changed)), 200);
    assert_eq!(decide(&refused), 403);
}

// ---- steps `credential` and `format`: the canonical target ----

#[test]
fn a_non_canonical_path_is_400_before_any_lookup() {
    let w = world();
    let mut f = facts(&w, "GET", "");
    for path in [
        "/v1/accounts/../quotes",
        "/v1//accounts",
        "/v1/accounts/",
        "/v1/accounts%2f..",
        "/v1/%61ccounts",
        "/v1/accounts;x=1",
        "/v1\\accounts",
    ] {
        f.path = path;
        // `authenticate` failing is what guarantees the worker never reads storage for it.
        let e = authenticate(&f, &STRICT).unwrap_err();
        assert_eq!(e.status, 400, "{path}");
        assert_eq!(e.errors[0].field, "path", "{path}");
    }
}

#[test]
fn the_credential_is_judged_before_the_path() {
    let w = world();
    let f = RequestFacts {
        x_api_key: None,
        ..facts(&w, "GET", "/v1//accounts")
    };
    assert_eq!(authenticate(&f, &STRICT).unwrap_err().status, 401);
}

#[test]
fn the_authorised_target_is_the_request_as_sent() {
    let w = world();
    let f = RequestFacts {
        query: Some("x=%2F&y=a+b"),
        ..facts(&w, "GET", "/v1/accounts/a:b@c!$&'()*+,=")
    };
    let target = authenticate(&f, &STRICT).unwrap().target;
    assert_eq!(
        target.path_and_query(),
        "/v1/accounts/a:b@c!$&'()*+,=?x=%2F&y=a+b"
    );
    assert!(authorize(&f, &target, &prepared(&w.record), &w.config, &STRICT, NOW).is_ok());
}

// ---- step `product-key`: route, product key ----

#[test]
fn a_deeper_path_never_borrows_a_broader_route() {
    let w = world();
    let mut r = w.record.clone();
    r.key.scopes = vec!["*".into()];
    for path in [
        "/v1/accounts/a/transactions/tx_1",
        "/v1/accounts/a/other",
        "/v1/transactions/a/b",
        "/v1/accounts/a/Transactions",
        "/v1/Accounts",
    ] {
        let e = run(&w, &facts(&w, "GET", path), &r, &STRICT).unwrap_err();
        assert_eq!(e, policy::route_not_found(), "{path}");
    }
}

#[test]
fn a_nested_list_needs_the_product_of_what_it_lists() {
    let w = world();
    let mut r = w.record.clone();
    r.key.scopes = vec!["*".into()];
    // `/v1/accounts/*/quotes` lists insurance quotes under a bank account.
    let f = facts(&w, "GET", "/v1/accounts/a/quotes");
    assert_eq!(
        run(&w, &f, &r, &STRICT).unwrap_err(),
        policy::product_key_not_found()
    );
    let f = RequestFacts {
        x_product_key: Some(&w.pk_insurance_live),
        ..f
    };
    assert_eq!(
        run(&w, &f, &r, &STRICT).unwrap().product.as_deref(),
        Some("insurance")
    );
}

#[test]
fn unknown_routes_are_404_and_wrong_methods_405_before_product_keys() {
    let w = world();
    let f = RequestFacts {
        x_product_key: None,
        ..facts(&w, "GET", "/v1/accountsX")
    };
    let e = run(&w, &f, &w.record, &STRICT).unwrap_err();
    assert_eq!(e, policy::route_not_found());
    let f = RequestFacts {
        x_product_key: None,
        ..facts(&w, "DELETE", "/v1/quotes")
    };
    let e = run(&w, &f, &w.record, &STRICT).unwrap_err();
    assert_eq!(e.status, 405);
    assert_eq!(e.allow.as_deref(), Some("GET, HEAD, POST"));
}

#[test]
fn a_route_of_the_other_environment_is_an_ordinary_404() {
    let w = world();
    let mut r = w.record.clone();
    r.key.scopes = vec!["*".into()];
    let f = facts(&w, "POST", "/v1/sandbox/reset");
    assert_eq!(
        run(&w, &f, &r, &STRICT).unwrap_err(),
        policy::route_not_found()
    );

    r.key = api_key(&w.test, Environment::Test);
    r.key.scopes = vec!["*".into()];
    let f = RequestFacts {
        x_api_key: Some(&w.test.text),
        ..facts(&w, "POST", "/v1/sandbox/reset")
    };
    assert_eq!(
        run(&w, &f, &r, &STRICT).unwrap().environment,
        Environment::Test
    );
}

#[test]
fn a_missing_product_key_is_400_naming_the_header() {
    let w = world();
    for pk in [None, Some(""), Some("   ")] {
        let f = RequestFacts {
            x_product_key: pk,
            ..facts(&w, "GET", "/v1/accounts")
        };
        let e = run(&w, &f, &w.record, &STRICT).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.errors[0].field, "X-Product-Key");
    }
}

#[test]
fn every_product_key_failure_is_the_same_404() {
    let w = world();
    let mut typo = w.pk_bank_live.clone().into_bytes();
    typo[30] = if typo[30] == b'Q' { b'R' } else { b'Q' };
    let typo = String::from_utf8(typo).unwrap();
    let mut restricted = w.record.clone();
    restricted.key.products = vec!["insurance".into()];
    let mut unentitled = w.record.clone();
    unentitled
        .product_keys
        .retain(|p| p.product_id != "bank_data");
    let mut mislabelled = w.record.clone();
    // A stored reference with the right hash but recorded for the other environment.
    mislabelled.product_keys = vec![ProductKeyRef {
        product_id: "bank_data".into(),
        environment: Environment::Test,
        hash: KeyHash::of(&w.pk_bank_live),
    }];

    let cases: Vec<(&str, &str, &EdgeRecord)> = vec![
        ("malformed", "pk_live_nope", &w.record),
        ("checksum", &typo, &w.record),
        ("a secret key", &w.live.text, &w.record),
        ("another account's", &w.pk_foreign, &w.record),
        ("the other environment's", &w.pk_bank_test, &w.record),
        ("another product's", &w.pk_insurance_live, &w.record),
        (
            "a product this key may not use",
            &w.pk_bank_live,
            &restricted,
        ),
        (
            "a product the account is not entitled to",
            &w.pk_bank_live,
            &unentitled,
        ),
        (
            "a reference of the wrong environment",
            &w.pk_bank_live,
            &mislabelled,
        ),
    ];
    for (what, pk, record) in cases {
        let f = RequestFacts {
            x_product_key: Some(pk),
            ..facts(&w, "GET", "/v1/accounts")
        };
        let e = run(&w, &f, record, &STRICT).unwrap_err();
        assert_eq!(e, policy::product_key_not_found(), "{what}");
    }
    // And the right key for the right product passes, including with a products list.
    let mut allowed = w.record.clone();
    allowed.key.products = vec!["bank_data".into()];
    assert_eq!(
        status(run(
            &w,
            &facts(&w, "GET", "/v1/accounts"),
            &allowed,
            &STRICT
        )),
        200
    );
    let f = RequestFacts {
        x_product_key: Some(&w.pk_insurance_live),
        ..facts(&w, "GET", "/v1/quotes")
    };
    assert_eq!(
        run(&w, &f, &w.record, &STRICT).unwrap().product.as_deref(),
        Some("insurance")
    );
}

#[test]
fn product_key_errors_come_before_scope_errors() {
    let w = world();
    let mut r = w.record.clone();
    r.key.scopes = vec!["quotes:read".into()];
    let f = RequestFacts {
        x_product_key: None,
        ..facts(&w, "GET", "/v1/accounts")
    };
    assert_eq!(status(run(&w, &f, &r, &STRICT)), 400);
    let f = RequestFacts {
        x_product_key: Some(&w.pk_foreign),
        ..facts(&w, "GET", "/v1/accounts")
    };
    assert_eq!(status(run(&w, &f, &r, &STRICT)), 404);
}

// ---- step `scope`: scope ----

#[test]
fn a_missing_scope_is_403_naming_it() {
    let w = world();
    let f = RequestFacts {
        x_product_key: Some(&w.pk_insurance_live),
        ..facts(&w, "POST", "/v1/quotes")
    };
    let e = run(&w, &f, &w.record, &STRICT).unwrap_err();
    assert_eq!(e.status, 403);
    assert!(e.message.contains("`quotes:write`"));
}

/// With `HIDE_FORBIDDEN`, every request the key may not make answers exactly like an unknown
/// route, whatever method, product key or path shape it uses; a path the key can use with
/// another method still answers 405, naming only the methods the key may use.
#[test]
fn a_hidden_403_is_indistinguishable_from_an_unknown_route() {
    let w = world();
    let mut r = w.record.clone();
    r.key.scopes = vec!["accounts:read".into(), "quotes:read".into()];
    let unknown = run(&w, &facts(&w, "GET", "/v1/nothing/here"), &r, &HIDING).unwrap_err();
    assert_eq!(unknown, policy::route_not_found());
    let foreign = "pk_live_garbage";
    for (method, path, pk) in [
        ("POST", "/v1/quotes", Some(w.pk_insurance_live.as_str())),
        ("POST", "/v1/quotes", None),
        ("POST", "/v1/quotes", Some(foreign)),
        ("POST", "/v1/quotes", Some(w.pk_bank_live.as_str())),
        ("GET", "/v1/transactions", None),
        ("GET", "/v1/transactions", Some(foreign)),
        (
            "GET",
            "/v1/accounts/a/transactions",
            Some(w.pk_bank_live.as_str()),
        ),
        ("GET", "/v1/accounts/a/transactions", None),
        ("DELETE", "/v1/transactions", None),
        ("PUT", "/v1/transactions/t", Some(foreign)),
        ("POST", "/v1/sandbox/reset", None),
    ] {
        let f = RequestFacts {
            x_product_key: pk,
            ..facts(&w, method, path)
        };
        let hidden = run(&w, &f, &r, &HIDING).unwrap_err();
        assert_eq!(
            hidden.to_json(),
            unknown.to_json(),
            "{method} {path} {pk:?}"
        );
        assert_eq!(
            hidden.headers(),
            unknown.headers(),
            "{method} {path} {pk:?}"
        );
        assert_eq!(hidden.status, 404);
    }
    // `/v1/quotes` has GET (usable) and POST (not): only GET is admitted to.
    let e = run(&w, &facts(&w, "DELETE", "/v1/quotes"), &r, &HIDING).unwrap_err();
    assert_eq!(e.status, 405);
    assert_eq!(e.allow.as_deref(), Some("GET, HEAD"));
    // Without hiding the same request names every method of the path.
    let e = run(&w, &facts(&w, "DELETE", "/v1/quotes"), &r, &STRICT).unwrap_err();
    assert_eq!(e.allow.as_deref(), Some("GET, HEAD, POST"));
}

#[test]
fn a_405_never_names_a_route_of_the_other_environment() {
    let w = world();
    let mut r = w.record.clone();
    r.key.scopes = vec!["*".into()];
    // `/v1/sandbox/reset` exists for test keys only: to a live key it is no route at all.
    let e = run(&w, &facts(&w, "GET", "/v1/sandbox/reset"), &r, &STRICT).unwrap_err();
    assert_eq!(e, policy::route_not_found());
}

#[test]
fn wildcard_scopes_grant() {
    let w = world();
    let f = RequestFacts {
        x_product_key: Some(&w.pk_insurance_live),
        ..facts(&w, "POST", "/v1/quotes")
    };
    for scopes in [
        vec!["*"],
        vec!["quotes:*"],
        vec!["*:write"],
        vec!["accounts:read", "quotes:write"],
    ] {
        let mut r = w.record.clone();
        r.key.scopes = scopes.iter().map(|s| s.to_string()).collect();
        assert_eq!(status(run(&w, &f, &r, &STRICT)), 200, "{scopes:?}");
    }
}

// ---- beyond the pipeline ----

#[test]
fn a_record_whose_key_and_account_disagree_fails_closed() {
    let w = world();
    let mut r = w.record.clone();
    r.account.id = "acct_other".into();
    assert_eq!(
        status(run(&w, &facts(&w, "GET", "/v1/accounts"), &r, &STRICT)),
        500
    );
}

#[test]
fn key_managers() {
    let w = world();
    let f = facts(&w, "GET", "/admin/v1/accounts/acct_1/keys");
    let mut r = w.record.clone();
    assert_eq!(
        authorize_key_manager(&f, &prepared(&r), &STRICT, NOW)
            .unwrap_err()
            .status,
        403
    );
    r.key.scopes.push("keys:manage".into());
    assert_eq!(
        authorize_key_manager(&f, &prepared(&r), &STRICT, NOW).unwrap(),
        "acct_1"
    );
    r.key.allowed_ips = vec!["10.0.0.0/8".into()];
    assert_eq!(
        authorize_key_manager(&f, &prepared(&r), &STRICT, NOW)
            .unwrap_err()
            .status,
        403
    );
    r.key.status = KeyStatus::Disabled;
    assert_eq!(
        authorize_key_manager(&f, &prepared(&r), &STRICT, NOW)
            .unwrap_err()
            .status,
        401
    );
    let plain = RequestFacts { https: false, ..f };
    assert_eq!(
        authorize_key_manager(&plain, &prepared(&r), &STRICT, NOW)
            .unwrap_err()
            .status,
        403
    );
}

#[test]
fn settings_from_variables_fail_safe() {
    assert_eq!(Settings::from_vars(None, None), Settings::default());
    assert!(Settings::default().require_https);
    assert!(!Settings::from_vars(Some("false"), None).require_https);
    for not_false in ["False", "0", "no", "", "true", " false", "false\n"] {
        assert!(
            Settings::from_vars(Some(not_false), None).require_https,
            "{not_false}"
        );
    }
    assert!(Settings::from_vars(None, Some("true")).hide_forbidden);
    assert!(!Settings::from_vars(None, Some("yes")).hide_forbidden);
}

#[test]
fn credentials_and_identity_headers_are_not_forwarded() {
    for name in [
        "Authorization",
        "x-api-key",
        "X-Product-Key",
        "X-Keygate-Account",
        "x-keygate-signature",
        "X-Request-Id",
        "Connection",
        "Keep-Alive",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
        "Content-Length",
        "Proxy-Authorization",
        "CF-Connecting-IP",
        "cf-ray",
        "X-Forwarded-For",
        "X-Forwarded-Proto",
        "X-Real-IP",
        "Forwarded",
    ] {
        assert!(!forwardable_request_header(name, ""), "{name}");
    }
    for name in [
        "Accept",
        "Content-Type",
        "Idempotency-Key",
        "User-Agent",
        "X-Custom",
    ] {
        assert!(forwardable_request_header(name, ""), "{name}");
    }
    assert!(!forwardable_request_header(
        "X-Custom",
        "keep-alive, x-custom"
    ));
    assert!(!forwardable_request_header(
        "x-custom",
        "Keep-Alive,X-Custom"
    ));
    assert!(!forwardable_request_header("X-Foo", " close , X-Foo,,"));
    assert!(forwardable_request_header("X-Bar", " close , X-Foo,,"));
}

#[test]
fn origin_answers_lose_hop_by_hop_headers_only() {
    for name in [
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Connection",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Content-Length",
        "X-Request-Id",
    ] {
        assert!(!relayable_response_header(name, ""), "{name}");
    }
    for name in [
        "Content-Type",
        "Set-Cookie",
        "Cache-Control",
        "Location",
        "X-Custom",
    ] {
        assert!(relayable_response_header(name, ""), "{name}");
    }
    assert!(!relayable_response_header("X-Hop", " close , X-Hop,,"));
    assert!(relayable_response_header("X-Other", " close , X-Hop,,"));
}

#[test]
fn a_secret_key_in_the_url_is_refused_even_with_a_header_credential() {
    let w = world();
    let key = w.live.text.as_str();
    let encoded = key.replace('_', "%5F");
    let in_query = [
        format!("api_key={key}"),
        format!("note=see+{key}+here"),
        format!("x={encoded}"),
        format!("{key}=1"),
    ];
    for query in &in_query {
        let f = RequestFacts {
            query: Some(query),
            ..facts(&w, "GET", "/v1/accounts")
        };
        let e = policy::authenticate(&f, &STRICT).unwrap_err();
        assert_eq!(e.status, 400, "{query}");
        assert_eq!(e.errors[0].field, "url");
        assert!(
            !e.to_json().contains(key),
            "the error must not repeat the key"
        );
    }
    let path = format!("/v1/accounts/{key}");
    let f = facts(&w, "GET", &path);
    assert_eq!(policy::authenticate(&f, &STRICT).unwrap_err().status, 400);

    // Look-alikes that are not keys (wrong checksum, too short), and product keys, pass.
    let mut tampered = key.to_string();
    tampered.pop();
    tampered.push(if key.ends_with('A') { 'B' } else { 'A' });
    for query in [
        format!("q={tampered}"),
        "q=sk_live_short".to_string(),
        format!("pk={}", w.pk_bank_live),
    ] {
        let f = RequestFacts {
            query: Some(&query),
            ..facts(&w, "GET", "/v1/accounts")
        };
        assert!(policy::authenticate(&f, &STRICT).is_ok(), "{query}");
    }
}

#[test]
fn an_allowlist_in_report_mode_lets_an_outside_address_through_and_says_so() {
    use keygate_core::model::IpMode;
    let w = world();
    let mut r = w.record.clone();
    r.key.allowed_ips = vec!["10.0.0.0/8".into()];
    let f = facts(&w, "GET", "/v1/accounts");
    assert_eq!(status(run(&w, &f, &r, &STRICT)), 403);
    r.key.ip_mode = IpMode::Report;
    let grant = run(&w, &f, &r, &STRICT).unwrap();
    assert_eq!(grant.ip_would_deny, Some(CLIENT.to_string()));
    // An address on the list passes without a report.
    r.key.allowed_ips = vec![format!("{CLIENT}/32")];
    assert_eq!(run(&w, &f, &r, &STRICT).unwrap().ip_would_deny, None);
    // Report mode on one list does not soften the other.
    r.key.allowed_ips = vec!["10.0.0.0/8".into()];
    r.account.allowed_ips = vec!["10.0.0.0/8".into()];
    assert_eq!(status(run(&w, &f, &r, &STRICT)), 403);
    r.account.ip_mode = IpMode::Report;
    assert!(run(&w, &f, &r, &STRICT).unwrap().ip_would_deny.is_some());
}

/// What the sandbox's event feed may show: a collection the key could list itself, by scope,
/// product and entitlement, in its own environment.
#[test]
fn may_read_is_what_the_key_could_list_itself() {
    let w = world();
    let mut live = w.record.clone();
    // Scope and entitlement: accounts (bank_data, live) yes; quotes (insurance, live) yes.
    assert!(policy::may_read(&live, &w.config, "/v1/accounts"));
    assert!(policy::may_read(&live, &w.config, "/v1/quotes"));
    // No route, or a route of another method only: no.
    assert!(!policy::may_read(&live, &w.config, "/v1/owners"));
    // Lacking the scope: no.
    live.key.scopes = vec!["accounts:read".into()];
    assert!(!policy::may_read(&live, &w.config, "/v1/quotes"));
    assert!(!policy::may_read(&live, &w.config, "/v1/transactions"));
    // A key limited to a product sees nothing of another.
    let mut limited = w.record.clone();
    limited.key.products = vec!["bank_data".into()];
    assert!(policy::may_read(&limited, &w.config, "/v1/accounts"));
    assert!(!policy::may_read(&limited, &w.config, "/v1/quotes"));
    // The test key: the account holds insurance in live only, so not its quotes.
    let mut test = w.record.clone();
    test.key = api_key(&w.test, Environment::Test);
    assert!(policy::may_read(&test, &w.config, "/v1/accounts"));
    assert!(!policy::may_read(&test, &w.config, "/v1/quotes"));
    // Without entitlements, nothing of a product.
    test.product_keys.clear();
    assert!(!policy::may_read(&test, &w.config, "/v1/accounts"));
}

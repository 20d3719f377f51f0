use super::*;
use crate::error::Error;
use crate::keys::Environment;
use crate::keys::{KeyHash, KeyKind};
use crate::model::{AccountStatus, Agreement, ApiKey, IpMode, KeyStatus};
use crate::testing::{account, config, key};
use serde_json::Value;
use serde_json::json;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const NOW: i64 = 1_700_000_000;

fn fields(e: &Error) -> Vec<&str> {
    assert_eq!(e.status, 400, "{e}");
    e.errors.iter().map(|f| f.field.as_str()).collect()
}

#[test]
fn new_account_valid_and_defaults() {
    let a = new_account(&json!({"name": "  Acme  ", "agreement": "test"})).unwrap();
    assert_eq!(
        a,
        NewAccount {
            name: "Acme".into(),
            agreement: Agreement::Test,
            allowed_ips: vec![],
            rate_limit: None,
            ip_mode: IpMode::Enforce,
            quota: None,
        }
    );
    let a = new_account(&json!({"name": "A", "agreement": "production", "allowed_ips": ["10.0.0.1", "::ffff:10.1.0.0/112"]}))
        .unwrap();
    assert_eq!(a.allowed_ips, ["10.0.0.1/32", "10.1.0.0/16"]);
    let account = a.into_account("acct_x".into(), NOW);
    assert_eq!(account.status, AccountStatus::Active);
    assert_eq!((account.created_at, account.updated_at), (NOW, NOW));
}

#[test]
fn new_account_collects_every_error() {
    let e =
        new_account(&json!({"agreement": "gold", "allowed_ips": ["10.0.0.1/8", 7], "extra": 1}))
            .unwrap_err();
    assert_eq!(fields(&e), ["extra", "name", "agreement", "allowed_ips[1]"]);
    let e = new_account(
        &json!({"name": "x".repeat(201), "agreement": "test", "allowed_ips": ["10.0.0.1/8"]}),
    )
    .unwrap_err();
    assert_eq!(fields(&e), ["name", "allowed_ips[0]"]);
    assert!(e.errors[0].message.contains("200"));
    assert!(new_account(&json!({"name": "x".repeat(200), "agreement": "test"})).is_ok());
    for bad_name in [
        json!(""),
        json!("   "),
        json!(7),
        json!(null),
        json!("a\nb"),
    ] {
        let e = new_account(&json!({"name": bad_name, "agreement": "test"})).unwrap_err();
        assert_eq!(fields(&e), ["name"], "{bad_name}");
    }
    let e =
        new_account(&json!({"name": "A", "agreement": "test", "allowed_ips": null})).unwrap_err();
    assert_eq!(fields(&e), ["allowed_ips"]);
}

#[test]
fn bodies_must_be_objects() {
    for body in [json!([]), json!("x"), json!(null), json!(1)] {
        let e = new_account(&body).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("JSON object"));
    }
}

#[test]
fn account_patch_applies_only_what_is_given() {
    let patch = account_patch(&json!({"status": "suspended"})).unwrap();
    let mut a = account();
    patch.apply(&mut a, NOW);
    assert_eq!(a.status, AccountStatus::Suspended);
    assert_eq!(a.name, "Acme");
    assert_eq!(a.updated_at, NOW);
    let patch =
        account_patch(&json!({"name": "New", "agreement": "test", "allowed_ips": []})).unwrap();
    let mut a = account();
    a.allowed_ips = vec!["10.0.0.0/8".into()];
    patch.apply(&mut a, NOW);
    assert_eq!(
        (a.name.as_str(), a.agreement, a.allowed_ips.len()),
        ("New", Agreement::Test, 0)
    );
    assert_eq!(account_patch(&json!({})).unwrap(), AccountPatch::default());
    let e = account_patch(&json!({"status": "deleted", "name": null, "id": "acct_2"})).unwrap_err();
    assert_eq!(fields(&e), ["id", "name", "status"]);
}

#[test]
fn new_key_defaults_to_all_scopes_and_no_restrictions() {
    let k = new_key(
        &json!({"name": "backend", "environment": "live"}),
        &account(),
        &config(),
        NOW,
    )
    .unwrap()
    .into_template();
    assert_eq!(k.scopes, ["*"]);
    assert!(k.allowed_ips.is_empty() && k.products.is_empty());
    assert_eq!(k.expires_at, None);
    assert_eq!(k.environment, Environment::Live);
}

#[test]
fn new_key_full_body() {
    let body = json!({
        "name": "reporting", "environment": "test",
        "scopes": ["transactions:read", "accounts:*", "transactions:read"],
        "allowed_ips": ["2001:db8::/48"], "products": ["bank_data", "bank_data"],
        "expires_at": NOW + 60,
    });
    let k = new_key(&body, &account(), &config(), NOW)
        .unwrap()
        .into_template();
    assert_eq!(k.scopes, ["transactions:read", "accounts:*"]);
    assert_eq!(k.products, ["bank_data"]);
    assert_eq!(k.allowed_ips, ["2001:db8::/48"]);
    assert_eq!(k.expires_at, Some(NOW + 60));
    let created = k.into_key(
        "key_x".into(),
        "acct_1",
        "sk_test_abcd".into(),
        "wxyz".into(),
        NOW,
    );
    assert_eq!(created.status, KeyStatus::Active);
    assert_eq!(created.account_id, "acct_1");
    assert_eq!(
        (created.revoke_at, created.leaked_at, created.rolled_to),
        (None, None, None)
    );
}

#[test]
fn new_key_rejections() {
    let body = json!({
        "environment": "prod", "scopes": ["transactions:write", "Bad", 3], "allowed_ips": ["x"],
        "products": ["nope"], "expires_at": NOW, "secret": "sk_test_x",
    });
    let e = new_key(&body, &account(), &config(), NOW).unwrap_err();
    assert_eq!(
        fields(&e),
        [
            "secret",
            "name",
            "environment",
            "scopes[2]",
            "allowed_ips[0]",
            "products[0]",
            "expires_at"
        ]
    );
    // Type errors in a list are reported before content errors, then content is checked.
    let e = new_key(
        &json!({"name": "k", "environment": "test", "scopes": ["transactions:write", "Bad"]}),
        &account(),
        &config(),
        NOW,
    )
    .unwrap_err();
    assert_eq!(fields(&e), ["scopes[0]", "scopes[1]"]);
    assert!(e.errors[0].message.contains("not a scope of this API"));
    for (body, field) in [
        (
            json!({"name": "k", "environment": "test", "scopes": []}),
            "scopes",
        ),
        (
            json!({"name": "k", "environment": "test", "expires_at": 1.5e9}),
            "expires_at",
        ),
        (
            json!({"name": "k", "environment": "test", "expires_at": "2030-01-01"}),
            "expires_at",
        ),
        (
            json!({"name": "k", "environment": "test", "products": "bank_data"}),
            "products",
        ),
    ] {
        assert_eq!(
            fields(&new_key(&body, &account(), &config(), NOW).unwrap_err()),
            [field]
        );
    }
    let many: Vec<String> = (0..=MAX_LIST_ITEMS).map(|_| "*".to_string()).collect();
    let e = new_key(
        &json!({"name": "k", "environment": "test", "scopes": many}),
        &account(),
        &config(),
        NOW,
    )
    .unwrap_err();
    assert_eq!(fields(&e), ["scopes"]);
    let ok = new_key(
        &json!({"name": "k", "environment": "test", "expires_at": null}),
        &account(),
        &config(),
        NOW,
    );
    assert_eq!(ok.unwrap().template.expires_at, None);
}

#[test]
fn live_key_on_test_agreement_is_403_after_the_body_is_valid() {
    let mut a = account();
    a.agreement = Agreement::Test;
    let e = new_key(
        &json!({"name": "k", "environment": "live"}),
        &a,
        &config(),
        NOW,
    )
    .unwrap_err();
    assert_eq!(e.status, 403);
    assert!(e.message.contains("test agreement"));
    let e = new_key(
        &json!({"name": "", "environment": "live"}),
        &a,
        &config(),
        NOW,
    )
    .unwrap_err();
    assert_eq!(e.status, 400);
    assert!(
        new_key(
            &json!({"name": "k", "environment": "test"}),
            &a,
            &config(),
            NOW
        )
        .is_ok()
    );
}

#[test]
fn key_patch_and_apply() {
    let patch = key_patch(
        &json!({"name": "renamed", "scopes": ["quotes:read"], "products": ["insurance"], "status": "disabled", "expires_at": NOW + 5}),
        &config(),
        NOW,
    )
    .unwrap();
    let mut k = key(Environment::Live);
    patch.apply(&mut k, NOW).unwrap();
    assert_eq!(k.name, "renamed");
    assert_eq!(k.scopes, ["quotes:read"]);
    assert_eq!(k.products, ["insurance"]);
    assert_eq!(k.status, KeyStatus::Disabled);
    assert_eq!(k.expires_at, Some(NOW + 5));
    assert_eq!(k.updated_at, NOW);

    let clear = key_patch(&json!({"expires_at": null}), &config(), NOW).unwrap();
    assert_eq!(clear.expires_at, Some(None));
    clear.apply(&mut k, NOW).unwrap();
    assert_eq!(k.expires_at, None);
    assert_eq!(k.name, "renamed");

    let e = key_patch(
        &json!({"status": "revoked", "environment": "live", "expires_at": NOW - 1}),
        &config(),
        NOW,
    )
    .unwrap_err();
    assert_eq!(fields(&e), ["environment", "status", "expires_at"]);
}

#[test]
fn a_revoked_key_cannot_be_re_enabled() {
    let enable = key_patch(&json!({"status": "active", "name": "x"}), &config(), NOW).unwrap();
    let mut k = key(Environment::Test);
    k.status = KeyStatus::Disabled;
    k.revoke_at = Some(NOW);
    let before = k.clone();
    let e = enable.apply(&mut k, NOW).unwrap_err();
    assert_eq!(e.status, 409);
    assert_eq!(k, before, "a refused patch changes nothing");
    // Within a grace period the key is not yet revoked and may be re-enabled.
    k.revoke_at = Some(NOW + 10);
    enable.apply(&mut k, NOW).unwrap();
    assert_eq!(k.status, KeyStatus::Active);
    // Other changes to a revoked key are harmless and allowed.
    k.revoke_at = Some(NOW - 1);
    key_patch(&json!({"name": "archived"}), &config(), NOW)
        .unwrap()
        .apply(&mut k, NOW)
        .unwrap();
}

#[test]
fn grace_bodies() {
    assert_eq!(grace_seconds(None, ROLL_GRACE_DEFAULT).unwrap(), 86_400);
    assert_eq!(
        grace_seconds(Some(&json!(null)), LEAK_GRACE_DEFAULT).unwrap(),
        259_200
    );
    assert_eq!(grace_seconds(Some(&json!({})), 5).unwrap(), 5);
    assert_eq!(
        grace_seconds(Some(&json!({"grace_seconds": 0})), 5).unwrap(),
        0
    );
    assert_eq!(
        grace_seconds(Some(&json!({"grace_seconds": GRACE_MAX})), 5).unwrap(),
        604_800
    );
    for bad in [
        json!(-1),
        json!(GRACE_MAX + 1),
        json!("60"),
        json!(1.5),
        json!(null),
    ] {
        let e = grace_seconds(Some(&json!({"grace_seconds": bad})), 5).unwrap_err();
        assert_eq!(fields(&e), ["grace_seconds"], "{bad}");
    }
    assert_eq!(
        fields(&grace_seconds(Some(&json!({"grace": 5})), 5).unwrap_err()),
        ["grace"]
    );
    assert_eq!(grace_seconds(Some(&json!([])), 5).unwrap_err().status, 400);
}

#[test]
fn a_roll_body_names_every_bad_field_at_once() {
    let names = |body: Value| {
        let mut f: Vec<String> = roll_grace(Some(&body))
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect();
        f.sort();
        f
    };
    assert_eq!(
        names(json!({"grace": "later", "grace_seconds": -1})),
        ["grace", "grace_seconds"]
    );
    assert_eq!(
        names(json!({"grace_seconds": -1, "graceful": true})),
        ["grace_seconds", "graceful"]
    );
    assert_eq!(
        names(json!({"grace": 5, "grace_seconds": "soon", "graceful": 1})),
        ["grace", "grace_seconds", "graceful"]
    );
    assert_eq!(
        roll_grace(Some(
            &json!({"grace": "after_first_use", "grace_seconds": 60})
        )),
        Ok(RollGrace::AfterFirstUse(60))
    );
    assert_eq!(roll_grace(None), Ok(RollGrace::Fixed(ROLL_GRACE_DEFAULT)));
}

#[test]
fn roll_marks_the_old_key_and_copies_settings() {
    let mut old = key(Environment::Live);
    old.scopes = vec!["quotes:read".into()];
    old.products = vec!["insurance".into()];
    old.allowed_ips = vec!["10.0.0.0/8".into()];
    old.expires_at = Some(NOW + 1_000);
    let template = KeyTemplate::from_key(&old);
    assert_eq!(
        template,
        KeyTemplate {
            environment: Environment::Live,
            name: "backend".into(),
            scopes: vec!["quotes:read".into()],
            allowed_ips: vec!["10.0.0.0/8".into()],
            products: vec!["insurance".into()],
            expires_at: Some(NOW + 1_000),
            rate_limit: None,
            ip_mode: IpMode::Enforce,
            quota: None,
            credits: None,
        }
    );
    roll(&mut old, "key_2", NOW, RollGrace::Fixed(3_600)).unwrap();
    assert_eq!(old.rolled_to.as_deref(), Some("key_2"));
    assert_eq!(old.revoke_at, Some(NOW + 3_600));
    assert_eq!(old.updated_at, NOW);
}

#[test]
fn roll_keeps_an_earlier_revocation_and_zero_grace_revokes_now() {
    let mut k = key(Environment::Live);
    mark_leaked(&mut k, NOW, 60);
    roll(&mut k, "key_2", NOW, RollGrace::Fixed(ROLL_GRACE_DEFAULT)).unwrap();
    assert_eq!(k.revoke_at, Some(NOW + 60));
    let mut k = key(Environment::Live);
    roll(&mut k, "key_2", NOW, RollGrace::Fixed(0)).unwrap();
    assert!(k.is_revoked(NOW));
}

#[test]
fn roll_refusals_leave_the_key_unchanged() {
    let cases: [fn(&mut ApiKey); 4] = [
        |k| k.revoke_at = Some(NOW),
        |k| k.rolled_to = Some("key_0".into()),
        |k| k.expires_at = Some(NOW),
        |k| k.status = KeyStatus::Disabled,
    ];
    for (i, setup) in cases.iter().enumerate() {
        let mut k = key(Environment::Test);
        setup(&mut k);
        let before = k.clone();
        let e = roll(&mut k, "key_2", NOW, RollGrace::Fixed(60)).unwrap_err();
        assert_eq!(e.status, 409, "case {i}");
        assert_eq!(k, before, "case {i}");
    }
}

#[test]
fn leaks_first_report_wins_and_revocation_only_comes_closer() {
    let mut k = key(Environment::Live);
    mark_leaked(&mut k, NOW, LEAK_GRACE_DEFAULT);
    assert_eq!(
        (k.leaked_at, k.revoke_at),
        (Some(NOW), Some(NOW + LEAK_GRACE_DEFAULT))
    );
    mark_leaked(&mut k, NOW + 10, 0);
    assert_eq!((k.leaked_at, k.revoke_at), (Some(NOW), Some(NOW + 10)));
    mark_leaked(&mut k, NOW + 20, GRACE_MAX);
    assert_eq!(k.revoke_at, Some(NOW + 10));
    // An out-of-range grace from a careless caller is clamped, never extended.
    let mut k = key(Environment::Live);
    mark_leaked(&mut k, NOW, i64::MAX);
    assert_eq!(k.revoke_at, Some(NOW + GRACE_MAX));
}

#[test]
fn leak_reports_in_github_form() {
    let secret = crate::keys::key_from_entropy(KeyKind::Secret, Environment::Live, &[1; 32]);
    let product = crate::keys::key_from_entropy(KeyKind::Product, Environment::Live, &[1; 32]);
    let body = json!([
        {"token": secret, "type": "keygate_secret_key", "url": "https://github.com/o/r/blob/x", "source": "content"},
        {"token": product, "type": "keygate_product_key", "url": null},
        {"token": "ghp_notours"},
    ]);
    let tokens = leak_report(&body).unwrap();
    assert_eq!(tokens.len(), 3);
    assert_eq!(
        tokens[0].url.as_deref(),
        Some("https://github.com/o/r/blob/x")
    );
    assert_eq!(tokens[0].source.as_deref(), Some("content"));
    assert_eq!(tokens[1].url, None);
    let hash = |t: &LeakedToken| crate::keys::secret_key_hash(&t.token);
    assert_eq!(hash(&tokens[0]), Some(KeyHash::of(&secret)));
    assert_eq!(hash(&tokens[1]), None);
    assert_eq!(hash(&tokens[2]), None);
    let debug = format!("{tokens:?}");
    assert!(
        !debug.contains(&secret) && !debug.contains(&secret[12..40]),
        "{debug}"
    );
    assert!(!debug.contains("ghp_notours"));
    assert_eq!(
        leak_report(&json!({"tokens": [{"token": "x"}]}))
            .unwrap()
            .len(),
        1
    );
    assert!(leak_report(&json!([])).unwrap().is_empty());
}

#[test]
fn leak_report_rejections() {
    for body in [
        json!({"token": "x"}),
        json!("x"),
        json!({"tokens": [], "more": 1}),
    ] {
        assert_eq!(leak_report(&body).unwrap_err().status, 400);
    }
    let e = leak_report(
        &json!([{"url": "u"}, 5, {"token": 5}, {"token": ""}, {"token": "t", "source": 1}]),
    )
    .unwrap_err();
    assert_eq!(
        fields(&e),
        ["[0].token", "[1]", "[2].token", "[3].token", "[4].source"]
    );
    let many: Vec<Value> = (0..=MAX_LEAK_TOKENS)
        .map(|_| json!({"token": "x"}))
        .collect();
    assert_eq!(
        fields(&leak_report(&Value::Array(many)).unwrap_err()),
        ["tokens"]
    );
    let long_url = "u".repeat(5000);
    let tokens = leak_report(&json!([{"token": "t", "url": long_url}])).unwrap();
    assert_eq!(
        tokens[0].url.as_ref().map(|u| u.len()),
        Some(MAX_LEAK_NOTE_CHARS)
    );
}

/// Each flat body's reader knows exactly the fields of its spec (`bodies`), requires exactly the
/// required ones, and applies the defaults the spec documents.
#[test]
fn every_reader_reads_exactly_the_fields_its_spec_states() {
    let config = config();
    let account = account();
    type Read<'r> = Box<dyn Fn(&Value) -> Result<(), Error> + 'r>;
    let read: [(&bodies::BodySpec, Read<'_>); 6] = [
        (
            &bodies::ACCOUNT_CREATE,
            Box::new(|b| new_account(b).map(drop)),
        ),
        (
            &bodies::ACCOUNT_UPDATE,
            Box::new(|b| account_patch(b).map(drop)),
        ),
        (
            &bodies::KEY_CREATE,
            Box::new(|b| new_key(b, &account, &config, NOW).map(drop)),
        ),
        (
            &bodies::KEY_UPDATE,
            Box::new(|b| key_patch(b, &config, NOW).map(drop)),
        ),
        (&bodies::ROLL, Box::new(|b| roll_grace(Some(b)).map(drop))),
        (
            &bodies::LEAKED,
            Box::new(|b| grace_seconds(Some(b), LEAK_GRACE_DEFAULT).map(drop)),
        ),
    ];
    assert_eq!(read.len(), bodies::BODIES.len());
    for (spec, reader) in &read {
        let required: Vec<&str> = spec.required().collect();
        match reader(&json!({})) {
            Ok(()) => assert!(required.is_empty(), "{}: {{}} accepted", spec.schema),
            Err(e) => assert_eq!(fields(&e), required, "{}", spec.schema),
        }
        let e = reader(&json!({"unknown_field": 1})).unwrap_err();
        let unknown = e
            .errors
            .iter()
            .find(|f| f.field == "unknown_field")
            .unwrap();
        let names: Vec<&str> = spec.names().collect();
        assert!(
            unknown.message.ends_with(&names.join(", ")),
            "{}: {}",
            spec.schema,
            unknown.message
        );
        // Every field is read: a value of the wrong JSON type is refused by its name.
        for field in spec.fields {
            let e = reader(&json!({ field.name: true })).unwrap_err();
            assert!(
                fields(&e).iter().any(|f| f.starts_with(field.name)),
                "{}.{}: {:?}",
                spec.schema,
                field.name,
                e.errors
            );
        }
    }
    let default = |spec: &bodies::BodySpec| match spec.field("grace_seconds").unwrap().kind {
        bodies::FieldKind::GraceSeconds { default } => default,
        _ => unreachable!(),
    };
    assert_eq!(
        roll_grace(Some(&json!({}))).unwrap(),
        RollGrace::Fixed(default(&bodies::ROLL))
    );
    assert_eq!(
        grace_seconds(Some(&json!({})), LEAK_GRACE_DEFAULT).unwrap(),
        default(&bodies::LEAKED)
    );
}

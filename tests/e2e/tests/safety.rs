//! Key safety (SPEC §12, first two bullets) end to end: real workerd through `wrangler dev`,
//! HTTP only.
//!
//! * GitHub secret scanning: `POST /admin/v1/leaks/github` takes no admin token; it is
//!   authenticated by `Github-Public-Key-Identifier` and `Github-Public-Key-Signature` (base64
//!   DER ECDSA P-256 / SHA-256 of the raw body) against the keys in the variable
//!   `GITHUB_SECRET_SCANNING_KEYS`. The suite makes its own P-256 key pair (from fixed bytes),
//!   configures its public key (PEM) next to GitHub's published sample key (base64 SPKI DER),
//!   and signs its reports itself; GitHub's sample request must verify as published. A signed
//!   report marks every secret key of ours in it leaked (default grace, 3 days: the key still
//!   works) and answers GitHub's feedback array, echoing only what was sent; every refused
//!   report (bad or missing signature, too large, not GitHub's JSON) marks nothing, although
//!   each carries one of our secret keys.
//! * Plain-HTTP exposure: with `REQUIRE_HTTPS=true`, a request over `http` carrying one of our
//!   secret keys is refused with 403 and that key is marked leaked (source `plain_http`), once.
//!
//! Gateways:
//! * `gh`   — the harness defaults plus `GITHUB_SECRET_SCANNING_KEYS`.
//! * `bare` — the harness defaults (no `GITHUB_SECRET_SCANNING_KEYS`: the route is 404).
//! * The exposure trial runs one deployment of its own (`REQUIRE_HTTPS=true`, one storage
//!   directory) alternately behind an HTTPS listener (admin calls) and a plain-HTTP listener
//!   (the exposures): `wrangler dev` serves one protocol per process and the worker sees the
//!   scheme of that listener, so the same deployment cannot be reached over both at once. Each
//!   listener is stopped before the next starts on the same state. The mark is sent in the
//!   background right after the 403: a plain-HTTP listener is kept [`EXPOSURE_BOUND`] after
//!   its last exposure and then stopped, so a mark that takes longer is lost and fails the
//!   trial.
//!
//! Trials run in parallel; each makes its own accounts and keys. Every admin answer that is a
//! JSON object goes through [`audit`] (request id; no secret outside create/roll's `secret`;
//! no hash-like hex run); GitHub's feedback array goes through [`audit_feedback`].

use std::collections::BTreeSet;
use std::thread;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keygate_e2e::audited::{
    self, Key, audit, bank_data_account, full_secrets, get_accounts, op, product_key, refused,
};
use keygate_e2e::clock::{sleep_past, unix_now as now};
use keygate_e2e::offline::{mint_key, tamper};
use keygate_e2e::{Gateway, Resp, Value, json, run, start_together, tests};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use sha2::{Digest, Sha256};

/// The client address of edge requests.
const INSIDE: &str = "10.1.2.3";
/// The route GitHub posts to.
const GITHUB: &str = "/admin/v1/leaks/github";
/// A leaked key keeps working this long by default (SPEC §12: default grace, 3 days).
const LEAK_GRACE: i64 = 3 * 24 * 60 * 60;
/// How long after the 403 a plain-HTTP exposure must have been marked.
const EXPOSURE_BOUND: Duration = Duration::from_secs(3);
/// Slack on gateway timestamps against this machine's clock (workerd runs on the same one).
const CLOCK_SLACK: i64 = 2;

/// GitHub's published sample (GitHub's docs; PyPI's warehouse tests): key, signature, body.
const SAMPLE_KEY_ID: &str = "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c";
const SAMPLE_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYAGMWO8XgCamYKMJS6jc/qgvSlAdAjPuDPRcXU22YxgBrz+zoN19MzuRyW87qEt9/AmtoNP5GrobzUvQSyJFVw==";
const SAMPLE_SIGNATURE: &str = "MEQCIQDaMKqrGnE27S0kgMrEK0eYBmyG0LeZismAEz/BgZyt7AIfXt9fErtRS4XaeSt/AO1RtBY66YcAdjxji410VQV4xg==";
const SAMPLE_BODY: &str = r#"[{"source":"commit","token":"some_token","type":"some_type","url":"https://example.com/base-repo-url/"}]"#;

struct Ctx {
    gh: Gateway,
    bare: Gateway,
}

fn main() {
    run(
        || {
            let keys = keys_document();
            let [gh, bare] = start_together([
                Gateway::builder().var("GITHUB_SECRET_SCANNING_KEYS", &keys),
                Gateway::builder(),
            ]);
            Ctx { gh, bare }
        },
        tests![
            // First: it starts and stops five gateways one after another (~20 s).
            plain_http_exposure_marks_the_key_leaked_once,
            githubs_sample_report_verifies,
            a_signed_report_marks_exactly_our_secret_keys_leaked,
            refused_reports_mark_nothing,
            the_route_is_post_only_and_404_when_not_configured,
        ],
    );
}

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Our signing key: the private half of the public key configured as [`our_key_id`].
fn our_key() -> SigningKey {
    SigningKey::from_slice(&[0x5a; 32]).expect("a valid P-256 scalar")
}

/// A P-256 key that is in no key document.
fn stranger_key() -> SigningKey {
    SigningKey::from_slice(&[0x3c; 32]).expect("a valid P-256 scalar")
}

/// Our key's identifier, made as GitHub makes theirs: SHA-256 of the SPKI DER, in hex.
fn our_key_id() -> String {
    let der = our_key()
        .verifying_key()
        .to_public_key_der()
        .expect("SPKI DER");
    hex(&Sha256::digest(der.as_bytes()))
}

/// `GITHUB_SECRET_SCANNING_KEYS`: our public key as PEM, GitHub's sample key as base64 DER.
fn keys_document() -> String {
    let pem = our_key()
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("PEM");
    json!({"public_keys": [
        {"key_identifier": our_key_id(), "key": pem, "is_current": true},
        {"key_identifier": SAMPLE_KEY_ID, "key": SAMPLE_KEY, "is_current": true},
    ]})
    .to_string()
}

/// `Github-Public-Key-Signature` of `body` by `key`: base64 of the DER signature.
fn sign(key: &SigningKey, body: &[u8]) -> String {
    let signature: Signature = key.sign(body);
    STANDARD.encode(signature.to_der().as_bytes())
}

/// `POST /admin/v1/leaks/github` with `body` and whichever of the two headers are given.
fn post_report(gw: &Gateway, key_id: Option<&str>, signature: Option<&str>, body: &[u8]) -> Resp {
    let mut req = gw
        .post(GITHUB)
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    if let Some(id) = key_id {
        req = req.header("Github-Public-Key-Identifier", id);
    }
    if let Some(signature) = signature {
        req = req.header("Github-Public-Key-Signature", signature);
    }
    req.send()
}

/// A report signed by our key.
fn signed_report(gw: &Gateway, body: &[u8]) -> Resp {
    post_report(gw, Some(&our_key_id()), Some(&sign(&our_key(), body)), body)
}

/// GitHub's report body: one match per `(token, type)`.
fn report_body(matches: &[(&str, &str)]) -> Vec<u8> {
    let matches: Vec<Value> = matches
        .iter()
        .enumerate()
        .map(|(i, (token, kind))| {
            json!({
                "token": token,
                "type": kind,
                "url": format!("https://github.com/octo/leaky/blob/main/config{i}.env"),
                "source": if i % 2 == 0 { "commit" } else { "issue_comment" },
            })
        })
        .collect();
    serde_json::to_vec(&matches).unwrap()
}

/// Checks GitHub's feedback answer to a report of `sent` (`(token, type)`): 200, JSON, a
/// request id; one entry per match, `{token_raw | token_hash, token_type, label}` with the
/// token sent (or its SHA-256 in hex) and `true_positive` exactly for the tokens in `ours`;
/// no full secret key but the ones sent.
#[track_caller]
fn audit_feedback(r: &Resp, sent: &[(&str, &str)], ours: &[&str]) {
    assert_eq!(r.status, 200, "a report's answer: {r}");
    assert!(
        r.request_id().is_some_and(|id| !id.is_empty()),
        "no X-Request-Id: {r}"
    );
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "not JSON: {r}"
    );
    let text = r.text();
    for secret in full_secrets(&text) {
        assert!(
            sent.iter().any(|(token, _)| *token == secret),
            "a secret key that was not sent is in the answer: {r}"
        );
    }
    let entries = r
        .json
        .as_array()
        .unwrap_or_else(|| panic!("not GitHub's feedback array: {r}"));
    let mut got: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| {
            let fields: BTreeSet<&str> = e
                .as_object()
                .unwrap_or_else(|| panic!("an entry that is not an object: {r}"))
                .keys()
                .map(String::as_str)
                .collect();
            let raw = fields.contains("token_raw");
            let want: BTreeSet<&str> = [
                if raw { "token_raw" } else { "token_hash" },
                "token_type",
                "label",
            ]
            .into();
            assert_eq!(fields, want, "an entry's fields: {r}");
            let token = if raw {
                e["token_raw"].as_str().unwrap_or_default().to_string()
            } else {
                let hash = e["token_hash"].as_str().unwrap_or_default();
                sent.iter()
                    .find(|(t, _)| hex(&Sha256::digest(t.as_bytes())) == hash)
                    .map(|(t, _)| t.to_string())
                    .unwrap_or_else(|| panic!("a token_hash of no token sent: {r}"))
            };
            let kind = e["token_type"].as_str().unwrap_or_default().to_string();
            let label = e["label"].as_str().unwrap_or_default().to_string();
            (token, kind, label)
        })
        .collect();
    let mut want: Vec<(String, String, String)> = sent
        .iter()
        .map(|(token, kind)| {
            let label = if ours.contains(token) {
                "true_positive"
            } else {
                "false_positive"
            };
            (token.to_string(), kind.to_string(), label.to_string())
        })
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "feedback (token, type, label): {r}");
}

/// A production account entitled to bank_data: `(id, test product key, live product key)`.
fn account(gw: &Gateway, name: &str) -> (String, String, String) {
    let body = json!({"name": name, "agreement": "production"});
    let (id, entitled) = bank_data_account(gw, &body);
    let (pk, pk_live) = (
        product_key(&entitled, "test"),
        product_key(&entitled, "live"),
    );
    (id, pk, pk_live)
}

/// A key named `name` in `environment`.
fn key(gw: &Gateway, account: &str, name: &str, environment: &str) -> Key {
    audited::key(gw, account, name, json!({"environment": environment}))
}

/// The operator's view of a key.
fn view(gw: &Gateway, key_id: &str) -> Value {
    audited::view(gw, &format!("/keys/{key_id}"))
}

/// `(leaked_at, revoke_at)` of a key; `None` for a null or absent field.
fn leak_fields(gw: &Gateway, key_id: &str) -> (Option<i64>, Option<i64>) {
    let v = view(gw, key_id);
    let field = |name: &str| match &v[name] {
        Value::Null => None,
        other => Some(
            other
                .as_i64()
                .unwrap_or_else(|| panic!("{name} is not a whole number: {v}")),
        ),
    };
    (field("leaked_at"), field("revoke_at"))
}

/// Panics unless the key has neither `leaked_at` nor `revoke_at`.
#[track_caller]
fn assert_untouched(gw: &Gateway, key_id: &str, what: &str) {
    assert_eq!(
        leak_fields(gw, key_id),
        (None, None),
        "{what}: the key must not be marked leaked: {}",
        view(gw, key_id)
    );
}

/// Panics unless the key was marked leaked within `[from, to]` with the default grace.
/// Returns `leaked_at`.
#[track_caller]
fn assert_leaked(gw: &Gateway, key_id: &str, from: i64, to: i64, what: &str) -> i64 {
    let v = view(gw, key_id);
    let (leaked_at, revoke_at) = leak_fields(gw, key_id);
    let leaked_at = leaked_at.unwrap_or_else(|| panic!("{what}: no leaked_at: {v}"));
    assert!(
        (from - CLOCK_SLACK..=to + CLOCK_SLACK).contains(&leaked_at),
        "{what}: leaked_at {leaked_at} is not the time of the report ({from}..={to}): {v}"
    );
    assert_eq!(
        revoke_at,
        Some(leaked_at + LEAK_GRACE),
        "{what}: revoke_at must be leaked_at + 3 days (the default grace): {v}"
    );
    leaked_at
}

/// Every event of the account (at most 100), newest first.
fn events(gw: &Gateway, account: &str) -> Vec<Value> {
    let r = op(
        gw,
        "GET",
        &format!("/accounts/{account}/events?limit=100"),
        None,
    );
    r.expect_status(200);
    assert_ne!(r.json["has_more"], json!(true), "more than 100 events: {r}");
    r.json["data"].as_array().expect("data").clone()
}

/// The events of `kind` among `events`.
fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// Panics unless the leak events among `events` are exactly one `key.leaked` per key of
/// `key_ids` and `leak.reported` events from `source` naming each of them once.
#[track_caller]
fn assert_leak_events(events: &[Value], key_ids: &[&str], source: &str, what: &str) {
    let lines = || {
        events
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut leaked: Vec<&str> = of_kind(events, "key.leaked")
        .iter()
        .map(|e| e["key_id"].as_str().unwrap_or_default())
        .collect();
    leaked.sort_unstable();
    let mut want: Vec<&str> = key_ids.to_vec();
    want.sort_unstable();
    assert_eq!(
        leaked,
        want,
        "{what}: one key.leaked per leaked key:\n{}",
        lines()
    );
    let mut reported: Vec<&str> = Vec::new();
    for e in of_kind(events, "leak.reported") {
        assert_eq!(
            e["data"]["after"]["source"],
            json!(source),
            "{what}: leak.reported source:\n{}",
            lines()
        );
        let ids = e["data"]["after"]["key_ids"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: leak.reported without key_ids: {e}"));
        reported.extend(ids.iter().map(|id| id.as_str().unwrap_or_default()));
    }
    reported.sort_unstable();
    assert_eq!(
        reported,
        want,
        "{what}: leak.reported must name each leaked key once:\n{}",
        lines()
    );
}

/// An edge request with `secret` and product key `pk`, audited (`GET /v1/accounts`, answered
/// by the sandbox for a test key).
fn edge(gw: &Gateway, secret: &str, pk: &str) -> Resp {
    get_accounts(gw, INSIDE, secret, pk)
}

/// Panics unless `r` is the plain-HTTP refusal: 403 "HTTPS is required", no redirect.
#[track_caller]
fn assert_https_required(r: &Resp) {
    audit(r);
    let message = refused(r, 403, &[]);
    assert!(message.contains("HTTPS is required"), "{r}");
    assert!(r.header("location").is_none(), "must not redirect: {r}");
}

// ------------------------------------------------------------------------------------------
// GitHub secret scanning
// ------------------------------------------------------------------------------------------

fn githubs_sample_report_verifies(c: &Ctx) {
    let r = post_report(
        &c.gh,
        Some(SAMPLE_KEY_ID),
        Some(SAMPLE_SIGNATURE),
        SAMPLE_BODY.as_bytes(),
    );
    audit_feedback(&r, &[("some_token", "some_type")], &[]);
    assert_eq!(
        r.json,
        json!([{"token_raw": "some_token", "token_type": "some_type", "label": "false_positive"}]),
        "GitHub's sample: {r}"
    );
}

fn a_signed_report_marks_exactly_our_secret_keys_leaked(c: &Ctx) {
    let gw = &c.gh;
    let (a, a_pk, _) = account(gw, "GitHub leak A");
    let (b, _, _) = account(gw, "GitHub leak B");
    let leaked = key(gw, &a, "committed by mistake", "test");
    let sibling = key(gw, &a, "same account, not reported", "test");
    let other = key(gw, &b, "other account", "test");
    let unknown = mint_key("sk_test_", "github-unknown");
    let kind = "keygate_secret_key";
    let sent = [
        (leaked.secret.as_str(), kind),
        ("ghp_notOurs_0123456789abcdefABCDEF", "random_string"),
        (a_pk.as_str(), "keygate_product_key"),
        (unknown.as_str(), kind),
        // GitHub reports every place it found a token: the same key twice.
        (leaked.secret.as_str(), kind),
    ];
    let from = now();
    let r = signed_report(gw, &report_body(&sent));
    let to = now();
    audit_feedback(&r, &sent, &[&leaked.secret]);
    assert_no_secret_of(&r, &[&sibling.secret, &other.secret]);

    let leaked_at = assert_leaked(gw, &leaked.id, from, to, "reported key");
    let revoke_at = leaked_at + LEAK_GRACE;
    assert_untouched(
        gw,
        &sibling.id,
        "a key of the same account not in the report",
    );
    assert_untouched(gw, &other.id, "a key of another account");
    // Default grace: the key keeps working while its owner replaces it.
    let r = edge(gw, &leaked.secret, &a_pk);
    assert_eq!(r.status, 200, "a leaked key works during its grace: {r}");

    let a_events = events(gw, &a);
    assert_leak_events(&a_events, &[&leaked.id], "github", "account A");
    assert_only_creations_besides_leaks(&a_events, "account A");
    let b_events = events(gw, &b);
    assert_leak_events(&b_events, &[], "github", "account B");
    assert_only_creations_besides_leaks(&b_events, "account B");

    // Reported again later (another commit): still ours, nothing moves.
    sleep_past(to);
    let again = [(leaked.secret.as_str(), kind)];
    let r = signed_report(gw, &report_body(&again));
    audit_feedback(&r, &again, &[&leaked.secret]);
    assert_eq!(
        leak_fields(gw, &leaked.id),
        (Some(leaked_at), Some(revoke_at)),
        "a second report must not move leaked_at or revoke_at: {}",
        view(gw, &leaked.id)
    );
    let a_events = events(gw, &a);
    assert_leak_events(
        &a_events,
        &[&leaked.id],
        "github",
        "account A after a re-report",
    );
    // SPEC §11: an event's `data` holds the fields that changed; nothing changed here.
    let empty: Vec<&Value> = a_events
        .iter()
        .filter(|e| e["data"] == json!({"before": {}, "after": {}}))
        .collect();
    assert!(
        empty.is_empty(),
        "a re-report of an already leaked key changes nothing, yet made events with no \
         changed field: {empty:#?}"
    );
}

/// Panics unless `events` are only the creations a trial made and leak events.
#[track_caller]
fn assert_only_creations_besides_leaks(events: &[Value], what: &str) {
    let allowed = [
        "account.created",
        "entitlement.created",
        "key.created",
        "key.leaked",
        "leak.reported",
    ];
    let others: Vec<&Value> = events
        .iter()
        .filter(|e| !allowed.iter().any(|t| e["type"] == *t))
        .collect();
    assert!(others.is_empty(), "{what}: unexpected events: {others:#?}");
}

/// Panics if the body or a header of `r` carries one of `secrets`.
#[track_caller]
fn assert_no_secret_of(r: &Resp, secrets: &[&str]) {
    let text = r.text();
    for s in secrets {
        assert!(
            !text.contains(s),
            "a secret that was not sent is echoed: {r}"
        );
        assert!(
            r.headers.iter().all(|(_, v)| !v.contains(s)),
            "a secret that was not sent is echoed in a header: {r}"
        );
    }
}

/// A refused report: what it is, its two headers, its body and the status it must get.
type Refusal<'a> = (&'a str, Option<&'a str>, Option<String>, &'a [u8], u16);

fn refused_reports_mark_nothing(c: &Ctx) {
    let gw = &c.gh;
    let (acct, _, _) = account(gw, "GitHub refusals");
    let target = key(gw, &acct, "in every refused report", "test");
    let ours = our_key();
    let our_id = our_key_id();
    let body = report_body(&[(target.secret.as_str(), "keygate_secret_key")]);
    let signature = sign(&ours, &body);
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("config0.env", "config1.env");
    assert_ne!(tampered.as_bytes(), body.as_slice());
    // Over 512 KiB, validly signed, with our key in it.
    let large = serde_json::to_vec(&json!([{
        "token": target.secret,
        "type": "keygate_secret_key",
        "url": format!("https://github.com/octo/leaky/blob/main/{}", "a".repeat(530 * 1024)),
        "source": "commit",
    }]))
    .unwrap();
    assert!(large.len() > 512 * 1024);
    let truncated = &body[..body.len() - 3];
    let object = serde_json::to_vec(&json!({
        "token": target.secret, "type": "keygate_secret_key", "url": "https://github.com/o/r",
        "source": "commit",
    }))
    .unwrap();
    let tokenless = serde_json::to_vec(&json!([{
        "type": "keygate_secret_key", "url": format!("https://github.com/o/r#{}", target.secret),
        "source": "commit",
    }]))
    .unwrap();

    let cases: Vec<Refusal<'_>> = vec![
        (
            "tampered body (signature of the original)",
            Some(&our_id),
            Some(signature.clone()),
            tampered.as_bytes(),
            401,
        ),
        (
            "unknown key identifier",
            Some("0000000000000000000000000000000000000000000000000000000000000001"),
            Some(signature.clone()),
            &body,
            401,
        ),
        ("no headers", None, None, &body, 401),
        ("no signature", Some(&our_id), None, &body, 401),
        (
            "no key identifier",
            None,
            Some(signature.clone()),
            &body,
            401,
        ),
        (
            "empty signature",
            Some(&our_id),
            Some(String::new()),
            &body,
            401,
        ),
        (
            "signed by a key in no document",
            Some(&our_id),
            Some(sign(&stranger_key(), &body)),
            &body,
            401,
        ),
        (
            "our signature under the sample key's identifier",
            Some(SAMPLE_KEY_ID),
            Some(signature.clone()),
            &body,
            401,
        ),
        (
            "the sample signature under our identifier",
            Some(&our_id),
            Some(SAMPLE_SIGNATURE.to_string()),
            &body,
            401,
        ),
        (
            "malformed base64",
            Some(&our_id),
            Some("not base64!".to_string()),
            &body,
            401,
        ),
        (
            "base64 that is not a DER signature",
            Some(&our_id),
            Some(STANDARD.encode(b"not a signature")),
            &body,
            401,
        ),
        (
            "over 512 KiB, validly signed",
            Some(&our_id),
            Some(sign(&ours, &large)),
            &large,
            413,
        ),
        (
            "truncated JSON, validly signed",
            Some(&our_id),
            Some(sign(&ours, truncated)),
            truncated,
            400,
        ),
        (
            "an object instead of an array, validly signed",
            Some(&our_id),
            Some(sign(&ours, &object)),
            &object,
            400,
        ),
        (
            "a match without a token, validly signed",
            Some(&our_id),
            Some(sign(&ours, &tokenless)),
            &tokenless,
            400,
        ),
    ];
    for (what, key_id, signature, body, status) in cases {
        let r = post_report(gw, key_id, signature.as_deref(), body);
        audit(&r);
        if status == 400 {
            keygate_e2e::assert_error(&r, 400);
        } else {
            refused(&r, status, &[]);
        }
        assert_eq!(r.status, status, "{what}: {r}");
        assert_no_secret_of(&r, &[&target.secret]);
        assert_untouched(gw, &target.id, what);
    }
    assert_leak_events(&events(gw, &acct), &[], "github", "refused reports");
    // The same report, properly signed, is accepted: the refusals were about the request.
    let r = post_report(gw, Some(&our_id), Some(&signature), &body);
    audit_feedback(
        &r,
        &[(&target.secret, "keygate_secret_key")],
        &[&target.secret],
    );
    assert!(leak_fields(gw, &target.id).0.is_some(), "{r}");
}

fn the_route_is_post_only_and_404_when_not_configured(c: &Ctx) {
    let body = SAMPLE_BODY.as_bytes();
    // Not configured: no such route, signed or not.
    let r = post_report(&c.bare, Some(SAMPLE_KEY_ID), Some(SAMPLE_SIGNATURE), body);
    audit(&r);
    refused(&r, 404, &[]);
    // Only POST, configured or not.
    for gw in [&c.gh, &c.bare] {
        for method in ["GET", "PUT", "DELETE"] {
            let r = gw
                .request(method, GITHUB)
                .header("Github-Public-Key-Identifier", SAMPLE_KEY_ID)
                .header("Github-Public-Key-Signature", SAMPLE_SIGNATURE)
                .send();
            audit(&r);
            refused(&r, 405, &[]);
            let allow = r.header("allow").unwrap_or_default();
            assert!(allow.contains("POST"), "Allow must name POST: {r}");
        }
    }
}

// ------------------------------------------------------------------------------------------
// Plain-HTTP exposure
// ------------------------------------------------------------------------------------------

fn plain_http_exposure_marks_the_key_leaked_once(_: &Ctx) {
    let state = tempfile::tempdir().expect("a state directory");
    // One deployment (REQUIRE_HTTPS=true, one storage), behind an HTTPS or a plain-HTTP
    // listener; never both at once.
    let start = |https: bool| {
        let b = Gateway::builder()
            .var("REQUIRE_HTTPS", "true")
            .persist_to(state.path());
        let gw = if https { b.https() } else { b }.start();
        let scheme = if https { "https://" } else { "http://" };
        assert!(gw.base_url().starts_with(scheme), "{}", gw.base_url());
        gw
    };

    // 1. Over HTTPS: an account and its keys.
    let secure = start(true);
    let (acct, pk, pk_live) = account(&secure, "Plain HTTP");
    let bearer = key(&secure, &acct, "sent as Bearer", "test");
    let x_api_key = key(&secure, &acct, "sent as X-API-Key", "live");
    let to_admin = key(&secure, &acct, "sent to the admin API", "test");
    let sentinel = key(&secure, &acct, "never sent", "test");
    let r = edge(&secure, &bearer.secret, &pk);
    assert_eq!(r.status, 200, "over HTTPS the key works: {r}");
    let before: BTreeSet<String> = ids(&events(&secure, &acct));
    secure.stop();

    // 2. Over plain HTTP: three exposures, then the listener stays up EXPOSURE_BOUND.
    let plain = start(false);
    let from = now();
    assert_https_required(
        &plain
            .get("/v1/accounts")
            .bearer(&bearer.secret)
            .product_key(&pk)
            .client_ip(INSIDE)
            .send(),
    );
    assert_https_required(
        &plain
            .get("/v1/transactions")
            .api_key(&x_api_key.secret)
            .product_key(&pk_live)
            .client_ip(INSIDE)
            .send(),
    );
    assert_https_required(
        &plain
            .get("/admin/v1/accounts")
            .bearer(&to_admin.secret)
            .send(),
    );
    let to = now();
    thread::sleep(EXPOSURE_BOUND);
    plain.stop();

    // 3. Over HTTPS: the three keys are marked leaked (default grace), nothing else.
    let secure = start(true);
    let exposed = [&bearer, &x_api_key, &to_admin];
    let mut marks = Vec::new();
    for k in exposed {
        let leaked_at = assert_leaked(&secure, &k.id, from, to, "a key sent over plain HTTP");
        marks.push((leaked_at, leaked_at + LEAK_GRACE));
    }
    assert_untouched(&secure, &sentinel.id, "a key never sent");
    let all = events(&secure, &acct);
    let new: Vec<Value> = all
        .iter()
        .filter(|e| !before.contains(e["id"].as_str().unwrap_or_default()))
        .cloned()
        .collect();
    let exposed_ids: Vec<&str> = exposed.iter().map(|k| k.id.as_str()).collect();
    assert_leak_events(&new, &exposed_ids, "plain_http", "after the exposures");
    let others: Vec<&Value> = new
        .iter()
        .filter(|e| e["type"] != "key.leaked" && e["type"] != "leak.reported")
        .collect();
    assert!(others.is_empty(), "unexpected events: {others:#?}");
    // Default grace: the key keeps working (over HTTPS) while its owner replaces it.
    let r = edge(&secure, &bearer.secret, &pk);
    assert_eq!(r.status, 200, "a leaked key works during its grace: {r}");
    let before: BTreeSet<String> = ids(&events(&secure, &acct));
    let latest = marks.iter().map(|(at, _)| *at).max().unwrap_or(to);
    secure.stop();

    // 4. Over plain HTTP, a second later: the same key again, and keys that are not ours
    // (malformed, unknown, a product key).
    sleep_past(latest);
    let plain = start(false);
    let unknown_test = mint_key("sk_test_", "plain-http-unknown");
    let unknown_live = mint_key("sk_live_", "plain-http-unknown");
    let malformed = tamper(&sentinel.secret, 20);
    let requests = [
        plain
            .get("/v1/accounts")
            .bearer(&bearer.secret)
            .product_key(&pk),
        plain
            .get("/v1/accounts")
            .bearer(&malformed)
            .product_key(&pk),
        plain
            .get("/v1/accounts")
            .bearer("sk_test_short")
            .product_key(&pk),
        plain
            .get("/v1/accounts")
            .bearer(&unknown_test)
            .product_key(&pk),
        plain
            .get("/v1/transactions")
            .api_key(&unknown_live)
            .product_key(&pk_live),
        plain.get("/v1/accounts").bearer(&pk),
    ];
    for req in requests {
        assert_https_required(&req.client_ip(INSIDE).send());
    }
    thread::sleep(EXPOSURE_BOUND);
    plain.stop();

    // 5. Over HTTPS: nothing changed.
    let secure = start(true);
    for (k, mark) in exposed.iter().zip(&marks) {
        assert_eq!(
            leak_fields(&secure, &k.id),
            (Some(mark.0), Some(mark.1)),
            "a second exposure must change nothing: {}",
            view(&secure, &k.id)
        );
    }
    assert_untouched(&secure, &sentinel.id, "a key whose malformed copy was sent");
    let new: Vec<Value> = events(&secure, &acct)
        .into_iter()
        .filter(|e| !before.contains(e["id"].as_str().unwrap_or_default()))
        .collect();
    assert!(
        new.is_empty(),
        "a second exposure or keys not ours made events: {new:#?}"
    );
    secure.stop();
}

fn ids(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

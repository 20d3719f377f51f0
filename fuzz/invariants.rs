//! The invariants the fuzz targets check (see `docs/fuzzing.md`), in one file with two users:
//! the cargo-fuzz crate in `fuzz/` (this is its library; each `fuzz_targets/*.rs` calls one
//! function) and `crates/keygate-core/tests/fuzz_corpus.rs`, which includes this file with
//! `#[path]` and replays `fuzz/seeds/` and `fuzz/regressions/` as ordinary native tests.
//!
//! Each public function takes the raw fuzzer input and panics when an invariant does not hold:
//! more than "no panic" — every error has the right status and a JSON body, every accepted
//! input round-trips, no error body repeats a key it was sent.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use keygate_core::credentials::{MAX_CREDENTIAL_BYTES, extract_credential};
use keygate_core::keys::{KEY_LEN, PREFIX_LEN};
use keygate_core::target::{MAX_PATH_BYTES, MAX_QUERY_BYTES, Target, parse_target};
use keygate_core::{
    Account, AccountStatus, Agreement, Environment, Error, GatewayConfig, KeyHash, KeyKind,
    parse_key,
};
use keygate_core::{admin, github};
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

/// `0-9A-Za-z`: the key alphabet.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The clock the admin readers are given (unix seconds).
const NOW: i64 = 1_700_000_000;

/// Splits fuzzer input at the first 0xFF byte (a byte that never occurs in UTF-8 text, so
/// text seeds stay readable): `(before, Some(after))`, or `(all, None)` without one.
fn split_ff(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    match data.iter().position(|&b| b == 0xff) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every error: a status from `allowed`, and a `to_json()` body that parses as JSON and says
/// the same status, a message, and exactly the field errors the value holds.
fn check_error(e: &Error, allowed: &[u16], context: &str) -> String {
    assert!(
        allowed.contains(&e.status),
        "{context}: status {} is not one of {allowed:?}: {e}",
        e.status
    );
    let json = e.to_json();
    let body: Value = serde_json::from_str(&json)
        .unwrap_or_else(|err| panic!("{context}: to_json() is not JSON ({err}): {json}"));
    assert_eq!(body["status"], e.status, "{context}: {json}");
    assert!(body["message"].is_string(), "{context}: {json}");
    match body.get("errors") {
        None => assert!(
            e.errors.is_empty(),
            "{context}: errors not rendered: {json}"
        ),
        Some(list) => {
            let list = list.as_array().expect("`errors` is an array");
            assert!(
                !list.is_empty(),
                "{context}: empty `errors` rendered: {json}"
            );
            assert_eq!(list.len(), e.errors.len(), "{context}: {json}");
            for entry in list {
                assert!(entry["field"].is_string() && entry["message"].is_string());
            }
        }
    }
    json
}

// --- credentials ------------------------------------------------------------------------------

/// Input: `Authorization` value, optionally 0xFF and an `X-API-Key` value (both decoded lossily).
/// Tried as: neither header, the first part alone in each header, and both headers together.
pub fn credentials(data: &[u8]) {
    let (first, second) = split_ff(data);
    let first = lossy(first);
    check_credentials(None, None);
    check_credentials(Some(&first), None);
    check_credentials(None, Some(&first));
    if let Some(second) = second {
        check_credentials(Some(&first), Some(&lossy(second)));
    }
}

const BASIC: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The decoded payload of `Basic <base64>`, if the header is one.
fn basic_payload(authorization: &str) -> Option<String> {
    let value = authorization.trim_matches([' ', '\t']);
    let (scheme, rest) = value.split_once([' ', '\t'])?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = BASIC.decode(rest.trim_start_matches([' ', '\t'])).ok()?;
    Some(lossy(&decoded))
}

/// Every well-formed key (checksum included) that occurs in `text`.
fn keys_in(text: &str) -> Vec<&str> {
    text.char_indices()
        .filter_map(|(at, _)| text.get(at..at + KEY_LEN))
        .filter(|window| parse_key(window).is_ok())
        .collect()
}

fn check_credentials(authorization: Option<&str>, x_api_key: Option<&str>) {
    let mut sent: Vec<String> = [authorization, x_api_key]
        .into_iter()
        .flatten()
        .map(str::to_string)
        .collect();
    sent.extend(authorization.and_then(basic_payload));
    match extract_credential(authorization, x_api_key) {
        Ok(key) => {
            assert!(!key.is_empty() && key.len() <= MAX_CREDENTIAL_BYTES);
            assert!(
                !key.chars().any(|c| c.is_whitespace() || c.is_control()),
                "accepted a key with whitespace or a control character: {key:?}"
            );
            assert!(
                sent.iter().any(|s| s.contains(key.as_str())),
                "the key {key:?} is not in what was sent: {sent:?}"
            );
            // The same key is accepted, unchanged, in every header shape that can carry it.
            assert_eq!(extract_credential(None, Some(&key)), Ok(key.clone()));
            let bearer = format!("Bearer {key}");
            if bearer.len() <= MAX_CREDENTIAL_BYTES {
                assert_eq!(extract_credential(Some(&bearer), None), Ok(key.clone()));
                assert_eq!(
                    extract_credential(Some(&bearer), Some(&key)),
                    Ok(key.clone())
                );
            }
            let basic = format!("Basic {}", BASIC.encode(format!("{key}:")));
            if basic.len() <= MAX_CREDENTIAL_BYTES && !key.contains(':') {
                assert_eq!(extract_credential(Some(&basic), None), Ok(key.clone()));
            }
        }
        Err(e) => {
            let json = check_error(&e, &[400, 401], "extract_credential");
            // 401 always comes with the `WWW-Authenticate` challenge, 400 never does.
            assert_eq!(e.challenge, e.status == 401, "{json}");
            for text in &sent {
                for key in keys_in(text) {
                    assert!(
                        !json.contains(&key[PREFIX_LEN..]),
                        "the error body repeats a key that was sent: {json}"
                    );
                }
            }
        }
    }
}

// --- keys -------------------------------------------------------------------------------------

/// Input: the key text (decoded lossily).
pub fn keys(data: &[u8]) {
    let text = lossy(data);
    match parse_key(&text) {
        Ok(key) => {
            assert_eq!(key.as_str(), text);
            assert!(text.len() == KEY_LEN && text.is_ascii(), "{text:?}");
            let (kind, environment) = match &text[..PREFIX_LEN] {
                "sk_test_" => (KeyKind::Secret, Environment::Test),
                "sk_live_" => (KeyKind::Secret, Environment::Live),
                "pk_test_" => (KeyKind::Product, Environment::Test),
                "pk_live_" => (KeyKind::Product, Environment::Live),
                other => panic!("accepted a key with the prefix {other:?}"),
            };
            assert_eq!((key.kind(), key.environment()), (kind, environment));
            assert!(text.bytes().skip(PREFIX_LEN).all(|b| BASE62.contains(&b)));

            let hash = key.hash();
            assert_eq!(hash, KeyHash::of(&text));
            assert_eq!(KeyHash::from_hex(&hash.to_hex()), Some(hash));
            let json = serde_json::to_string(&hash).expect("a hash serialises");
            assert_eq!(serde_json::from_str::<KeyHash>(&json).ok(), Some(hash));

            assert!(text.starts_with(&key.start()) && text.ends_with(&key.end()));
            let shown = PREFIX_LEN + 4;
            let debug = format!("{key:?}");
            assert!(!debug.contains(&text[shown..KEY_LEN - 4]), "{debug}");

            // Changing one body character (position and symbol derived from the input) breaks
            // the checksum.
            let seed = data.iter().fold(0usize, |acc, &b| {
                acc.wrapping_mul(31).wrapping_add(usize::from(b))
            });
            let position = PREFIX_LEN + seed % (KEY_LEN - PREFIX_LEN);
            let original = text.as_bytes()[position];
            let index = BASE62.iter().position(|&b| b == original).expect("base62");
            let replacement = BASE62[(index + 1 + (seed / KEY_LEN) % 61) % 62];
            let mut edited = text.clone().into_bytes();
            edited[position] = replacement;
            let edited = String::from_utf8(edited).expect("ASCII");
            let e = parse_key(&edited).expect_err("a key with one character changed parsed");
            check_error(&e, &[401], "parse_key(edited)");
        }
        Err(e) => {
            let json = check_error(&e, &[401], "parse_key");
            // A near-miss (right prefix, base62 body of some length) is not echoed back.
            let body = text.get(PREFIX_LEN..).unwrap_or_default();
            if ["sk_", "pk_"].iter().any(|p| text.starts_with(p))
                && body.len() >= 16
                && body.bytes().all(|b| BASE62.contains(&b))
            {
                assert!(!json.contains(body), "the error repeats the key: {json}");
            }
        }
    }
}

// --- admin JSON -------------------------------------------------------------------------------

/// The deployed route table: scopes and products in admin bodies are checked against it.
fn gateway() -> &'static GatewayConfig {
    static CONFIG: OnceLock<GatewayConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        GatewayConfig::from_json(include_str!("../gateway.json")).expect("gateway.json is valid")
    })
}

fn account(agreement: Agreement) -> Account {
    Account {
        id: "acct_fuzz".into(),
        name: "Fuzz".into(),
        agreement,
        status: AccountStatus::Active,
        allowed_ips: vec![],
        created_at: NOW - 1000,
        updated_at: NOW - 1000,
        revision: 1,
        rate_limit: None,
        ip_mode: Default::default(),
        quota: None,
    }
}

/// Credits as the admin API writes them: the balance and the refill (`set_at` is the write's).
fn credits_body(credits: &Option<keygate_core::quota::Credits>) -> Value {
    match credits {
        Some(c) => json!({"remaining": c.remaining, "refill": c.refill}),
        None => Value::Null,
    }
}

/// A JSON object of the fields that are `Some`.
fn object(fields: &[(&str, Option<Value>)]) -> Value {
    let map: Map<String, Value> = fields
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
        .collect();
    Value::Object(map)
}

fn check_name(name: &str) {
    assert!(!name.is_empty() && name.trim() == name, "{name:?}");
    assert!(name.chars().count() <= admin::MAX_NAME_CHARS);
    assert!(!name.chars().any(char::is_control), "{name:?}");
}

/// Input: any bytes; those that parse as JSON go to every admin body reader. Errors are 400
/// with a JSON body (403 only for a valid live key under a test agreement); accepted bodies,
/// written back out as JSON, read back to the same value.
pub fn admin_json(data: &[u8]) {
    if let Ok(body) = serde_json::from_slice::<Value>(data) {
        check_admin(&body);
    }
}

fn check_admin(body: &Value) {
    let config = gateway();

    match admin::new_account(body) {
        Ok(new) => {
            check_name(&new.name);
            // Destructured without `..`: a field added to the reader fails to compile here
            // until the round trip writes it back.
            let admin::NewAccount {
                name,
                agreement,
                allowed_ips,
                rate_limit,
                ip_mode,
                quota,
            } = &new;
            let again = json!({
                "name": name, "agreement": agreement, "allowed_ips": allowed_ips,
                "rate_limit": rate_limit, "ip_mode": ip_mode, "quota": quota,
            });
            assert_eq!(admin::new_account(&again), Ok(new));
        }
        Err(e) => {
            check_error(&e, &[400], "new_account");
        }
    }

    match admin::account_patch(body) {
        Ok(patch) => {
            if let Some(name) = &patch.name {
                check_name(name);
            }
            let admin::AccountPatch {
                name,
                agreement,
                status,
                allowed_ips,
                rate_limit,
                ip_mode,
                quota,
            } = &patch;
            let again = object(&[
                ("name", name.as_ref().map(|v| json!(v))),
                ("agreement", agreement.map(|v| json!(v))),
                ("status", status.map(|v| json!(v))),
                ("allowed_ips", allowed_ips.as_ref().map(|v| json!(v))),
                ("rate_limit", rate_limit.map(|v| json!(v))),
                ("ip_mode", ip_mode.map(|v| json!(v))),
                ("quota", quota.as_ref().map(|v| json!(v))),
            ]);
            assert_eq!(admin::account_patch(&again), Ok(patch));
        }
        Err(e) => {
            check_error(&e, &[400], "account_patch");
        }
    }

    let production = account(Agreement::Production);
    let for_production = admin::new_key(body, &production, config, NOW);
    match &for_production {
        Ok(new) => {
            let t = &new.template;
            check_name(&t.name);
            assert!(!t.scopes.is_empty() && t.scopes.len() <= admin::MAX_LIST_ITEMS);
            assert!(t.products.iter().all(|p| config.product(p).is_some()));
            assert!(t.expires_at.is_none_or(|at| at > NOW));
            let admin::KeyTemplate {
                environment,
                name,
                scopes,
                allowed_ips,
                products,
                expires_at,
                rate_limit,
                ip_mode,
                quota,
                credits,
            } = t;
            let again = object(&[
                ("quota", Some(json!(quota))),
                ("credits", Some(credits_body(credits))),
                ("name", Some(json!(name))),
                ("environment", Some(json!(environment))),
                ("scopes", Some(json!(scopes))),
                ("allowed_ips", Some(json!(allowed_ips))),
                ("products", Some(json!(products))),
                ("expires_at", expires_at.map(|v| json!(v))),
                ("rate_limit", Some(json!(rate_limit))),
                ("ip_mode", Some(json!(ip_mode))),
            ]);
            assert_eq!(
                admin::new_key(&again, &production, config, NOW).as_ref(),
                Ok(new)
            );
        }
        Err(e) => {
            check_error(e, &[400], "new_key");
        }
    }
    // Under a test agreement the same body gives the same answer, except that a valid live key
    // is refused with 403.
    let for_test = admin::new_key(body, &account(Agreement::Test), config, NOW);
    match (&for_production, &for_test) {
        (Ok(new), Err(e)) if new.template.environment == Environment::Live => {
            check_error(e, &[403], "new_key (test agreement, live key)");
        }
        (Ok(new), Ok(_)) if new.template.environment == Environment::Live => {
            panic!("a live key was accepted for an account with a test agreement")
        }
        (production, test) => assert_eq!(production, test, "new_key under a test agreement"),
    }

    match admin::key_patch(body, config, NOW) {
        Ok(patch) => {
            if let Some(name) = &patch.name {
                check_name(name);
            }
            if let Some(scopes) = &patch.scopes {
                assert!(!scopes.is_empty() && scopes.len() <= admin::MAX_LIST_ITEMS);
            }
            let admin::KeyPatch {
                name,
                scopes,
                allowed_ips,
                products,
                status,
                expires_at,
                rate_limit,
                ip_mode,
                quota,
                credits,
            } = &patch;
            let again = object(&[
                ("quota", quota.as_ref().map(|v| json!(v))),
                ("credits", credits.as_ref().map(credits_body)),
                ("name", name.as_ref().map(|v| json!(v))),
                ("scopes", scopes.as_ref().map(|v| json!(v))),
                ("allowed_ips", allowed_ips.as_ref().map(|v| json!(v))),
                ("products", products.as_ref().map(|v| json!(v))),
                ("status", status.map(|v| json!(v))),
                ("expires_at", expires_at.map(|v| json!(v))),
                ("rate_limit", rate_limit.map(|v| json!(v))),
                ("ip_mode", ip_mode.map(|v| json!(v))),
            ]);
            assert_eq!(admin::key_patch(&again, config, NOW), Ok(patch));
        }
        Err(e) => {
            check_error(&e, &[400], "key_patch");
        }
    }

    match admin::grace_seconds(Some(body), admin::ROLL_GRACE_DEFAULT) {
        Ok(grace) => assert!((0..=admin::GRACE_MAX).contains(&grace), "{grace}"),
        Err(e) => {
            check_error(&e, &[400], "grace_seconds");
        }
    }

    match admin::leak_report(body) {
        Ok(tokens) => {
            assert!(tokens.len() <= admin::MAX_LEAK_TOKENS);
            for t in &tokens {
                assert!(!t.token.is_empty() && t.token.len() <= 1024);
                let parsed = parse_key(&t.token).ok();
                let secret = parsed.filter(|k| k.kind() == KeyKind::Secret);
                assert_eq!(
                    keygate_core::keys::secret_key_hash(&t.token),
                    secret.map(|k| k.hash())
                );
                // `Debug` shows only the display fragments of a well-formed token (the free-text
                // `url` and `source` are shown as sent, so they may repeat it themselves).
                let body = t.token.get(PREFIX_LEN..).unwrap_or_default();
                let in_notes = [&t.url, &t.source]
                    .into_iter()
                    .flatten()
                    .any(|note| note.contains(body));
                if parsed.is_some() && !in_notes {
                    let debug = format!("{t:?}");
                    assert!(!debug.contains(body), "{debug}");
                }
            }
        }
        Err(e) => {
            check_error(&e, &[400], "leak_report");
        }
    }
}

// --- request target (path canonicaliser) ------------------------------------------------------

/// Input: the path, optionally 0xFF and the query (both decoded lossily). Checked as sent, and
/// the path alone.
pub fn target(data: &[u8]) {
    let (path, query) = split_ff(data);
    let path = lossy(path);
    let query = query.map(lossy);
    let with_query = check_target(&path, query.as_deref());
    let alone = check_target(&path, None);
    // A query can make a target unacceptable, never acceptable.
    if with_query {
        assert!(alone, "{path:?} is refused alone but accepted with a query");
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    char::from(c).to_digit(16).map(|d| d as u8)
}

/// Percent-decodes every `%XX` (either case), leaving other bytes as they are.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = match bytes.get(i..i + 3) {
            Some(&[b'%', h, l]) => hex_digit(h).zip(hex_digit(l)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match escape {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

fn secret_keys_in(text: &str) -> Vec<String> {
    let decoded = lossy(&percent_decode(text));
    [text, decoded.as_str()]
        .iter()
        .flat_map(|t| keys_in(t))
        .filter(|k| parse_key(k).is_ok_and(|k| k.kind() == KeyKind::Secret))
        .map(str::to_string)
        .collect()
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// What "canonical" promises (see `crates/keygate-core/src/target.rs`).
fn check_canonical_path(path: &str) {
    assert!(path.starts_with('/'), "{path:?}");
    assert!(path.len() <= MAX_PATH_BYTES);
    assert!(
        path.bytes().all(|b| (0x21..=0x7e).contains(&b)),
        "not printable ASCII: {path:?}"
    );
    for bad in ["//", "\\", ";", "?", "#"] {
        assert!(!path.contains(bad), "{bad:?} in {path:?}");
    }
    assert!(path == "/" || !path.ends_with('/'), "{path:?}");
    if path == "/" {
        return;
    }
    for segment in path[1..].split('/') {
        let decoded = percent_decode(segment);
        for dots in [segment.as_bytes(), &decoded] {
            assert!(dots != b"." && dots != b"..", "dot segment in {path:?}");
        }
        let bytes = segment.as_bytes();
        for (i, _) in bytes.iter().enumerate().filter(|&(_, &b)| b == b'%') {
            let (h, l) = match bytes.get(i + 1..i + 3) {
                Some(&[h, l]) if !h.is_ascii_lowercase() && !l.is_ascii_lowercase() => (h, l),
                _ => panic!("`%` without two upper-case hex digits in {path:?}"),
            };
            let byte = match (hex_digit(h), hex_digit(l)) {
                (Some(h), Some(l)) => h << 4 | l,
                _ => panic!("`%` without two hex digits in {path:?}"),
            };
            assert!(
                !is_unreserved(byte) && !matches!(byte, b'/' | b'\\' | 0..=0x1f | 0x7f..),
                "%{byte:02X} in {path:?}"
            );
        }
    }
}

/// Checks one `parse_target` call; returns whether it accepted the target.
fn check_target(path: &str, query: Option<&str>) -> bool {
    match parse_target(path, query) {
        Ok(target) => {
            // Accepted means already canonical: passed through unchanged, and idempotent.
            assert_eq!(target.path(), path);
            assert_eq!(target.query(), query.filter(|q| !q.is_empty()));
            let again: Result<Target<'_>, Error> = parse_target(target.path(), target.query());
            assert_eq!(again, Ok(target), "re-parsing {path:?} {query:?}");
            check_canonical_path(target.path());
            let rejoined = target.segments().collect::<Vec<_>>().join("/");
            assert_eq!(format!("/{rejoined}"), target.path());
            if let Some(q) = target.query() {
                assert!(q.len() <= MAX_QUERY_BYTES);
                assert!(
                    q.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'#'),
                    "query {q:?}"
                );
                assert_eq!(target.path_and_query(), format!("{path}?{q}"));
            } else {
                assert_eq!(target.path_and_query(), path);
            }
            for part in [Some(path), target.query()].into_iter().flatten() {
                let found = secret_keys_in(part);
                assert!(found.is_empty(), "a secret key passed in {part:?}");
            }
            true
        }
        Err(e) => {
            let json = check_error(&e, &[400], "parse_target");
            for part in [Some(path), query].into_iter().flatten() {
                for key in secret_keys_in(part) {
                    assert!(
                        !json.contains(&key[PREFIX_LEN..]),
                        "the error repeats a secret key: {json}"
                    );
                }
            }
            // A 400 that names the canonical form names one that is accepted as it is.
            for field in &e.errors {
                if let Some((_, canonical)) = field.message.rsplit_once("canonical form ") {
                    let accepted = parse_target(canonical, None);
                    assert_eq!(
                        accepted.map(|t| t.path()),
                        Ok(canonical),
                        "{path:?} is refused naming the canonical form {canonical:?}, which is \
                         refused too"
                    );
                }
            }
            false
        }
    }
}

/// GitHub's published secret-scanning sample (its docs; PyPI's warehouse tests).
const GITHUB_KEY_ID: &str = "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c";
const GITHUB_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYAGMWO8XgCamYKMJS6jc/qgvSlAdAjPuDPRcXU22YxgBrz+zoN19MzuRyW87qEt9/AmtoNP5GrobzUvQSyJFVw==";
const GITHUB_PAYLOAD: &[u8] = br#"[{"source":"commit","token":"some_token","type":"some_type","url":"https://example.com/base-repo-url/"}]"#;

fn github_keys() -> &'static github::GithubKeys {
    static KEYS: OnceLock<github::GithubKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        github::GithubKeys::from_json(&format!(
            r#"{{"public_keys": [{{"key_identifier": "{GITHUB_KEY_ID}", "key": "{GITHUB_KEY}"}}]}}"#
        ))
        .expect("the sample key parses")
    })
}

/// Input: `body [0xFF signature]`. The body as GitHub's report: Err is a 400; Ok reads back
/// the same when written out, and feedback echoes exactly the token sent. The signature (if
/// any) under the sample key id: only GitHub's sample body can verify, every other outcome is
/// a 401. The body as a key document: parses, or is a 503 (a configuration error), never a
/// panic.
pub fn github(data: &[u8]) {
    let (body, signature) = split_ff(data);
    match github::report(body) {
        Ok(matches) => {
            for m in &matches {
                let feedback = github::feedback(m, false);
                assert_eq!(feedback["token_raw"], m.token.as_str());
                assert_eq!(feedback["label"], "false_positive");
            }
            let again = serde_json::to_vec(&matches).expect("matches serialise");
            assert_eq!(
                github::report(&again).expect("written-out report reads"),
                matches
            );
        }
        Err(e) => {
            check_error(&e, &[400], "github::report");
        }
    }
    if let Some(signature) = signature {
        let signature = lossy(signature);
        match github_keys().verify(Some(GITHUB_KEY_ID), Some(&signature), body) {
            Ok(()) => assert_eq!(body, GITHUB_PAYLOAD, "a forged signature verified"),
            Err(e) => {
                check_error(&e, &[401], "github verify");
            }
        }
        let unknown = github_keys().verify(Some("unknown"), Some(&signature), body);
        assert_eq!(unknown.map_err(|e| e.status), Err(401));
    }
    if let Ok(text) = std::str::from_utf8(body)
        && let Err(e) = github::GithubKeys::from_json(text)
    {
        check_error(&e, &[503], "GithubKeys::from_json");
    }
}

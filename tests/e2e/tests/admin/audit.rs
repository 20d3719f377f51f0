//! The checker every answer goes through: no secret material, a request id, JSON in the README's
//! shape.

use super::*;

/// Every full secret key (`sk_test_`/`sk_live_` + 38 base62 characters) in `text`.
pub(crate) fn full_secret_keys(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for prefix in ["sk_test_", "sk_live_"] {
        let mut from = 0;
        while let Some(at) = text[from..].find(prefix) {
            let start = from + at;
            let body = &text.as_bytes()[start + prefix.len()..];
            let run = body
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            if run >= KEY_LEN - prefix.len() {
                found.push(text[start..start + KEY_LEN].to_string());
            }
            from = start + prefix.len();
        }
    }
    found
}

/// The longest run of hexadecimal digits in `text` (a SHA-256 hash is 64).
pub(crate) fn longest_hex_run(text: &str) -> usize {
    let mut best = 0;
    let mut run = 0;
    for b in text.bytes() {
        if b.is_ascii_hexdigit() {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// Is `r` one of the two answers allowed to carry a secret: key creation or roll?
pub(crate) fn issues_a_secret(r: &Resp) -> bool {
    let path = r.url.split('?').next().unwrap_or_default();
    r.method == "POST"
        && path.contains("/admin/v1/")
        && ((r.status == 201 && path.ends_with("/keys"))
            || (r.status == 200 && path.ends_with("/roll")))
}

/// Fails unless `cond`, with the message and the whole answer.
macro_rules! ensure {
    ($cond:expr, $r:expr, $($what:tt)+) => {
        if !$cond {
            return Err(format!("{}: {}", format!($($what)+), $r));
        }
    };
}

/// What is wrong with an answer, if anything: no request id, secret material outside create/roll's
/// `secret`, or (for the admin API) a body that is not JSON in the README's error shape.
pub(crate) fn audit_problem(r: &Resp) -> Result<(), String> {
    ensure!(
        r.request_id().is_some_and(|id| !id.is_empty()),
        r,
        "no X-Request-Id"
    );
    let text = r.text();
    let secrets = full_secret_keys(&text);
    if issues_a_secret(r) {
        ensure!(secrets.len() == 1, r, "one secret, once, expected");
        ensure!(
            r.json["secret"].as_str() == Some(secrets[0].as_str()),
            r,
            "the secret should be in `secret`"
        );
    } else {
        ensure!(secrets.is_empty(), r, "a full secret key in an answer");
    }
    if !r.url.contains("/admin/") {
        return Ok(());
    }
    ensure!(
        longest_hex_run(&text) < 64,
        r,
        "something that looks like a 64-hex hash"
    );
    if r.status == 204 {
        ensure!(r.body.is_empty(), r, "204 with a body");
        return Ok(());
    }
    ensure!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        r,
        "not application/json"
    );
    ensure!(r.json.is_object(), r, "not a JSON object");
    if r.status >= 400 {
        ensure!(
            r.json["status"] == json!(r.status),
            r,
            "`status` should repeat the HTTP status"
        );
        ensure!(
            r.json["message"].as_str().is_some_and(|m| !m.is_empty()),
            r,
            "error without a message"
        );
    }
    Ok(())
}

/// Panics if [`audit_problem`] finds anything.
pub(crate) fn audit(r: &Resp) {
    if let Err(problem) = audit_problem(r) {
        panic!("{problem}");
    }
}

/// [`audit`] is what makes "no secret leaves" testable: check it finds what it must.
pub(crate) fn audit_detects_secret_material(_c: &Ctx) {
    let key = "sk_live_4eC39HqLyjWDarjtT1zdp7dcAbCdEfGhIjKlMn";
    assert_eq!(key.len(), KEY_LEN);
    assert_eq!(full_secret_keys(&format!("{{\"x\":\"{key}\"}}")), [key]);
    assert_eq!(full_secret_keys(&format!("a{key}b")).len(), 1);
    assert!(full_secret_keys("sk_test_4eC3…x9Qz and sk_live_short").is_empty());
    assert!(full_secret_keys(&key.replace("sk_", "pk_")).is_empty());
    let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    assert_eq!(longest_hex_run(&format!("\"{hash}\"")), 64);
    assert!(longest_hex_run("key_0123456789abcdef0123") < 64);

    let resp = |method: &str, url: &str, status: u16, body: &Value| Resp {
        method: method.into(),
        url: url.into(),
        status,
        headers: vec![
            ("x-request-id".into(), "req_1".into()),
            ("content-type".into(), "application/json".into()),
        ],
        body: serde_json::to_vec(body).unwrap(),
        json: body.clone(),
        elapsed: Duration::ZERO,
    };
    let fails = |r: Resp| audit_problem(&r).is_err();
    let created = json!({"key": {"id": "key_1"}, "secret": key});
    let keys_url = "http://h/admin/v1/accounts/acct_1/keys";
    assert!(!fails(resp("POST", keys_url, 201, &created)));
    assert!(!fails(resp(
        "POST",
        "http://h/admin/v1/keys/key_1/roll",
        200,
        &created
    )));
    assert!(
        fails(resp("GET", keys_url, 200, &created)),
        "a secret in a list"
    );
    assert!(fails(resp(
        "POST",
        "http://h/admin/v1/leaks",
        200,
        &created
    )));
    let twice = json!({"key": {"id": "key_1", "name": key}, "secret": key});
    assert!(
        fails(resp("POST", keys_url, 201, &twice)),
        "a secret outside `secret`"
    );
    let hashed = json!({"id": "key_1", "hash": hash});
    assert!(fails(resp(
        "GET",
        "http://h/admin/v1/keys/key_1",
        200,
        &hashed
    )));
    let error = json!({"status": 404, "message": "No such key."});
    assert!(!fails(resp(
        "GET",
        "http://h/admin/v1/keys/key_1",
        404,
        &error
    )));
    assert!(fails(resp(
        "GET",
        "http://h/admin/v1/keys/key_1",
        400,
        &error
    )));
}

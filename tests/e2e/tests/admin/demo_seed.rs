//! The demo seed and the README flow.

use super::*;

/// `scripts/demo.env` as a map.
pub(crate) fn demo_env() -> BTreeMap<String, String> {
    let path = repo_root().join("scripts/demo.env");
    let text = std::fs::read_to_string(&path).expect("scripts/demo.env");
    let env: BTreeMap<String, String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for name in [
        "DEMO_ACCOUNT_ID",
        "DEMO_SECRET_KEY",
        "DEMO_PRODUCT_KEY",
        "DEMO_PAYMENTS_PRODUCT_KEY",
        "DEMO_INSURANCE_PRODUCT_KEY",
        "DEMO_PATH",
    ] {
        assert!(
            env.contains_key(name),
            "{name} missing from scripts/demo.env"
        );
    }
    env
}

/// The README's demo request: the demo key and its `bank_data` product key, audited.
fn demo_request(gw: &Gateway, env: &BTreeMap<String, String>) -> Resp {
    let r = gw
        .get(&env["DEMO_PATH"])
        .bearer(&env["DEMO_SECRET_KEY"])
        .product_key(&env["DEMO_PRODUCT_KEY"])
        .send();
    audit(&r);
    r
}

/// Checks a demo gateway: the seeded account, entitlements, the one key, and that the demo key
/// works in the sandbox. Returns the ids of all accounts.
pub(crate) fn check_demo(gw: &Gateway, env: &BTreeMap<String, String>) -> Vec<String> {
    let get = |path: &str| {
        let r = gw.admin("GET", path).send();
        audit(&r);
        r
    };
    let acct = &env["DEMO_ACCOUNT_ID"];
    let accounts = get("/accounts?limit=100");
    accounts.expect_status(200);
    let ids: Vec<String> = accounts.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(
        ids.iter().filter(|id| *id == acct).count(),
        1,
        "one demo account: {accounts}"
    );

    let r = get(&format!("/accounts/{acct}"));
    r.expect_status(200);
    assert_eq!(r.json["agreement"], "test", "{r}");
    assert_eq!(r.json["status"], "active", "{r}");
    let mut products: Vec<String> = r.json["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    products.sort();
    assert_eq!(products, ["bank_data", "insurance", "payments"], "{r}");

    for (product, var) in [
        ("bank_data", "DEMO_PRODUCT_KEY"),
        ("payments", "DEMO_PAYMENTS_PRODUCT_KEY"),
        ("insurance", "DEMO_INSURANCE_PRODUCT_KEY"),
    ] {
        let r = get(&format!("/accounts/{acct}/products/{product}"));
        r.expect_status(200);
        assert_eq!(
            r.json["product_keys"]["test"],
            json!(env[var]),
            "{var}: {r}"
        );
        assert!(r.json["product_keys"]["live"].is_null(), "{r}");
    }

    let secret = &env["DEMO_SECRET_KEY"];
    let r = get(&format!("/accounts/{acct}/keys?limit=100"));
    let keys = r.json["data"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "one demo key: {r}");
    assert_eq!(keys[0]["environment"], "test");
    assert_eq!(keys[0]["status"], "active");
    assert_eq!(keys[0]["start"], json!(&secret[..12]), "{r}");
    assert_eq!(keys[0]["end"], json!(&secret[KEY_LEN - 4..]), "{r}");

    let r = demo_request(gw, env);
    assert_eq!(r.status, 200, "the demo request: {r}");
    assert_eq!(r.header("x-sandbox"), Some("true"), "{r}");
    for (path, var) in [
        ("/v1/statements", "DEMO_PAYMENTS_PRODUCT_KEY"),
        ("/v1/insurance_products", "DEMO_INSURANCE_PRODUCT_KEY"),
    ] {
        let r = gw.get(path).basic(secret, "").product_key(&env[var]).send();
        audit(&r);
        assert_eq!(r.status, 200, "{path} with {var}: {r}");
        assert_eq!(r.header("x-sandbox"), Some("true"), "{r}");
    }
    ids
}

pub(crate) fn demo_seed_matches_demo_env_and_seeds_once(_c: &Ctx) {
    let env = demo_env();
    assert_eq!(env["DEMO_ACCOUNT_ID"], "acct_demo");
    assert_key_format(&env["DEMO_SECRET_KEY"], "sk_test_");
    for var in [
        "DEMO_PRODUCT_KEY",
        "DEMO_PAYMENTS_PRODUCT_KEY",
        "DEMO_INSURANCE_PRODUCT_KEY",
    ] {
        assert_key_format(&env[var], "pk_test_");
    }

    let state = tempfile::tempdir().expect("temp dir");
    let start = || {
        Gateway::builder()
            .var("DEMO_SEED", "true")
            .var("REQUIRE_HTTPS", "false")
            .persist_to(state.path().join("state"))
            .start()
    };
    let gw = start();
    // The first admin request seeds; the next ones do not seed again.
    let first = check_demo(&gw, &env);
    let r = gw
        .admin("POST", "/accounts")
        .json(&json!({"name": "after the seed", "agreement": "test"}))
        .send();
    audit(&r);
    r.expect_status(201);
    let mine = id_of(&r.json);
    let second = check_demo(&gw, &env);
    assert_eq!(second.len(), first.len() + 1, "{first:?} {second:?}");
    gw.stop();

    // A restart on the same storage seeds nothing new and keeps what was there.
    let gw = start();
    let third = check_demo(&gw, &env);
    assert_eq!(third, second, "accounts after a restart");
    assert!(third.contains(&mine));
}

/// An isolate remembers for a while that no key is stored under a hash (docs/storage.md). The
/// demo key is the one key whose hash can be refused before it exists: here it is refused as
/// unknown, twice, then created by the seed at an isolate that does not apply its own writes.
/// It must work within the revocation bound (1 s, the log's reach), not after the 10 s the
/// isolate remembers a missing key.
pub(crate) fn a_key_refused_as_unknown_works_within_1s_of_its_creation(_c: &Ctx) {
    let env = demo_env();
    let gw = Gateway::builder()
        .var("DEMO_SEED", "true")
        .var("REQUIRE_HTTPS", "false")
        .var("KEYGATE_TEST_SKIP_LOCAL_APPLY", "true")
        .start();
    let demo = || demo_request(&gw, &env);
    for _ in 0..2 {
        let r = demo();
        assert_eq!(r.status, 401, "before the seed: {r}");
        assert!(
            r.json["message"]
                .as_str()
                .unwrap_or_default()
                .contains("Unknown API key"),
            "{r}"
        );
    }
    let seeded = gw.admin("GET", "/accounts?limit=1").send();
    audit(&seeded);
    seeded.expect_status(200);
    let answered = std::time::Instant::now();
    let works_in = loop {
        let r = demo();
        if r.status == 200 {
            break answered.elapsed();
        }
        assert_eq!(r.status, 401, "{r}");
        assert!(
            answered.elapsed() < Duration::from_secs(15),
            "the demo key was still refused 15 s after the seed: {r}"
        );
        thread::sleep(Duration::from_millis(50));
    };
    eprintln!(
        "measured: a key refused as unknown worked {} ms after its creation's answer",
        works_in.as_millis()
    );
    assert!(
        works_in <= Duration::from_secs(1),
        "a key refused as unknown before its creation worked only {} ms after it",
        works_in.as_millis()
    );
}

pub(crate) fn demo_seed_is_refused_when_https_is_required(_c: &Ctx) {
    let env = demo_env();
    let gw = Gateway::builder()
        .https()
        .var("DEMO_SEED", "true")
        .var("REQUIRE_HTTPS", "true")
        .start();
    let r = gw.admin("GET", "/accounts?limit=100").send();
    audit(&r);
    r.expect_status(200);
    let r = gw.admin("GET", "/accounts/acct_demo").send();
    audit(&r);
    assert_eq!(
        r.status, 404,
        "the public demo key must not exist here: {r}"
    );
    let r = demo_request(&gw, &env);
    assert_eq!(r.status, 401, "{r}");
}

/// Runs curl; returns (status, parsed body) and audits the body for secrets.
pub(crate) fn curl(args: &[&str], issues_secret: bool) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("status line");
    let status: u16 = code.trim().parse().expect("status");
    // Not JSON: the raw text, so a failure shows what answered (wrangler's proxy answers a
    // plain-text 503 when the runtime restarts mid-request).
    let json: Value = match serde_json::from_str(body) {
        Ok(json) => json,
        Err(_) if body.is_empty() => Value::Null,
        Err(_) => Value::String(body.into()),
    };
    let secrets = full_secret_keys(body);
    if issues_secret {
        assert_eq!(secrets.len(), 1, "{body}");
    } else {
        assert!(secrets.is_empty(), "a secret in: {body}");
    }
    (status, json)
}

pub(crate) fn readme_flow_with_curl(c: &Ctx) {
    let base = c.gw.base_url();
    let auth = format!("Authorization: Bearer {ADMIN_TOKEN}");
    let ctype = "Content-Type: application/json";
    let str_of = |v: &Value, what: &str| {
        v.as_str()
            .unwrap_or_else(|| panic!("{what} missing"))
            .to_string()
    };

    // 1. An account.
    let (status, account) = curl(
        &[
            "-X",
            "POST",
            &format!("{base}/admin/v1/accounts"),
            "-H",
            &auth,
            "-H",
            ctype,
            "-d",
            r#"{"name": "Newcomer GmbH", "agreement": "test"}"#,
        ],
        false,
    );
    assert_eq!(status, 201, "{account}");
    let acct = str_of(&account["id"], "account id");

    // 2. Its product, for the product key.
    let (status, entitlement) = curl(
        &[
            "-X",
            "PUT",
            &format!("{base}/admin/v1/accounts/{acct}/products/bank_data"),
            "-H",
            &auth,
        ],
        false,
    );
    assert_eq!(status, 201, "{entitlement}");
    let pk = str_of(&entitlement["product_keys"]["test"], "product key");

    // 3. A key; the secret is shown once.
    let (status, created) = curl(
        &[
            "-X",
            "POST",
            &format!("{base}/admin/v1/accounts/{acct}/keys"),
            "-H",
            &auth,
            "-H",
            ctype,
            "-d",
            r#"{"name": "my first key", "environment": "test"}"#,
        ],
        true,
    );
    assert_eq!(status, 201, "{created}");
    let key_id = str_of(&created["key"]["id"], "key id");
    let secret = str_of(&created["secret"], "secret");

    let call = |secret: &str| {
        curl(
            &[
                &format!("{base}/v1/accounts"),
                "-u",
                &format!("{secret}:"),
                "-H",
                &format!("X-Product-Key: {pk}"),
            ],
            false,
        )
    };
    let (status, data) = call(&secret);
    assert_eq!(status, 200, "{data}");
    assert_eq!(data["object"], "list", "{data}");

    // 4. Roll it (default grace: the old key keeps working for now).
    let (status, rolled) = curl(
        &[
            "-X",
            "POST",
            &format!("{base}/admin/v1/keys/{key_id}/roll"),
            "-H",
            &auth,
        ],
        true,
    );
    assert_eq!(status, 200, "{rolled}");
    let new_id = str_of(&rolled["key"]["id"], "new key id");
    let new_secret = str_of(&rolled["secret"], "new secret");
    assert_eq!(rolled["previous"]["rolled_to"], json!(new_id));
    assert_eq!(call(&new_secret).0, 200);
    assert_eq!(call(&secret).0, 200, "the old key during its grace period");

    // 5. Disable the new key.
    let (status, disabled) = curl(
        &[
            "-X",
            "PATCH",
            &format!("{base}/admin/v1/keys/{new_id}"),
            "-H",
            &auth,
            "-H",
            ctype,
            "-d",
            r#"{"status": "disabled"}"#,
        ],
        false,
    );
    assert_eq!(status, 200, "{disabled}");
    assert_eq!(disabled["status"], "disabled");
    let (status, refused) = call(&new_secret);
    assert_eq!(status, 401, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("disabled"),
        "{refused}"
    );

    // The listing shows both keys, without secrets.
    let (status, list) = curl(
        &[
            &format!("{base}/admin/v1/accounts/{acct}/keys"),
            "-H",
            &auth,
        ],
        false,
    );
    assert_eq!(status, 200, "{list}");
    let ids: Vec<String> = list["data"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(ids, [key_id, new_id]);
}

//! Plain-HTTP exposure.

use super::*;

pub(crate) fn plain_http_exposure_marks_the_key_leaked_once(_: &Ctx) {
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

pub(crate) fn ids(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

//! Tenant isolation and concurrency.

use super::*;

pub(crate) fn tenant_isolation(c: &Ctx) {
    let a = sandboxed(c, "tenant a");
    let b = sandboxed(c, "tenant b");
    assert_ne!(a.product_key, b.product_key);

    // A's secret with B's product key: 404, like an unknown product key.
    let cross = edge(c, &a.secret, "/v1/accounts", Some(&b.product_key));
    assert_eq!(cross.status, 404, "{cross}");
    let unknown = edge(
        c,
        &a.secret,
        "/v1/accounts",
        Some("pk_test_00000000000000000000000000000000000000"),
    );
    assert_eq!(unknown.status, 404, "{unknown}");
    assert_eq!(cross.json["message"], unknown.json["message"]);

    // Each account lists its own keys only.
    for s in [&a, &b] {
        let r = admin(c, "GET", &format!("/accounts/{}/keys", s.account), None);
        assert_eq!(r.json["data"], json!([s.key]), "{r}");
    }

    // Changes to B do not touch A.
    admin(
        c,
        "PATCH",
        &format!("/accounts/{}", b.account),
        Some(&json!({"status": "suspended"})),
    )
    .expect_status(200);
    admin(
        c,
        "DELETE",
        &format!("/accounts/{}/products/bank_data", b.account),
        None,
    )
    .expect_status(204);
    assert_sandbox_ok(c, &a.secret, &a.product_key);
    let r = admin(c, "GET", &format!("/accounts/{}", a.account), None);
    assert_eq!(r.json["status"], "active");
    assert_eq!(r.json["products"], json!(["bank_data"]));

    // A manager key of A cannot reach B, even by B's product of the same id.
    let (_, m) = create_key(
        c,
        &a.account,
        &json!({"name": "manager", "environment": "test", "scopes": ["keys:manage"]}),
    );
    let r = manage(c, &m, "GET", &format!("/keys/{}", id_of(&b.key)), None);
    assert_eq!(r.status, 404, "{r}");
}

pub(crate) fn twenty_concurrent_key_creations_lose_none(c: &Ctx) {
    const N: usize = 20;
    let account = account_id(c, "twenty at once", "test");
    let pk = pk_test(&entitle(c, &account, "bank_data"));
    let barrier = Barrier::new(N);
    let created: Vec<(Value, String)> = thread::scope(|scope| {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let barrier = &barrier;
                let account = &account;
                scope.spawn(move || {
                    barrier.wait();
                    create_key(
                        c,
                        account,
                        &json!({"name": format!("concurrent {i:02}"), "environment": "test"}),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ids: BTreeSet<String> = created.iter().map(|(k, _)| id_of(k)).collect();
    let secrets: BTreeSet<&String> = created.iter().map(|(_, s)| s).collect();
    assert_eq!(ids.len(), N, "distinct ids");
    assert_eq!(secrets.len(), N, "distinct secrets");

    // All twenty are stored: the list has exactly them, each once.
    let r = admin(
        c,
        "GET",
        &format!("/accounts/{account}/keys?limit=100"),
        None,
    );
    let listed: Vec<String> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(listed.len(), N, "{r}");
    assert_eq!(listed.iter().cloned().collect::<BTreeSet<_>>(), ids);
    let names: BTreeSet<String> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), N, "{r}");
    assert_eq!(walk(c, &format!("/accounts/{account}/keys"), 7), listed);

    // Each one reads back and works at the edge.
    for (key, secret) in &created {
        assert_eq!(
            without_usage(&admin(c, "GET", &format!("/keys/{}", id_of(key)), None).json),
            without_usage(key)
        );
        assert_sandbox_ok(c, secret, &pk);
    }
}

pub(crate) fn concurrent_writes_to_one_account_lose_no_update(c: &Ctx) {
    let account = account_id(c, "concurrent writes", "production");
    let path = format!("/accounts/{account}");
    let writes: Vec<(&str, String, Option<Value>)> = vec![
        (
            "PATCH",
            path.clone(),
            Some(json!({"name": "renamed concurrently"})),
        ),
        (
            "PATCH",
            path.clone(),
            Some(json!({"allowed_ips": ["203.0.113.0/24"]})),
        ),
        ("PATCH", path.clone(), Some(json!({"status": "suspended"}))),
        ("PUT", format!("{path}/products/bank_data"), None),
        ("PUT", format!("{path}/products/payments"), None),
        ("PUT", format!("{path}/products/insurance"), None),
        (
            "POST",
            format!("{path}/keys"),
            Some(json!({"name": "k1", "environment": "test"})),
        ),
        (
            "POST",
            format!("{path}/keys"),
            Some(json!({"name": "k2", "environment": "live"})),
        ),
        (
            "POST",
            format!("{path}/keys"),
            Some(json!({"name": "k3", "environment": "test"})),
        ),
    ];
    let barrier = Barrier::new(writes.len());
    thread::scope(|scope| {
        for (method, path, body) in &writes {
            let barrier = &barrier;
            scope.spawn(move || {
                barrier.wait();
                let r = admin(c, method, path, body.as_ref());
                assert!((200..300).contains(&r.status), "{r}");
            });
        }
    });
    let r = admin(c, "GET", &path, None);
    assert_eq!(r.json["name"], "renamed concurrently", "{r}");
    assert_eq!(r.json["allowed_ips"], json!(["203.0.113.0/24"]), "{r}");
    assert_eq!(r.json["status"], "suspended", "{r}");
    assert_eq!(r.json["agreement"], "production", "{r}");
    let mut products: Vec<String> = r.json["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    products.sort();
    assert_eq!(products, ["bank_data", "insurance", "payments"], "{r}");
    let r = admin(c, "GET", &format!("{path}/keys"), None);
    let mut names: Vec<&str> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["k1", "k2", "k3"], "{r}");
}

pub(crate) fn concurrent_patches_to_one_key_lose_no_update(c: &Ctx) {
    let s = sandboxed(c, "concurrent key patches");
    let path = format!("/keys/{}", id_of(&s.key));
    let expires = now() + 10 * DAY;
    let patches = [
        json!({"name": "patched concurrently"}),
        json!({"scopes": ["accounts:read"]}),
        json!({"allowed_ips": ["192.0.2.0/24"]}),
        json!({"products": ["bank_data"]}),
        json!({"expires_at": expires}),
        json!({"status": "disabled"}),
    ];
    let barrier = Barrier::new(patches.len());
    thread::scope(|scope| {
        for body in &patches {
            let barrier = &barrier;
            let path = &path;
            scope.spawn(move || {
                barrier.wait();
                admin(c, "PATCH", path, Some(body)).expect_status(200);
            });
        }
    });
    let k = admin(c, "GET", &path, None).json;
    assert_eq!(k["name"], "patched concurrently", "{k}");
    assert_eq!(k["scopes"], json!(["accounts:read"]), "{k}");
    assert_eq!(k["allowed_ips"], json!(["192.0.2.0/24"]), "{k}");
    assert_eq!(k["products"], json!(["bank_data"]), "{k}");
    assert_eq!(k["expires_at"], json!(expires), "{k}");
    assert_eq!(k["status"], "disabled", "{k}");
}

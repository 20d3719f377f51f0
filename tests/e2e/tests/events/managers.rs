//! Trial 2: a manager acts as itself and sees its own account only.

use super::*;

pub(crate) fn managers_act_as_themselves_and_see_only_their_account(c: &Ctx) {
    let gw = &c.gw;
    let o = Who::Operator;
    let since = now();
    let (id, mut log) = logged_account(gw, "managed");
    let keys_path = format!("/accounts/{id}/keys");
    let body = |name: &str| json!({"name": name, "environment": "test"});
    let r = op(gw, "POST", &keys_path, Some(&body("manager")));
    let manager = log.created_key(&r, o, 201);

    // Everything the manager does names it.
    let m = Who::Key(&manager);
    let r = act(gw, m, "POST", &keys_path, Some(&body("a")));
    let t = log.created_key(&r, m, 201);
    let t_path = format!("/keys/{}", t.id);
    let mut last = t.view.clone();
    for (patch, kind) in [
        (json!({"name": "b"}), "key.updated"),
        (json!({"status": "disabled"}), "key.disabled"),
        (json!({"status": "active"}), "key.enabled"),
    ] {
        let r = act(gw, m, "PATCH", &t_path, Some(&patch));
        assert_eq!(r.status, 200, "{patch} by the manager: {r}");
        log.push(
            &r,
            m,
            kind,
            Some(&t.id),
            Want::Exact(changed(&last, &r.json)),
        );
        last = r.json.clone();
    }
    let r = act(gw, m, "POST", &format!("{t_path}/roll"), None);
    let successor = log.rolled_key(&r, m, &t.id, &last);
    let t_last = r.json["previous"].clone();
    let r = act(
        gw,
        m,
        "POST",
        &format!("/keys/{}/leaked", successor.id),
        None,
    );
    assert_eq!(r.status, 200, "leaked by the manager: {r}");
    let leaked = changed(&successor.view, &r.json);
    log.push(
        &r,
        m,
        "key.leaked",
        Some(&successor.id),
        Want::Exact(leaked),
    );
    let r = act(gw, m, "DELETE", &t_path, None);
    assert_eq!(r.status, 204, "deleted by the manager: {r}");
    log.push(
        &r,
        m,
        "key.deleted",
        Some(&t.id),
        Want::Exact(deleted(&t_last)),
    );

    // The manager reads its account's events as the operator does.
    let by_operator = all(gw, o, &id, "");
    assert_events(&by_operator, &log, since);
    assert_eq!(all(gw, m, &id, ""), by_operator, "the manager's read");

    // Another account's events, or an account that does not exist: 404 to the manager, read
    // fine by the operator.
    let r = new_account(gw, "not the manager's");
    let other = r.json["id"].as_str().expect("account id").to_string();
    let mut other_log = Log::new(&other);
    other_log.push(
        &r,
        o,
        "account.created",
        None,
        Want::Exact(created(&r.json)),
    );
    let r = op(
        gw,
        "POST",
        &format!("/accounts/{other}/keys"),
        Some(&body("theirs")),
    );
    let theirs = other_log.created_key(&r, o, 201);
    for account in [other.as_str(), "acct_doesnotexist"] {
        for query in ["", "type=key.created", "limit=1"] {
            let r = act(gw, m, "GET", &events_path(account, query), None);
            refused(&r, 404, &[]);
        }
    }
    assert_events(&all(gw, o, &other, ""), &other_log, since);
    // Its own account filtered by another account's key: nothing.
    let (data, has_more) = page(gw, m, &id, &format!("key_id={}", theirs.id));
    assert!(
        data.is_empty() && !has_more,
        "another account's key: {data:#?}"
    );

    // A key without keys:manage may not read its own account's events; nor may nobody.
    let r = op(
        gw,
        "POST",
        &keys_path,
        Some(&json!({"name": "plain", "environment": "test", "scopes": ["accounts:read"]})),
    );
    let plain = log.created_key(&r, o, 201);
    let r = act(gw, Who::Key(&plain), "GET", &events_path(&id, ""), None);
    refused(&r, 403, &[]);
    let path = format!("/admin/v1{}", events_path(&id, ""));
    for r in [
        gw.get(&path).send(),
        gw.get(&path).bearer("not-the-admin-token").send(),
    ] {
        audit(&r);
        refused(&r, 401, &[]);
    }

    // The operator deletes the manager: it reads nothing more, its events stay.
    let r = op(gw, "DELETE", &format!("/keys/{}", manager.id), None);
    r.expect_status(204);
    log.push(
        &r,
        o,
        "key.deleted",
        Some(&manager.id),
        Want::Exact(deleted(&manager.view)),
    );
    let r = act(gw, m, "GET", &events_path(&id, ""), None);
    refused(&r, 401, &[]);
    assert_events(&all(gw, o, &id, ""), &log, since);
}

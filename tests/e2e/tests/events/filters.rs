//! Trial 3: filters and pages walk every event once; anything else is 400.

use super::*;

pub(crate) fn filters_and_pages_walk_every_event_once(c: &Ctx) {
    let gw = &c.gw;
    let o = Who::Operator;
    let since = now();
    let (id, mut log) = logged_account(gw, "filtered");
    let keys_path = format!("/accounts/{id}/keys");
    let mut keys = Vec::new();
    for name in ["k1", "k2", "k3"] {
        let body = json!({"name": name, "environment": "test"});
        let r = op(gw, "POST", &keys_path, Some(&body));
        let k = log.created_key(&r, o, 201);
        keys.push(k);
    }
    let path = |k: &Key| format!("/keys/{}", k.id);
    let mut patch = |k: &Key, body: Value, kind: &'static str| {
        let before = view(gw, &path(k));
        let r = op(gw, "PATCH", &path(k), Some(&body));
        r.expect_status(200);
        log.push(
            &r,
            o,
            kind,
            Some(&k.id),
            Want::Exact(changed(&before, &r.json)),
        );
    };
    for name in ["a1", "a2", "a3"] {
        patch(&keys[0], json!({"name": name}), "key.updated");
    }
    for (status, kind) in [
        ("disabled", "key.disabled"),
        ("active", "key.enabled"),
        ("disabled", "key.disabled"),
    ] {
        patch(&keys[1], json!({"status": status}), kind);
    }
    let r = op(gw, "POST", &format!("{}/leaked", path(&keys[2])), None);
    r.expect_status(200);
    let leaked = changed(&keys[2].view, &r.json);
    log.push(&r, o, "key.leaked", Some(&keys[2].id), Want::Exact(leaked));
    let r = op(
        gw,
        "PATCH",
        &format!("/accounts/{id}"),
        Some(&json!({"name": "renamed"})),
    );
    r.expect_status(200);
    let renamed = json!({"before": {"name": "filtered"}, "after": {"name": "renamed"}});
    log.push(&r, o, "account.updated", None, Want::Exact(renamed));
    let before = view(gw, &path(&keys[0]));
    let r = op(gw, "POST", &format!("{}/roll", path(&keys[0])), None);
    let successor = log.rolled_key(&r, o, &keys[0].id, &before);
    let before = view(gw, &path(&keys[1]));
    let r = op(gw, "DELETE", &path(&keys[1]), None);
    r.expect_status(204);
    log.push(
        &r,
        o,
        "key.deleted",
        Some(&keys[1].id),
        Want::Exact(deleted(&before)),
    );

    let every = all(gw, o, &id, "");
    assert_events(&every, &log, since);
    assert_eq!(every.len(), 15, "the trial made 15 events");
    let every_ids = ids(&every);
    let only = |keep: &dyn Fn(&Value) -> bool| -> Vec<Value> {
        every.iter().filter(|e| keep(e)).cloned().collect()
    };

    // Another account, for its key and its events.
    let r = new_account(gw, "elsewhere");
    let other = r.json["id"].as_str().expect("account id").to_string();
    let body = json!({"name": "elsewhere", "environment": "test"});
    let r = op(gw, "POST", &format!("/accounts/{other}/keys"), Some(&body));
    let foreign_key = key_from(&r, 201).id;
    let foreign_event = all(gw, o, &other, "")[0]["id"]
        .as_str()
        .expect("an event of the other account")
        .to_string();

    // By type: each of them, those present and those not.
    for kind in TYPES {
        let filter = format!("type={kind}");
        let want = only(&|e| e["type"] == kind);
        assert_eq!(all(gw, o, &id, &filter), want, "{filter}");
    }
    // By key: each key, the successor, another account's key, a key that does not exist.
    let key_ids: Vec<&str> = keys
        .iter()
        .map(|k| k.id.as_str())
        .chain([successor.id.as_str(), &foreign_key, "key_doesnotexist"])
        .collect();
    for key in &key_ids {
        let filter = format!("key_id={key}");
        let want = only(&|e| e["key_id"] == *key);
        assert_eq!(all(gw, o, &id, &filter), want, "{filter}");
    }
    assert_eq!(only(&|e| e["key_id"] == json!(keys[0].id)).len(), 5);
    // Both.
    for (kind, key, count) in [
        ("key.updated", &keys[0].id, 3),
        ("key.disabled", &keys[1].id, 2),
        ("key.disabled", &keys[0].id, 0),
    ] {
        let filter = format!("type={kind}&key_id={key}");
        let want = only(&|e| e["type"] == kind && e["key_id"] == json!(key));
        assert_eq!(want.len(), count, "{filter}");
        assert_eq!(all(gw, o, &id, &filter), want, "{filter}");
    }

    // Pages: every limit walks every event once, newest first.
    for limit in [1, 2, 3, 4, 5, 7, 10, 14, 15, 16, 100] {
        let walked = walk(gw, &id, "", limit);
        assert_eq!(ids(&walked), every_ids, "walked by {limit}");
    }
    let by_key = format!("key_id={}", keys[1].id);
    for (filter, limit) in [("type=key.updated", 2), (by_key.as_str(), 1)] {
        let walked = walk(gw, &id, filter, limit);
        assert_eq!(
            walked,
            all(gw, o, &id, filter),
            "{filter} walked by {limit}"
        );
    }
    // The default limit is 10.
    let (first, has_more) = page(gw, o, &id, "");
    assert_eq!((ids(&first), has_more), (every_ids[..10].to_vec(), true));
    let after = format!("starting_after={}", every_ids[9]);
    let (rest, has_more) = page(gw, o, &id, &after);
    assert_eq!((ids(&rest), has_more), (every_ids[10..].to_vec(), false));
    let after = format!("starting_after={}", every_ids[14]);
    let (rest, has_more) = page(gw, o, &id, &after);
    assert!(rest.is_empty() && !has_more, "after the oldest: {rest:#?}");

    // Anything else: 400 naming the parameter.
    let bad = [
        ("type=bogus".to_string(), "type"),
        ("type=".to_string(), "type"),
        ("type=KEY.CREATED".to_string(), "type"),
        ("type=key".to_string(), "type"),
        ("type=key.*".to_string(), "type"),
        ("type=key.created,key.updated".to_string(), "type"),
        ("limit=0".to_string(), "limit"),
        ("limit=101".to_string(), "limit"),
        ("limit=-1".to_string(), "limit"),
        ("limit=ten".to_string(), "limit"),
        ("limit=".to_string(), "limit"),
        (
            "starting_after=evt_doesnotexist".to_string(),
            "starting_after",
        ),
        ("starting_after=".to_string(), "starting_after"),
        (format!("starting_after={foreign_event}"), "starting_after"),
        ("foo=1".to_string(), "foo"),
        (format!("account_id={id}"), "account_id"),
        ("Type=key.created".to_string(), "Type"),
        (format!("key={}", keys[0].id), "key"),
        ("type=key.created&foo=1".to_string(), "foo"),
        ("ending_before=evt_x".to_string(), "ending_before"),
        ("created_after=0".to_string(), "created_after"),
    ];
    for (query, field) in &bad {
        let r = op(gw, "GET", &events_path(&id, query), None);
        assert_eq!(r.status, 400, "events?{query}: {r}");
        refused(&r, 400, &[field]);
    }
    // GET only.
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let r = op(gw, method, &events_path(&id, ""), Some(&json!({})));
        refused(&r, 405, &[]);
        assert_eq!(r.header("allow"), Some("GET"), "{r}");
    }
    assert_eq!(
        all(gw, o, &id, ""),
        every,
        "the refused requests made no event"
    );
}

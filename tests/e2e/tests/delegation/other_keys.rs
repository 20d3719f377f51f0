//! Delegation (docs/admin-api.md): changes to other keys stay within the manager's limits; taking power away does not.

use super::*;

pub(crate) fn manager_cannot_loosen_another_key_but_may_take_it_away(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "loosen others");
    let limit = now() + 2 * DAY;
    let m = key(
        gw,
        &a.id,
        "manager",
        json!({"scopes": ["keys:manage", "accounts:read"],
               "allowed_ips": ["10.0.0.0/8"], "expires_at": limit}),
    );
    let wider = key(
        gw,
        &a.id,
        "wider",
        json!({"allowed_ips": ["10.1.0.0/16"], "expires_at": limit - DAY}),
    );
    let narrower = key(
        gw,
        &a.id,
        "narrower",
        json!({"scopes": ["accounts:read"], "allowed_ips": ["10.1.0.0/16"],
               "expires_at": limit - DAY}),
    );

    // (key, patch, fields named)
    let cases: [(&Key, Value, &[&str]); 6] = [
        (
            &wider,
            json!({"allowed_ips": [], "expires_at": null}),
            &["scopes", "allowed_ips", "expires_at"],
        ),
        // The key is wider than the manager already: any change but a disable is refused.
        (&wider, json!({"name": "renamed"}), &["scopes"]),
        (
            &narrower,
            json!({"allowed_ips": [], "expires_at": null}),
            &["allowed_ips", "expires_at"],
        ),
        (
            &narrower,
            json!({"allowed_ips": ["0.0.0.0/0"]}),
            &["allowed_ips"],
        ),
        (
            &narrower,
            json!({"expires_at": limit + DAY}),
            &["expires_at"],
        ),
        (&narrower, json!({"scopes": ["accounts:*"]}), &["scopes"]),
    ];
    for (k, patch, fields) in cases {
        let before = view(gw, &k.id);
        let r = manage(
            gw,
            &m.secret,
            "PATCH",
            &format!("/keys/{}", k.id),
            Some(&patch),
        );
        refused(&r, 403, fields);
        assert_eq!(
            without_usage(&view(gw, &k.id)),
            without_usage(&before),
            "the refused {patch} changed the key"
        );
        assert_works(gw, &k.secret, &a.pk, "after a refused change");
    }
    // Within its limits: fine.
    let r = manage(
        gw,
        &m.secret,
        "PATCH",
        &format!("/keys/{}", narrower.id),
        Some(&json!({"allowed_ips": ["10.2.0.0/16", "10.1.2.3"], "expires_at": limit})),
    );
    assert_eq!(r.status, 200, "a change within the manager's limits: {r}");

    // Taking the wider key's power away is allowed: disable, report leaked, delete.
    let path = format!("/keys/{}", wider.id);
    let r = manage(
        gw,
        &m.secret,
        "PATCH",
        &path,
        Some(&json!({"status": "disabled"})),
    );
    assert_eq!(r.status, 200, "disable: {r}");
    assert_refused(gw, &wider.secret, &a.pk, "disabled by the manager");
    let r = manage(gw, &m.secret, "POST", &format!("{path}/leaked"), None);
    assert_eq!(r.status, 200, "report leaked: {r}");
    assert!(r.json["leaked_at"].is_i64(), "{r}");
    let r = manage(gw, &m.secret, "DELETE", &path, None);
    assert_eq!(r.status, 204, "delete: {r}");
    op(gw, "GET", &path, None).expect_status(404);
    assert_refused(gw, &wider.secret, &a.pk, "deleted by the manager");
}

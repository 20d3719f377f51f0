//! Delegation (docs/admin-api.md): a manager cannot loosen its own restrictions.

use super::*;

pub(crate) fn manager_cannot_loosen_itself(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "loosen itself");
    let (m, limit) = fenced_manager(gw, &a);
    let path = format!("/keys/{}", m.id);
    let loosen = |patch: Value, fields: &[&str]| {
        let before = view(gw, &m.id);
        let r = manage(gw, &m.secret, "PATCH", &path, Some(&patch));
        refused(&r, 403, fields);
        assert_eq!(
            without_usage(&view(gw, &m.id)),
            without_usage(&before),
            "the refused {patch} changed the key"
        );
    };
    let cases: [(Value, &[&str]); 8] = [
        (json!({"allowed_ips": []}), &["allowed_ips"]),
        (
            json!({"allowed_ips": ["10.0.0.0/8", "11.0.0.0/8"]}),
            &["allowed_ips"],
        ),
        (json!({"expires_at": null}), &["expires_at"]),
        (json!({"expires_at": limit + DAY}), &["expires_at"]),
        (
            json!({"allowed_ips": [], "expires_at": null}),
            &["allowed_ips", "expires_at"],
        ),
        (json!({"scopes": ["*"]}), &["scopes"]),
        (json!({"products": []}), &["products"]),
        (
            json!({"products": ["bank_data", "payments"]}),
            &["products"],
        ),
    ];
    for (patch, fields) in cases {
        loosen(patch, fields);
    }

    // Tightening itself is fine, and then binds it.
    let tighter = json!({"allowed_ips": ["10.1.0.0/16"], "expires_at": limit - 3600});
    let r = manage(gw, &m.secret, "PATCH", &path, Some(&tighter));
    assert_eq!(r.status, 200, "tightening itself: {r}");
    assert_eq!(r.json["allowed_ips"], tighter["allowed_ips"], "{r}");
    assert_eq!(r.json["expires_at"], tighter["expires_at"], "{r}");
    loosen(json!({"allowed_ips": ["10.0.0.0/8"]}), &["allowed_ips"]);
    loosen(json!({"expires_at": limit}), &["expires_at"]);
    assert_works(gw, &m.secret, &a.pk, "the tightened manager");
}

//! Delegation (docs/admin-api.md): every key a manager creates is within its scopes, products, allowlist and expiry.

use super::*;

pub(crate) fn manager_mints_keys_only_within_its_own_limits(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "mint within");
    let (m, limit) = fenced_manager(gw, &a);
    let path = format!("/accounts/{}/keys", a.id);

    // From outside its own allowlist the manager cannot even ask.
    let ok = key_body(
        "minted",
        json!({"scopes": ["accounts:read"], "allowed_ips": ["10.1.0.0/16"],
               "expires_at": limit - 3600, "products": ["bank_data"]}),
    );
    let r = as_key(gw, "11.1.2.3", &m.secret, "POST", &path, Some(&ok));
    assert_eq!(r.status, 403, "a manager outside its allowlist: {r}");

    // `ok` with the fields of the change replaced; a null leaves the field out.
    let variant = |change: Value| {
        let mut b = ok.clone();
        for (field, value) in change.as_object().unwrap() {
            match value {
                Value::Null => b.as_object_mut().unwrap().remove(field),
                v => b.as_object_mut().unwrap().insert(field.clone(), v.clone()),
            };
        }
        b
    };
    let cases: [(Value, &[&str]); 13] = [
        (json!({"allowed_ips": null}), &["allowed_ips"]),
        (json!({"allowed_ips": ["11.0.0.0/8"]}), &["allowed_ips"]),
        (json!({"allowed_ips": ["0.0.0.0/0"]}), &["allowed_ips"]),
        (
            json!({"allowed_ips": ["10.0.0.0/8", "11.0.0.0/8"]}),
            &["allowed_ips"],
        ),
        (json!({"allowed_ips": ["::/0"]}), &["allowed_ips"]),
        (json!({"expires_at": null}), &["expires_at"]),
        (json!({"expires_at": limit + 3600}), &["expires_at"]),
        (json!({"products": []}), &["products"]),
        (json!({"products": null}), &["products"]),
        (json!({"products": ["payments"]}), &["products"]),
        (
            json!({"products": ["bank_data", "payments"]}),
            &["products"],
        ),
        (json!({"scopes": null}), &["scopes"]),
        (
            json!({"scopes": null, "allowed_ips": null, "expires_at": null, "products": null}),
            &["scopes", "allowed_ips", "expires_at", "products"],
        ),
    ];
    for (change, fields) in cases {
        let r = manage(gw, &m.secret, "POST", &path, Some(&variant(change.clone())));
        refused(&r, 403, fields);
    }
    assert_eq!(
        ids(&keys(gw, &a.id)),
        std::slice::from_ref(&m.id),
        "a refused create issued a key"
    );

    // Within every limit, and exactly at them: 201.
    let within = key_from(&manage(gw, &m.secret, "POST", &path, Some(&ok)), 201);
    for field in ["scopes", "allowed_ips", "expires_at", "products"] {
        assert_eq!(within.view[field], ok[field], "{field} of the minted key");
    }
    assert_works(gw, &within.secret, &a.pk, "a minted key");
    let r = get_accounts(gw, "10.2.0.1", &within.secret, &a.pk);
    assert_eq!(r.status, 403, "the minted key's allowlist applies: {r}");
    let at = variant(json!({"allowed_ips": ["10.0.0.0/8"], "expires_at": limit}));
    key_from(&manage(gw, &m.secret, "POST", &path, Some(&at)), 201);
}

//! The attacks from the delegation issue, as a manager sends them.

use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[test]
fn a_narrow_manager_cannot_re_enable_a_key_the_operator_disabled() {
    let mut w = World::new();
    let m = w.manager(key_body(
        json!({"scopes": ["keys:manage", "accounts:read"]}),
    ));
    let wide = w.key(key_body(json!({})));
    w.patch(&Caller::Operator, &wide, json!({"status": "disabled"}))
        .unwrap();
    assert_eq!(w.store.key_by_id(&wide).disabled_by, Some(Actor::Operator));
    let e = w.patch(&m, &wide, json!({"status": "active"})).unwrap_err();
    assert_eq!(e.status, 403);
    // Not even a manager holding every scope: the operator's decision stands.
    let boss = w.manager(key_body(json!({"scopes": ["*"]})));
    let e = w
        .patch(&boss, &wide, json!({"status": "active"}))
        .unwrap_err();
    assert!(e.message.contains("admin token"), "{e:?}");
    w.patch(&Caller::Operator, &wide, json!({"status": "active"}))
        .unwrap();
    assert_eq!(w.store.key_by_id(&wide).disabled_by, None);
}

#[test]
fn a_key_a_manager_disabled_can_be_re_enabled_within_its_limits() {
    let mut w = World::new();
    let m = w.manager(key_body(
        json!({"scopes": ["keys:manage", "accounts:read"]}),
    ));
    let child = w.key(key_body(json!({"scopes": ["accounts:read"]})));
    w.patch(&m, &child, json!({"status": "disabled"})).unwrap();
    let Caller::Manager { key_id } = &m else {
        unreachable!()
    };
    assert_eq!(
        w.store.key_by_id(&child).disabled_by,
        Some(Actor::Key {
            key_id: key_id.clone()
        })
    );
    w.patch(&m, &child, json!({"status": "active"})).unwrap();
}

#[test]
fn a_manager_can_disable_leak_and_delete_a_wider_key_but_not_widen_or_restore_it() {
    let mut w = World::new();
    let m = w.manager(key_body(
        json!({"scopes": ["keys:manage", "accounts:read"], "allowed_ips": ["10.0.0.0/8"]}),
    ));
    let wide = w.key(key_body(
        json!({"allowed_ips": ["10.1.0.0/16"], "expires_at": NOW + DAY}),
    ));
    // Loosening: clearing the allowlist and the expiry of a wider key.
    let e = w
        .patch(&m, &wide, json!({"allowed_ips": [], "expires_at": null}))
        .unwrap_err();
    assert_eq!(e.status, 403);
    assert!(fields(&e).contains(&"scopes"), "{e:?}");
    assert!(fields(&e).contains(&"allowed_ips"), "{e:?}");
    // Taking power away is always allowed.
    w.patch(&m, &wide, json!({"status": "disabled"})).unwrap();
    w.ok(
        &m,
        Command::LeakKey {
            key_id: wide.clone(),
            body: None,
        },
    );
    w.ok(&m, Command::DeleteKey { key_id: wide });
}

#[test]
fn a_manager_mints_only_keys_within_its_own_limits() {
    let mut w = World::new();
    let m = w.manager(key_body(json!({
        "scopes": ["keys:manage", "accounts:read", "quotes:*"],
        "products": ["bank_data"],
        "allowed_ips": ["10.0.0.0/8", "2001:db8::/32"],
        "expires_at": NOW + 10 * DAY,
    })));
    let within = json!({
        "scopes": ["accounts:read", "quotes:read"],
        "products": ["bank_data"],
        "allowed_ips": ["10.1.2.0/24", "2001:db8:1::/48"],
        "expires_at": NOW + DAY,
    });
    w.ok(&m, create(&w, key_body(within.clone())));
    // Each setting beyond the manager's, one at a time: the refusal names that field.
    for (field, value) in [
        ("scopes", json!(["transactions:read"])),
        ("scopes", json!(["*"])),
        ("products", json!([])),
        ("products", json!(["insurance"])),
        ("allowed_ips", json!([])),
        ("allowed_ips", json!(["11.0.0.0/8"])),
        ("allowed_ips", json!(["0.0.0.0/0"])),
        ("allowed_ips", json!(["2001:db9::/32"])),
        ("expires_at", json!(null)),
        ("expires_at", json!(NOW + 11 * DAY)),
    ] {
        let mut body = within.clone();
        body[field] = value.clone();
        let mut body = key_body(body);
        if value.is_null() {
            body.as_object_mut().unwrap().remove(field);
        }
        let e = w.refused(&m, create(&w, body));
        assert_eq!(e.status, 403, "{field} = {value}");
        assert_eq!(fields(&e), [field], "{field} = {value}: {e:?}");
    }
}

#[test]
fn defaults_are_all_scopes_and_no_restrictions_so_a_restricted_manager_must_narrow() {
    let mut w = World::new();
    let m = w.manager(key_body(
        json!({"scopes": ["keys:manage"], "allowed_ips": ["10.0.0.0/8"]}),
    ));
    let e = w.refused(&m, create(&w, key_body(json!({}))));
    assert_eq!(fields(&e), ["scopes", "allowed_ips"]);
}

#[test]
fn a_manager_cannot_loosen_its_own_restrictions() {
    let mut w = World::new();
    let m = w.manager(key_body(json!({
        "scopes": ["keys:manage", "accounts:read"],
        "allowed_ips": ["10.0.0.0/8"],
        "expires_at": NOW + DAY,
        "products": ["bank_data"],
    })));
    let Caller::Manager { key_id } = m.clone() else {
        unreachable!()
    };
    for (field, value) in [
        ("expires_at", json!(null)),
        ("expires_at", json!(NOW + 2 * DAY)),
        ("allowed_ips", json!([])),
        ("allowed_ips", json!(["10.0.0.0/7"])),
        ("products", json!([])),
        (
            "scopes",
            json!(["keys:manage", "accounts:read", "transactions:read"]),
        ),
    ] {
        let e = w.patch(&m, &key_id, json!({ field: value })).unwrap_err();
        assert_eq!(fields(&e), [field], "{field} = {value}: {e:?}");
    }
    // Tightening itself is fine.
    w.patch(
        &m,
        &key_id,
        json!({"allowed_ips": ["10.1.0.0/16"], "expires_at": NOW + 60}),
    )
    .unwrap();
}

#[test]
fn keys_that_are_leaked_rolled_disabled_or_expired_cannot_manage() {
    let mut w = World::new();
    let body = key_body(json!({"scopes": ["keys:manage", "accounts:read"]}));
    let child = key_body(json!({"scopes": ["accounts:read"]}));

    let leaked = w.manager(body.clone());
    let Caller::Manager { key_id } = leaked.clone() else {
        unreachable!()
    };
    w.ok(&Caller::Operator, Command::LeakKey { key_id, body: None });
    let e = w.refused(&leaked, create(&w, child.clone()));
    assert!(e.message.contains("leaked"), "{e:?}");

    let rolled = w.manager(body.clone());
    let Caller::Manager { key_id } = rolled.clone() else {
        unreachable!()
    };
    w.ok(&Caller::Operator, Command::RollKey { key_id, body: None });
    let e = w.refused(&rolled, create(&w, child.clone()));
    assert!(e.message.contains("rolled"), "{e:?}");

    let disabled = w.manager(body.clone());
    let Caller::Manager { key_id } = disabled.clone() else {
        unreachable!()
    };
    w.patch(&Caller::Operator, &key_id, json!({"status": "disabled"}))
        .unwrap();
    assert_eq!(w.refused(&disabled, create(&w, child.clone())).status, 401);

    let mut expiring = body.clone();
    expiring["expires_at"] = json!(NOW + 1);
    let expired = w.manager(expiring);
    let Caller::Manager { key_id } = &expired else {
        unreachable!()
    };
    w.store
        .keys
        .iter_mut()
        .find(|k| k.key.id == *key_id)
        .unwrap()
        .key
        .expires_at = Some(NOW);
    assert_eq!(w.refused(&expired, create(&w, child.clone())).status, 401);

    let deleted = Caller::Manager {
        key_id: "key_gone".into(),
    };
    assert_eq!(w.refused(&deleted, create(&w, child.clone())).status, 401);

    let plain = w.manager(key_body(json!({"scopes": ["accounts:read"]})));
    assert_eq!(w.refused(&plain, create(&w, child.clone())).status, 403);

    w.ok(
        &Caller::Operator,
        Command::UpdateAccount {
            account_id: w.account(),
            body: json!({"status": "suspended"}),
        },
    );
    let active = w.manager(body);
    assert_eq!(w.refused(&active, create(&w, child)).status, 401);
}

#[test]
fn a_roll_hands_over_a_secret_only_for_a_key_within_the_managers_limits() {
    let mut w = World::new();
    let m = w.manager(key_body(
        json!({"scopes": ["keys:manage", "accounts:read"]}),
    ));
    let wide = w.key(key_body(json!({})));
    let e = w.refused(
        &m,
        Command::RollKey {
            key_id: wide,
            body: None,
        },
    );
    assert_eq!(fields(&e), ["scopes"]);
    let narrow = w.key(key_body(json!({"scopes": ["accounts:read"]})));
    let outcome = w.ok(
        &m,
        Command::RollKey {
            key_id: narrow,
            body: None,
        },
    );
    assert!(
        outcome.body.unwrap()["secret"]
            .as_str()
            .unwrap()
            .starts_with("sk_live_")
    );
}

#[test]
fn a_test_manager_touches_test_keys_only() {
    let mut w = World::new();
    let m = w.manager(json!({"name": "ci", "environment": "test"}));
    let live = w.key(key_body(json!({})));
    assert_eq!(w.refused(&m, create(&w, key_body(json!({})))).status, 403);
    for command in [
        Command::GetKey {
            key_id: live.clone(),
        },
        Command::LeakKey {
            key_id: live.clone(),
            body: None,
        },
        Command::DeleteKey {
            key_id: live.clone(),
        },
        Command::RollKey {
            key_id: live.clone(),
            body: None,
        },
    ] {
        let e = w.run(&m, command.clone());
        match command {
            // Reading is fine: the view holds no secret.
            Command::GetKey { .. } => assert!(e.is_ok()),
            _ => assert_eq!(e.unwrap_err().status, 403, "{command:?}"),
        }
    }
    w.ok(&m, create(&w, json!({"name": "t", "environment": "test"})));
}

#[test]
fn a_manager_reads_its_own_account_and_product_keys() {
    let mut w = World::new();
    let m = w.manager(key_body(json!({"scopes": ["keys:manage"]})));
    w.new_account("Other", "production");
    let list = w
        .ok(
            &m,
            Command::ListAccounts {
                page: PageParams::default(),
            },
        )
        .body
        .unwrap();
    let ids: Vec<&Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["id"])
        .collect();
    assert_eq!(ids, [&json!(w.account())], "{list}");
    assert_eq!(list["has_more"], json!(false));
    let account = w
        .ok(
            &m,
            Command::GetAccount {
                account_id: w.account(),
            },
        )
        .body
        .unwrap();
    assert_eq!(account["id"], json!(w.account()));
    let operator_view = w
        .ok(
            &Caller::Operator,
            Command::GetEntitlement {
                account_id: w.account(),
                product_id: "bank_data".into(),
            },
        )
        .body;
    let manager_view = w
        .ok(
            &m,
            Command::GetEntitlement {
                account_id: w.account(),
                product_id: "bank_data".into(),
            },
        )
        .body;
    assert_eq!(manager_view, operator_view);
}

#[test]
fn a_manager_sees_only_its_own_account() {
    let mut w = World::new();
    let m = w.manager(key_body(json!({"scopes": ["keys:manage"]})));
    let other = w.new_account("Other", "production");
    let theirs = w.key_in(other.clone(), key_body(json!({})));
    for command in [
        Command::ListKeys {
            account_id: other.clone(),
            page: PageParams::default(),
        },
        Command::CreateKey {
            account_id: other.clone(),
            body: key_body(json!({})),
        },
        Command::GetKey {
            key_id: theirs.clone(),
        },
        Command::UpdateKey {
            key_id: theirs.clone(),
            body: json!({"status": "disabled"}),
        },
        Command::DeleteKey {
            key_id: theirs.clone(),
        },
    ] {
        assert_eq!(w.refused(&m, command).status, 404);
    }
    for command in [
        Command::GetAccount {
            account_id: other.clone(),
        },
        Command::GetEntitlement {
            account_id: other.clone(),
            product_id: "bank_data".into(),
        },
    ] {
        assert_eq!(w.refused(&m, command).status, 404);
    }
    for command in [
        Command::UpdateAccount {
            account_id: w.account(),
            body: json!({"name": "x"}),
        },
        Command::Entitle {
            account_id: w.account(),
            product_id: "bank_data".into(),
        },
        Command::LeakReport { body: json!([]) },
    ] {
        assert_eq!(w.refused(&m, command).status, 403);
    }
}

//! Delegation (docs/admin-api.md): a key reported leaked, or rolled, cannot act as a manager.

use super::*;

pub(crate) fn leaked_or_rolled_manager_cannot_manage(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "leaked or rolled");
    let scopes = json!({"scopes": ["keys:manage", "accounts:read"]});
    let leaked = key(gw, &a.id, "leaked manager", scopes.clone());
    let rolled = key(gw, &a.id, "rolled manager", scopes);
    let path = format!("/accounts/{}/keys", a.id);
    let create = json!({"name": "made", "environment": "test", "scopes": ["accounts:read"]});

    let r = op(gw, "POST", &format!("/keys/{}/leaked", leaked.id), None);
    r.expect_status(200);
    let revoke_at = r.json["revoke_at"].as_i64().expect("revoke_at");
    assert!(
        (revoke_at - (now() + 3 * DAY)).abs() < 60,
        "default leak grace is 3 days: {r}"
    );
    let r = op(
        gw,
        "POST",
        &format!("/keys/{}/roll", rolled.id),
        Some(&json!({})),
    );
    r.expect_status(200);
    let successor = r.json["secret"].as_str().expect("secret").to_string();

    for (k, why) in [(&leaked, "leaked"), (&rolled, "rolled")] {
        assert_works(gw, &k.secret, &a.pk, &format!("{why}, in its grace period"));
        let r = manage(gw, &k.secret, "POST", &path, Some(&create));
        let message = refused(&r, 403, &[]);
        assert!(
            message.contains(why),
            "the refusal should say the key was {why}: {r}"
        );
    }
    let before = keys(gw, &a.id).len();
    assert_eq!(before, 3, "the refused creates issued a key");
    key_from(&manage(gw, &successor, "POST", &path, Some(&create)), 201);
}

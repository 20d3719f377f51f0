//! Trial 4: the account's default, a key's own limit, falling back.

use super::*;

pub(crate) fn account_default_applies_unless_the_key_has_its_own(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "account default", json!({"rate_limit": limit(2, 60)}));
    let account_path = format!("/accounts/{}", a.id);
    let plain = key(gw, &a.id, "no own limit", json!({}));
    let looser = key(gw, &a.id, "own 5", json!({"rate_limit": limit(5, 60)}));
    let stricter = key(gw, &a.id, "own 1", json!({"rate_limit": limit(1, 60)}));
    let send = |k: &Key| edge(gw, &k.secret, &a.pk);

    // The default applies to a key without its own limit.
    assert_eq!(
        plain.view["rate_limit"],
        Value::Null,
        "the key has none of its own"
    );
    assert_eq!(assert_granted(&send(&plain), 2, 60, "default 1").0, 1);
    assert_eq!(assert_granted(&send(&plain), 2, 60, "default 2").0, 0);
    assert_limited(&send(&plain), 2, 60, "default 3");

    // A key's own limit overrides it, looser or stricter.
    for i in 1..=3 {
        let r = send(&looser);
        assert_eq!(assert_granted(&r, 5, 60, "own 5").0, 5 - i, "{r}");
    }
    assert_eq!(assert_granted(&send(&stricter), 1, 60, "own 1").0, 0);
    assert_limited(&send(&stricter), 1, 60, "own 1, second");

    // Removing the key's own limit falls back to the account's (its 3 grants still count).
    let r = op(
        gw,
        "PATCH",
        &format!("/keys/{}", looser.id),
        Some(&json!({"rate_limit": null})),
    );
    r.expect_status(200);
    assert_eq!(r.json["rate_limit"], Value::Null, "{r}");
    assert_limited(&send(&looser), 2, 60, "own limit removed");

    // A new default applies to keys without their own; not to the others.
    let r = op(
        gw,
        "PATCH",
        &account_path,
        Some(&json!({"rate_limit": limit(4, 60)})),
    );
    r.expect_status(200);
    assert_eq!(assert_granted(&send(&plain), 4, 60, "new default").0, 1);
    assert_limited(&send(&stricter), 1, 60, "own 1 under a new default");

    // No default: keys without their own limit are unlimited; the others stay limited.
    op(
        gw,
        "PATCH",
        &account_path,
        Some(&json!({"rate_limit": null})),
    )
    .expect_status(200);
    for k in [&plain, &looser] {
        let r = send(k);
        assert_eq!(r.status, 200, "no limit left: {r}");
        assert_unlimited(&r, "no limit left");
    }
    assert_limited(&send(&stricter), 1, 60, "own 1 without a default");

    // A key created under a default shows none of its own but is limited by it.
    op(
        gw,
        "PATCH",
        &account_path,
        Some(&json!({"rate_limit": limit(3, 60)})),
    )
    .expect_status(200);
    let later = key(gw, &a.id, "later", json!({}));
    assert_eq!(later.view["rate_limit"], Value::Null, "{}", later.view);
    assert_eq!(assert_granted(&send(&later), 3, 60, "later key").0, 2);
}

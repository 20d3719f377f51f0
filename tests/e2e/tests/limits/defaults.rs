//! Trial 4: the account's limit is one budget shared by all its keys; a key's own limit can
//! only be tighter (issue 20: a manager, its children and a roll successor used to get the
//! account's limit each).

use super::*;

pub(crate) fn account_limit_is_shared_and_a_keys_own_only_tightens(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "account limit", json!({"rate_limit": limit(4, 60)}));
    let account_path = format!("/accounts/{}", a.id);
    let plain = key(gw, &a.id, "no own limit", json!({}));
    let looser = key(gw, &a.id, "own 5", json!({"rate_limit": limit(5, 60)}));
    let stricter = key(gw, &a.id, "own 1", json!({"rate_limit": limit(1, 60)}));
    let send = |k: &Key| edge(gw, &k.secret, &a.pk);
    assert_eq!(plain.view["rate_limit"], Value::Null, "no limit of its own");

    // Every key draws on the account's 4; the headers show the window that binds (fewer left).
    assert_eq!(assert_granted(&send(&plain), 4, 60, "plain, 1st").0, 3);
    assert_eq!(assert_granted(&send(&looser), 4, 60, "own 5, 1st").0, 2);
    assert_eq!(assert_granted(&send(&stricter), 1, 60, "own 1, 1st").0, 0);
    // The key's own window refuses; that refusal spends nothing of the account's.
    let r = send(&stricter);
    assert_limited(&r, 1, 60, "own 1, 2nd");
    assert!(refused(&r, 429, &[]).contains("API key"), "{r}");
    assert_eq!(assert_granted(&send(&plain), 4, 60, "plain, 2nd").0, 0);
    // The account's budget is spent: a looser limit of the key's own does not help.
    let r = send(&looser);
    assert_limited(&r, 4, 60, "own 5, account spent");
    assert!(refused(&r, 429, &[]).contains("account"), "{r}");

    // Without an account limit, a key without its own is unlimited; the others keep theirs.
    op(
        gw,
        "PATCH",
        &account_path,
        Some(&json!({"rate_limit": null})),
    )
    .expect_status(200);
    let r = send(&plain);
    assert_eq!(r.status, 200, "no limit left: {r}");
    assert_unlimited(&r, "no limit left");
    assert_eq!(assert_granted(&send(&looser), 5, 60, "own 5 alone").0, 3);
    assert_limited(&send(&stricter), 1, 60, "own 1 without an account limit");

    // A new account limit counts on from the grants its window holds (4 made under it).
    op(
        gw,
        "PATCH",
        &account_path,
        Some(&json!({"rate_limit": limit(10, 60)})),
    )
    .expect_status(200);
    assert_eq!(assert_granted(&send(&plain), 10, 60, "new limit").0, 5);
    assert_eq!(assert_granted(&send(&looser), 5, 60, "own 5 binds").0, 2);
}

/// The finding reproduced: account 3/60 s, a manager with 3/60 s of its own, three children it
/// minted and a roll successor, all firing at once. They used to get 3 each (18 grants).
pub(crate) fn a_managers_children_and_successors_share_the_account_limit(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "shared bucket", json!({"rate_limit": limit(3, 60)}));
    let manager = key(
        gw,
        &a.id,
        "manager",
        json!({"scopes": ["keys:manage", "accounts:read"], "rate_limit": limit(3, 60)}),
    );
    let keys_path = format!("/accounts/{}/keys", a.id);
    let mint = |name: &str| {
        let body = key_body(
            name,
            json!({"scopes": ["accounts:read"], "rate_limit": limit(3, 60)}),
        );
        key_from(
            &as_key(gw, INSIDE, &manager.secret, "POST", &keys_path, Some(&body)),
            201,
        )
    };
    let children = [mint("child 1"), mint("child 2"), mint("child 3")];
    let roll = json!({"grace_seconds": 3600});
    let successor = key_from(
        &as_key(
            gw,
            INSIDE,
            &manager.secret,
            "POST",
            &format!("/keys/{}/roll", children[0].id),
            Some(&roll),
        ),
        200,
    );
    let mut secrets: Vec<&str> = children.iter().map(|k| k.secret.as_str()).collect();
    secrets.push(&manager.secret);
    secrets.push(&successor.secret);
    let per_key = 4;
    let answers = burst(secrets.len() * per_key, |i| {
        edge(gw, secrets[i % secrets.len()], &a.pk)
    });
    let granted = answers.iter().filter(|r| r.status == 200).count();
    eprintln!(
        "measured: {} keys of one account (3/60 s), {} requests at once: {granted} granted",
        secrets.len(),
        answers.len()
    );
    assert_exactly_n_granted(&answers, 3, 60, "five keys of one account");
    let refusal = answers.iter().find(|r| r.status == 429).expect("a 429");
    assert!(refused(refusal, 429, &[]).contains("account"), "{refusal}");
}

//! Step `state` (docs/edge-pipeline.md): a key that is disabled, expired, deleted, rolled or reported leaked, or whose
//! account is suspended or has no production agreement (for a live key), is refused with 401.

use super::*;

/// One state of the table: an account (production, bank_data) with a live and a test key,
/// then `steps` in order. Each row is a trial of its own, named `name`.
pub(crate) struct KeyState {
    pub(crate) name: &'static str,
    /// The account's name, and the prefix of the origin markers (`<marker>-before`, …).
    marker: &'static str,
    /// Both keys expire this many seconds after they are made.
    expires_in: Option<i64>,
    steps: &'static [Step],
}

/// What a row does with its account and keys.
pub(crate) enum Step {
    /// The live key reaches the origin (marker `<marker>-<suffix>`).
    LiveForwarded(&'static str),
    /// The test key is answered by the sandbox.
    TestAnswered,
    /// The operator sets `{field: value}` on both keys.
    PatchKeys(&'static str, &'static str),
    /// The operator sets `{field: value}` on the account.
    PatchAccount(&'static str, &'static str),
    /// The operator deletes both keys.
    DeleteKeys,
    /// The keys' expiry passes.
    WaitPastExpiry,
    /// The live key and (`test_too`) the test key are refused with 401, the message naming
    /// `naming` when given.
    Refused {
        test_too: bool,
        naming: Option<&'static str>,
    },
    /// Both keys are refused with 401 as Bearer and as X-API-Key, the answer not echoing them.
    RefusedAsEitherCredential,
    /// Nothing marked `<marker>-refused` reached the origin.
    NothingForwarded,
}

use Step::*;

pub(crate) const KEY_STATES: &[KeyState] = &[
    KeyState {
        name: "state_disabled_key_is_401_until_reenabled",
        marker: "state_disabled",
        expires_in: None,
        steps: &[
            LiveForwarded("before"),
            PatchKeys("status", "disabled"),
            Refused {
                test_too: true,
                naming: Some("disabled"),
            },
            NothingForwarded,
            PatchKeys("status", "active"),
            LiveForwarded("after"),
            TestAnswered,
        ],
    },
    KeyState {
        name: "state_expired_key_is_401",
        marker: "state_expired",
        expires_in: Some(4),
        steps: &[
            LiveForwarded("before"),
            TestAnswered,
            WaitPastExpiry,
            Refused {
                test_too: true,
                naming: Some("expired"),
            },
            NothingForwarded,
        ],
    },
    KeyState {
        name: "state_deleted_key_is_401",
        marker: "state_deleted",
        expires_in: None,
        steps: &[
            LiveForwarded("before"),
            TestAnswered,
            DeleteKeys,
            RefusedAsEitherCredential,
            NothingForwarded,
        ],
    },
    // A test agreement never reaches the origin: its live keys stop, its test keys go on.
    KeyState {
        name: "state_live_key_of_an_account_downgraded_to_test_agreement_is_401",
        marker: "state_downgraded",
        expires_in: None,
        steps: &[
            LiveForwarded("before"),
            PatchAccount("agreement", "test"),
            Refused {
                test_too: false,
                naming: None,
            },
            TestAnswered,
            NothingForwarded,
            PatchAccount("agreement", "production"),
            LiveForwarded("after"),
        ],
    },
    KeyState {
        name: "state_suspended_account_is_401_until_reactivated",
        marker: "state_suspended",
        expires_in: None,
        steps: &[
            LiveForwarded("before"),
            PatchAccount("status", "suspended"),
            Refused {
                test_too: true,
                naming: Some("suspended"),
            },
            NothingForwarded,
            PatchAccount("status", "active"),
            LiveForwarded("after"),
            TestAnswered,
        ],
    },
];

/// Runs one row of [`KEY_STATES`].
pub(crate) fn key_state(c: &Ctx, row: &KeyState) {
    let marker = row.marker;
    let refused = format!("{marker}-refused");
    let t = tenant(&c.gw, marker, json!({}));
    let expires_at = row.expires_in.map(|s| unix_now() + s);
    let extra = match expires_at {
        Some(at) => json!({"expires_at": at}),
        None => json!({}),
    };
    let (kid, live) = key(&c.gw, &t, "live", extra.clone());
    let (tid, test) = key(&c.gw, &t, "test", extra);
    let keys = [(&live, &t.pk_live), (&test, &t.pk_test)];
    for step in row.steps {
        match *step {
            LiveForwarded(suffix) => assert_from_origin(&get_tx(
                &c.gw,
                &live,
                &t.pk_live,
                &format!("{marker}-{suffix}"),
            )),
            TestAnswered => assert_sandbox(&get_tx(&c.gw, &test, &t.pk_test, marker)),
            PatchKeys(field, value) => {
                for id in [&kid, &tid] {
                    c.gw.admin_patch(&format!("/keys/{id}"), &json!({ field: value }))
                        .expect_status(200);
                }
            }
            PatchAccount(field, value) => {
                c.gw.admin_patch(&format!("/accounts/{}", t.id), &json!({ field: value }))
                    .expect_status(200);
            }
            DeleteKeys => {
                for id in [&kid, &tid] {
                    c.gw.admin_delete(&format!("/keys/{id}")).expect_status(204);
                }
            }
            WaitPastExpiry => sleep_past(expires_at.expect("a row that waits has expires_in")),
            Refused { test_too, naming } => {
                for (k, pk) in &keys[..if test_too { 2 } else { 1 }] {
                    let r = get_tx(&c.gw, k, pk, &refused);
                    let message = assert_error(&r, 401);
                    if let Some(word) = naming {
                        assert!(message.to_lowercase().contains(word), "{r}");
                    }
                }
            }
            RefusedAsEitherCredential => {
                for (k, pk) in keys {
                    for req in [
                        c.gw.get(&format!("/v1/transactions?trace={refused}"))
                            .bearer(k),
                        c.gw.get(&format!("/v1/transactions?trace={refused}"))
                            .api_key(k),
                    ] {
                        let r = req.product_key(pk).send();
                        assert_error(&r, 401);
                        assert_no_secret(&r, &[k]);
                    }
                }
            }
            NothingForwarded => c.origin.assert_got_nothing("", &refused),
        }
    }
}

pub(crate) fn state_rolled_key_is_401_after_grace_and_successor_works(c: &Ctx) {
    let marker = "state_rolled";
    let t = tenant(&c.gw, marker, json!({}));
    // No grace: the old key stops at once, the new one works.
    let (old_id, old) = key(&c.gw, &t, "live", json!({}));
    let r = c.gw.admin_post(
        &format!("/keys/{old_id}/roll"),
        &json!({"grace_seconds": 0}),
    );
    r.expect_status(200);
    let new = r.json["secret"].as_str().expect("secret").to_string();
    let new_id = r.json["key"]["id"].as_str().expect("id").to_string();
    assert_ne!(new_id, old_id);
    let r = get_tx(&c.gw, &old, &t.pk_live, &format!("{marker}-refused"));
    assert!(
        assert_error(&r, 401).to_lowercase().contains("rolled"),
        "{r}"
    );
    assert_from_origin(&get_tx(&c.gw, &new, &t.pk_live, &format!("{marker}-new")));
    let q = c.origin.one(&format!("{marker}-new"));
    assert_eq!(q.header("x-keygate-key"), Some(new_id.as_str()));

    // With grace: the old key keeps working until the grace is over.
    let (grace_id, graced) = key(&c.gw, &t, "test", json!({}));
    let rolled_at = unix_now();
    c.gw.admin_post(
        &format!("/keys/{grace_id}/roll"),
        &json!({"grace_seconds": 4}),
    )
    .expect_status(200);
    assert_sandbox(&get_tx(&c.gw, &graced, &t.pk_test, marker));
    sleep_past(rolled_at + 5);
    let r = get_tx(&c.gw, &graced, &t.pk_test, marker);
    assert!(
        assert_error(&r, 401).to_lowercase().contains("rolled"),
        "{r}"
    );
    c.origin
        .assert_got_nothing("", &format!("{marker}-refused"));
}

pub(crate) fn state_leaked_key_is_401_after_grace(c: &Ctx) {
    let marker = "state_leaked";
    let t = tenant(&c.gw, marker, json!({}));
    let (now_id, leaked_now) = key(&c.gw, &t, "live", json!({}));
    let (grace_id, leaked_later) = key(&c.gw, &t, "live", json!({}));
    c.gw.admin_post(
        &format!("/keys/{now_id}/leaked"),
        &json!({"grace_seconds": 0}),
    )
    .expect_status(200);
    let r = get_tx(&c.gw, &leaked_now, &t.pk_live, &format!("{marker}-refused"));
    assert!(
        assert_error(&r, 401).to_lowercase().contains("leaked"),
        "{r}"
    );

    let marked_at = unix_now();
    c.gw.admin_post(
        &format!("/keys/{grace_id}/leaked"),
        &json!({"grace_seconds": 4}),
    )
    .expect_status(200);
    assert_from_origin(&get_tx(
        &c.gw,
        &leaked_later,
        &t.pk_live,
        &format!("{marker}-grace"),
    ));
    sleep_past(marked_at + 5);
    let r = get_tx(
        &c.gw,
        &leaked_later,
        &t.pk_live,
        &format!("{marker}-refused"),
    );
    assert!(
        assert_error(&r, 401).to_lowercase().contains("leaked"),
        "{r}"
    );
    assert_no_secret(&r, &[&leaked_later]);
    c.origin
        .assert_got_nothing("", &format!("{marker}-refused"));
}

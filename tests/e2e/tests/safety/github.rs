//! GitHub secret scanning.

use super::*;

pub(crate) fn githubs_sample_report_verifies(c: &Ctx) {
    let r = post_report(
        &c.gh,
        Some(SAMPLE_KEY_ID),
        Some(SAMPLE_SIGNATURE),
        SAMPLE_BODY.as_bytes(),
    );
    audit_feedback(&r, &[("some_token", "some_type")], &[]);
    assert_eq!(
        r.json,
        json!([{"token_raw": "some_token", "token_type": "some_type", "label": "false_positive"}]),
        "GitHub's sample: {r}"
    );
}

pub(crate) fn a_signed_report_marks_exactly_our_secret_keys_leaked(c: &Ctx) {
    let gw = &c.gh;
    let (a, a_pk, _) = account(gw, "GitHub leak A");
    let (b, _, _) = account(gw, "GitHub leak B");
    let leaked = key(gw, &a, "committed by mistake", "test");
    let sibling = key(gw, &a, "same account, not reported", "test");
    let other = key(gw, &b, "other account", "test");
    let unknown = mint_key("sk_test_", "github-unknown");
    let kind = "keygate_secret_key";
    let sent = [
        (leaked.secret.as_str(), kind),
        ("ghp_notOurs_0123456789abcdefABCDEF", "random_string"),
        (a_pk.as_str(), "keygate_product_key"),
        (unknown.as_str(), kind),
        // GitHub reports every place it found a token: the same key twice.
        (leaked.secret.as_str(), kind),
    ];
    let from = now();
    let r = signed_report(gw, &report_body(&sent));
    let to = now();
    audit_feedback(&r, &sent, &[&leaked.secret]);
    assert_no_secret_of(&r, &[&sibling.secret, &other.secret]);

    let leaked_at = assert_leaked(gw, &leaked.id, from, to, "reported key");
    let revoke_at = leaked_at + LEAK_GRACE;
    assert_untouched(
        gw,
        &sibling.id,
        "a key of the same account not in the report",
    );
    assert_untouched(gw, &other.id, "a key of another account");
    // Default grace: the key keeps working while its owner replaces it.
    let r = edge(gw, &leaked.secret, &a_pk);
    assert_eq!(r.status, 200, "a leaked key works during its grace: {r}");

    let a_events = events(gw, &a);
    assert_leak_events(&a_events, &[&leaked.id], "github", "account A");
    assert_only_creations_besides_leaks(&a_events, "account A");
    let b_events = events(gw, &b);
    assert_leak_events(&b_events, &[], "github", "account B");
    assert_only_creations_besides_leaks(&b_events, "account B");

    // Reported again later (another commit): still ours, nothing moves.
    sleep_past(to);
    let again = [(leaked.secret.as_str(), kind)];
    let r = signed_report(gw, &report_body(&again));
    audit_feedback(&r, &again, &[&leaked.secret]);
    assert_eq!(
        leak_fields(gw, &leaked.id),
        (Some(leaked_at), Some(revoke_at)),
        "a second report must not move leaked_at or revoke_at: {}",
        view(gw, &leaked.id)
    );
    let a_events = events(gw, &a);
    assert_leak_events(
        &a_events,
        &[&leaked.id],
        "github",
        "account A after a re-report",
    );
    // docs/admin-api.md "Events": an event's `data` holds the fields that changed; nothing changed
    // here.
    let empty: Vec<&Value> = a_events
        .iter()
        .filter(|e| e["data"] == json!({"before": {}, "after": {}}))
        .collect();
    assert!(
        empty.is_empty(),
        "a re-report of an already leaked key changes nothing, yet made events with no \
         changed field: {empty:#?}"
    );
}

/// Panics unless `events` are only the creations a trial made and leak events.
#[track_caller]
pub(crate) fn assert_only_creations_besides_leaks(events: &[Value], what: &str) {
    let allowed = [
        "account.created",
        "entitlement.created",
        "key.created",
        "key.leaked",
        "leak.reported",
    ];
    let others: Vec<&Value> = events
        .iter()
        .filter(|e| !allowed.iter().any(|t| e["type"] == *t))
        .collect();
    assert!(others.is_empty(), "{what}: unexpected events: {others:#?}");
}

/// Panics if the body or a header of `r` carries one of `secrets`.
#[track_caller]
pub(crate) fn assert_no_secret_of(r: &Resp, secrets: &[&str]) {
    let text = r.text();
    for s in secrets {
        assert!(
            !text.contains(s),
            "a secret that was not sent is echoed: {r}"
        );
        assert!(
            r.headers.iter().all(|(_, v)| !v.contains(s)),
            "a secret that was not sent is echoed in a header: {r}"
        );
    }
}

/// A refused report: what it is, its two headers, its body and the status it must get.
pub(crate) type Refusal<'a> = (&'a str, Option<&'a str>, Option<String>, &'a [u8], u16);

pub(crate) fn refused_reports_mark_nothing(c: &Ctx) {
    let gw = &c.gh;
    let (acct, _, _) = account(gw, "GitHub refusals");
    let target = key(gw, &acct, "in every refused report", "test");
    let ours = our_key();
    let our_id = our_key_id();
    let body = report_body(&[(target.secret.as_str(), "keygate_secret_key")]);
    let signature = sign(&ours, &body);
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("config0.env", "config1.env");
    assert_ne!(tampered.as_bytes(), body.as_slice());
    // Over 512 KiB, validly signed, with our key in it.
    let large = serde_json::to_vec(&json!([{
        "token": target.secret,
        "type": "keygate_secret_key",
        "url": format!("https://github.com/octo/leaky/blob/main/{}", "a".repeat(530 * 1024)),
        "source": "commit",
    }]))
    .unwrap();
    assert!(large.len() > 512 * 1024);
    let truncated = &body[..body.len() - 3];
    let object = serde_json::to_vec(&json!({
        "token": target.secret, "type": "keygate_secret_key", "url": "https://github.com/o/r",
        "source": "commit",
    }))
    .unwrap();
    let tokenless = serde_json::to_vec(&json!([{
        "type": "keygate_secret_key", "url": format!("https://github.com/o/r#{}", target.secret),
        "source": "commit",
    }]))
    .unwrap();

    let cases: Vec<Refusal<'_>> = vec![
        (
            "tampered body (signature of the original)",
            Some(&our_id),
            Some(signature.clone()),
            tampered.as_bytes(),
            401,
        ),
        (
            "unknown key identifier",
            Some("0000000000000000000000000000000000000000000000000000000000000001"),
            Some(signature.clone()),
            &body,
            401,
        ),
        ("no headers", None, None, &body, 401),
        ("no signature", Some(&our_id), None, &body, 401),
        (
            "no key identifier",
            None,
            Some(signature.clone()),
            &body,
            401,
        ),
        (
            "empty signature",
            Some(&our_id),
            Some(String::new()),
            &body,
            401,
        ),
        (
            "signed by a key in no document",
            Some(&our_id),
            Some(sign(&stranger_key(), &body)),
            &body,
            401,
        ),
        (
            "our signature under the sample key's identifier",
            Some(SAMPLE_KEY_ID),
            Some(signature.clone()),
            &body,
            401,
        ),
        (
            "the sample signature under our identifier",
            Some(&our_id),
            Some(SAMPLE_SIGNATURE.to_string()),
            &body,
            401,
        ),
        (
            "malformed base64",
            Some(&our_id),
            Some("not base64!".to_string()),
            &body,
            401,
        ),
        (
            "base64 that is not a DER signature",
            Some(&our_id),
            Some(STANDARD.encode(b"not a signature")),
            &body,
            401,
        ),
        (
            "over 512 KiB, validly signed",
            Some(&our_id),
            Some(sign(&ours, &large)),
            &large,
            413,
        ),
        (
            "truncated JSON, validly signed",
            Some(&our_id),
            Some(sign(&ours, truncated)),
            truncated,
            400,
        ),
        (
            "an object instead of an array, validly signed",
            Some(&our_id),
            Some(sign(&ours, &object)),
            &object,
            400,
        ),
        (
            "a match without a token, validly signed",
            Some(&our_id),
            Some(sign(&ours, &tokenless)),
            &tokenless,
            400,
        ),
    ];
    for (what, key_id, signature, body, status) in cases {
        let r = post_report(gw, key_id, signature.as_deref(), body);
        audit(&r);
        if status == 400 {
            keygate_e2e::assert_error(&r, 400);
        } else {
            refused(&r, status, &[]);
        }
        assert_eq!(r.status, status, "{what}: {r}");
        assert_no_secret_of(&r, &[&target.secret]);
        assert_untouched(gw, &target.id, what);
    }
    assert_leak_events(&events(gw, &acct), &[], "github", "refused reports");
    // The same report, properly signed, is accepted: the refusals were about the request.
    let r = post_report(gw, Some(&our_id), Some(&signature), &body);
    audit_feedback(
        &r,
        &[(&target.secret, "keygate_secret_key")],
        &[&target.secret],
    );
    assert!(leak_fields(gw, &target.id).0.is_some(), "{r}");
}

pub(crate) fn the_route_is_post_only_and_404_when_not_configured(c: &Ctx) {
    let body = SAMPLE_BODY.as_bytes();
    // Not configured: no such route, signed or not.
    let r = post_report(&c.bare, Some(SAMPLE_KEY_ID), Some(SAMPLE_SIGNATURE), body);
    audit(&r);
    refused(&r, 404, &[]);
    // Only POST, configured or not.
    for gw in [&c.gh, &c.bare] {
        for method in ["GET", "PUT", "DELETE"] {
            let r = gw
                .request(method, GITHUB)
                .header("Github-Public-Key-Identifier", SAMPLE_KEY_ID)
                .header("Github-Public-Key-Signature", SAMPLE_SIGNATURE)
                .send();
            audit(&r);
            refused(&r, 405, &[]);
            let allow = r.header("allow").unwrap_or_default();
            assert!(allow.contains("POST"), "Allow must name POST: {r}");
        }
    }
}

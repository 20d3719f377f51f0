//! Trials: what a request records reaches the Registry with no later request to carry it, and a
//! client address that is not one is refused before anything can keep it.

use super::*;

/// A refusal's reason is found this long after the refusal was answered, with nothing sent to
/// the gateway in between (docs/admin-api.md "Activity": sent ~1 s after it happened).
const QUIET_DEADLINE: Duration = Duration::from_secs(2);

/// On `quiet`, a gateway no other trial uses: after one refused and one granted request, not a
/// single request reaches it until the deadline; then one lookup and one key view must show both.
pub(crate) fn a_refusal_and_a_first_use_show_with_no_other_traffic(c: &Ctx) {
    let gw = &c.quiet;
    let a = test_account(gw, "no later traffic", json!({}));
    let narrow = key(gw, &a.id, "narrow", json!({"scopes": ["accounts:read"]}));
    let fresh = key(gw, &a.id, "fresh", json!({}));
    assert_unused(
        &view(gw, &format!("/keys/{}", fresh.id)),
        "before its first use",
    );

    let refusal = edge(gw, "GET", "/v1/transactions", &narrow.secret, &a.pk, INSIDE);
    assert_eq!(refusal.status, 403, "{refusal}");
    let sent = now_f();
    let granted = get_accounts(gw, &fresh, &a, INSIDE);
    assert_eq!(granted.status, 200, "{granted}");
    let answered = Instant::now();
    thread::sleep(QUIET_DEADLINE.saturating_sub(answered.elapsed()));

    let r = lookup(gw, Who::Operator, &rid(&refusal));
    assert_eq!(
        r.status, 200,
        "the refusal's reason, {QUIET_DEADLINE:?} after it with no other traffic: {r}"
    );
    assert!(
        r.json["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("transactions:read")),
        "{r}"
    );
    let shown = view(gw, &format!("/keys/{}", fresh.id));
    assert!(
        within(&shown["last_used_at"], sent, now_f()),
        "the key's first use, {QUIET_DEADLINE:?} after it with no other traffic: {shown}"
    );
    assert_eq!(shown["last_used_ip"], json!(INSIDE), "{shown}");
}

/// `CF-Connecting-IP` values that are not one IP address: markup, a 3,000-digit run, a list, a
/// word, an address with a port.
fn junk_addresses() -> Vec<String> {
    vec![
        "<img src=x onerror=alert(1)>".into(),
        "9".repeat(3_000),
        "203.0.113.5, 10.0.0.1".into(),
        "unknown".into(),
        "10.1.2.3:443".into(),
    ]
}

/// Every junk address is refused with 400 (edge and admin alike, whatever the request would
/// otherwise have been), never echoed, and stored nowhere: no refusal record, no `ips_seen`,
/// no event. A valid IPv4-mapped address is stored in its one canonical form.
pub(crate) fn a_junk_client_address_is_refused_and_stored_nowhere(c: &Ctx) {
    let gw = &c.gw;
    let a = test_account(gw, "junk addresses", json!({}));
    let k = key(gw, &a.id, "used with junk", json!({}));
    let narrow = key(gw, &a.id, "narrow", json!({"scopes": ["accounts:read"]}));
    let manager = key(gw, &a.id, "manager", json!({"scopes": ["keys:manage"]}));
    let mut answered = Vec::new();
    for junk in junk_addresses() {
        let requests = [
            (
                "a request that would be granted",
                gw.get("/v1/accounts").bearer(&k.secret),
            ),
            (
                "a request that would be refused",
                gw.get("/v1/transactions").bearer(&narrow.secret),
            ),
            (
                "a manager's admin request",
                gw.get(&format!("/admin/v1/keys/{}", k.id))
                    .bearer(&manager.secret),
            ),
        ];
        for (what, request) in requests {
            let r = request
                .product_key(&a.pk)
                .header("CF-Connecting-IP", &junk)
                .send();
            audit(&r);
            refused(&r, 400, &["CF-Connecting-IP"]);
            let shown: String = junk.chars().take(40).collect();
            assert!(
                !r.text().contains(&junk),
                "{what} from {shown:?}: echoed: {r}"
            );
            answered.push((what, shown, rid(&r)));
        }
    }
    let mapped = get_accounts(gw, &k, &a, "::ffff:10.1.2.3");
    assert_eq!(mapped.status, 200, "{mapped}");
    let refused_mapped = edge(
        gw,
        "GET",
        "/v1/transactions",
        &narrow.secret,
        &a.pk,
        "::ffff:10.1.2.3",
    );
    assert_eq!(refused_mapped.status, 403, "{refused_mapped}");

    // Both valid requests are readable once sent; everything before them was sent with them.
    let deadline = Instant::now() + REPORT_DEADLINE;
    let found = poll(Duration::from_millis(300), deadline, || {
        let r = lookup(gw, Who::Operator, &rid(&refused_mapped));
        let v = view(gw, &format!("/keys/{}", k.id));
        (r.status == 200 && !v["last_used_at"].is_null()).then_some((r, v))
    });
    let Some((lookup_mapped, used)) = found else {
        panic!("the valid requests were not recorded within {REPORT_DEADLINE:?}");
    };
    assert_eq!(
        lookup_mapped.json["ip"],
        json!(INSIDE),
        "canonical form: {lookup_mapped}"
    );
    assert_eq!(used["last_used_ip"], json!(INSIDE), "{used}");
    assert_eq!(
        used["ips_seen"].as_array().map(Vec::len),
        Some(1),
        "only the valid address: {used}"
    );
    for (what, shown, id) in &answered {
        let r = lookup(gw, Who::Operator, id);
        assert_eq!(r.status, 404, "{what} from {shown:?} left a record: {r}");
    }
    let events = op(
        gw,
        "GET",
        &format!("/accounts/{}/events?limit=100", a.id),
        None,
    );
    assert_eq!(events.status, 200, "{events}");
    for junk in junk_addresses() {
        assert!(
            !events.text().contains(&junk),
            "an event holds a junk address: {events}"
        );
    }
}

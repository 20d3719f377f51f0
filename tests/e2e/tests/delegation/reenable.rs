//! Delegation (docs/admin-api.md): a key disabled by the operator can be re-enabled only by the operator.

use super::*;

pub(crate) fn only_the_operator_re_enables_what_the_operator_disabled(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "re-enable");
    let narrow = key(
        gw,
        &a.id,
        "narrow manager",
        json!({"scopes": ["keys:manage", "accounts:read"]}),
    );
    let star = key(gw, &a.id, "star manager", json!({}));
    let (n, s) = (Some(&narrow), Some(&star));

    let cases: [ReenableCase; 8] = [
        (&["*"], None, n, 403, &[]),
        (&["*"], None, s, 403, &[]),
        (&["*"], None, None, 200, &[]),
        (&["accounts:read"], None, n, 403, &[]),
        (&["*"], s, s, 200, &[]),
        (&["accounts:read"], n, n, 200, &[]),
        // Re-enabling is a change: the result must be within the manager's limits…
        (&["*"], n, n, 403, &["scopes"]),
        // …but a key a manager disabled is not the operator's to keep disabled.
        (&["*"], n, s, 200, &[]),
    ];
    let name = |w: Who| w.map_or("operator".to_string(), |k| k.view["name"].to_string());
    for (scopes, disabler, enabler, status, fields) in cases {
        let what = format!(
            "{scopes:?} key disabled by {}, re-enabled by {}",
            name(disabler),
            name(enabler)
        );
        let t = key(gw, &a.id, "target", json!({"scopes": scopes}));
        let path = format!("/keys/{}", t.id);
        assert_works(gw, &t.secret, &a.pk, &what);
        let r = act(
            gw,
            disabler,
            "PATCH",
            &path,
            Some(&json!({"status": "disabled"})),
        );
        assert_eq!(r.status, 200, "{what}: {r}");
        let by = match disabler {
            None => json!({"type": "operator"}),
            Some(k) => json!({"type": "key", "key_id": k.id}),
        };
        assert_eq!(r.json["disabled_by"], by, "{what}: {r}");
        // The edge writes the key's usage on its own, about a second after a request: the
        // views agree on everything the command decided.
        let disabled = view(gw, &t.id);
        assert_eq!(without_usage(&disabled), without_usage(&r.json), "{what}");
        assert_refused(gw, &t.secret, &a.pk, &what);

        let r = act(
            gw,
            enabler,
            "PATCH",
            &path,
            Some(&json!({"status": "active"})),
        );
        if status == 200 {
            assert_eq!(r.status, 200, "{what}: {r}");
            assert_eq!(r.json["status"], "active", "{what}: {r}");
            assert!(r.json["disabled_by"].is_null(), "{what}: {r}");
            assert_works(gw, &t.secret, &a.pk, &what);
        } else {
            let message = refused(&r, status, fields);
            if disabler.is_none() && enabler.is_some_and(|k| k.id == star.id) {
                assert!(
                    message.contains("admin token"),
                    "{what}: the refusal should say the operator's token is needed: {r}"
                );
            }
            assert_eq!(
                without_usage(&view(gw, &t.id)),
                without_usage(&disabled),
                "{what}: the refusal changed the key"
            );
            assert_refused(gw, &t.secret, &a.pk, &what);
        }
    }
}

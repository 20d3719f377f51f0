//! Trial 4: no event carries a secret or a hash.

use super::*;

/// The forms of `secret` an event must not hold: the key, its random body, any 12 characters
/// of that body, and its SHA-256 (what the registry stores) in hex and base64.
pub(crate) fn forms(secret: &str) -> Vec<String> {
    let body = &secret[8..];
    let digest = Sha256::digest(secret.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut forms = vec![
        secret.to_string(),
        body.to_string(),
        hex.to_uppercase(),
        hex,
    ];
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        forms.push(engine.encode(digest));
    }
    forms.extend((0..=body.len() - 12).map(|i| body[i..i + 12].to_string()));
    forms
}

/// Every object key in `v`, recursively.
pub(crate) fn field_names(v: &Value, into: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (name, value) in map {
                into.push(name.clone());
                field_names(value, into);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| field_names(i, into)),
        _ => {}
    }
}

pub(crate) fn events_carry_no_secret_and_no_hash(c: &Ctx) {
    let gw = &c.gw;
    // Every type, with live keys this time (and the test key of the second account).
    let s = every_kind(gw, "live");
    assert!(
        s.secrets.iter().any(|k| k.starts_with("sk_live_")),
        "live secrets: {:?}",
        s.secrets.len()
    );
    let mut listed = Vec::new();
    for log in [&s.log, &s.other] {
        let events = all(gw, Who::Operator, &log.account, "");
        assert_events(&events, log, s.since);
        listed.extend(events);
    }
    let types: BTreeSet<&str> = listed.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, TYPES.into_iter().collect(), "every type is checked");
    let forms: Vec<(String, &String)> = s
        .secrets
        .iter()
        .flat_map(|secret| forms(secret).into_iter().map(move |f| (f, secret)))
        .collect();
    for e in &listed {
        let text = e.to_string();
        assert_eq!(full_secrets(&text), Vec::<&str>::new(), "a secret in {e}");
        let hex_run = text
            .split(|c: char| !c.is_ascii_hexdigit())
            .map(str::len)
            .max()
            .unwrap_or(0);
        assert!(hex_run < 64, "a hash-like hex run in {e}");
        for (form, secret) in &forms {
            assert!(
                !text.contains(form.as_str()),
                "{form:?} (of the secret {}…) in {e}",
                &secret[..12]
            );
        }
        let mut names = Vec::new();
        field_names(e, &mut names);
        for name in names {
            let lower = name.to_ascii_lowercase();
            assert!(
                !lower.contains("secret") && !lower.contains("hash"),
                "a field {name:?} in {e}"
            );
        }
    }
}

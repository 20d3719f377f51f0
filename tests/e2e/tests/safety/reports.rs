//! GitHub's reports, made here: our P-256 key, the keys document, signed reports, and the checks of
//! the feedback they get.

use super::*;

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Our signing key: the private half of the public key configured as [`our_key_id`].
pub(crate) fn our_key() -> SigningKey {
    SigningKey::from_slice(&[0x5a; 32]).expect("a valid P-256 scalar")
}

/// A P-256 key that is in no key document.
pub(crate) fn stranger_key() -> SigningKey {
    SigningKey::from_slice(&[0x3c; 32]).expect("a valid P-256 scalar")
}

/// Our key's identifier, made as GitHub makes theirs: SHA-256 of the SPKI DER, in hex.
pub(crate) fn our_key_id() -> String {
    let der = our_key()
        .verifying_key()
        .to_public_key_der()
        .expect("SPKI DER");
    hex(&Sha256::digest(der.as_bytes()))
}

/// `GITHUB_SECRET_SCANNING_KEYS`: our public key as PEM, GitHub's sample key as base64 DER.
pub(crate) fn keys_document() -> String {
    let pem = our_key()
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("PEM");
    json!({"public_keys": [
        {"key_identifier": our_key_id(), "key": pem, "is_current": true},
        {"key_identifier": SAMPLE_KEY_ID, "key": SAMPLE_KEY, "is_current": true},
    ]})
    .to_string()
}

/// `Github-Public-Key-Signature` of `body` by `key`: base64 of the DER signature.
pub(crate) fn sign(key: &SigningKey, body: &[u8]) -> String {
    let signature: Signature = key.sign(body);
    STANDARD.encode(signature.to_der().as_bytes())
}

/// `POST /admin/v1/leaks/github` with `body` and whichever of the two headers are given.
pub(crate) fn post_report(
    gw: &Gateway,
    key_id: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Resp {
    let mut req = gw
        .post(GITHUB)
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    if let Some(id) = key_id {
        req = req.header("Github-Public-Key-Identifier", id);
    }
    if let Some(signature) = signature {
        req = req.header("Github-Public-Key-Signature", signature);
    }
    req.send()
}

/// A report signed by our key.
pub(crate) fn signed_report(gw: &Gateway, body: &[u8]) -> Resp {
    post_report(gw, Some(&our_key_id()), Some(&sign(&our_key(), body)), body)
}

/// GitHub's report body: one match per `(token, type)`.
pub(crate) fn report_body(matches: &[(&str, &str)]) -> Vec<u8> {
    let matches: Vec<Value> = matches
        .iter()
        .enumerate()
        .map(|(i, (token, kind))| {
            json!({
                "token": token,
                "type": kind,
                "url": format!("https://github.com/octo/leaky/blob/main/config{i}.env"),
                "source": if i % 2 == 0 { "commit" } else { "issue_comment" },
            })
        })
        .collect();
    serde_json::to_vec(&matches).unwrap()
}

/// Checks GitHub's feedback answer to a report of `sent` (`(token, type)`): 200, JSON, a
/// request id; one entry per match, `{token_raw | token_hash, token_type, label}` with the
/// token sent (or its SHA-256 in hex) and `true_positive` exactly for the tokens in `ours`;
/// no full secret key but the ones sent.
#[track_caller]
pub(crate) fn audit_feedback(r: &Resp, sent: &[(&str, &str)], ours: &[&str]) {
    assert_eq!(r.status, 200, "a report's answer: {r}");
    assert!(
        r.request_id().is_some_and(|id| !id.is_empty()),
        "no X-Request-Id: {r}"
    );
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "not JSON: {r}"
    );
    let text = r.text();
    for secret in full_secrets(&text) {
        assert!(
            sent.iter().any(|(token, _)| *token == secret),
            "a secret key that was not sent is in the answer: {r}"
        );
    }
    let entries = r
        .json
        .as_array()
        .unwrap_or_else(|| panic!("not GitHub's feedback array: {r}"));
    let mut got: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| {
            let fields: BTreeSet<&str> = e
                .as_object()
                .unwrap_or_else(|| panic!("an entry that is not an object: {r}"))
                .keys()
                .map(String::as_str)
                .collect();
            let raw = fields.contains("token_raw");
            let want: BTreeSet<&str> = [
                if raw { "token_raw" } else { "token_hash" },
                "token_type",
                "label",
            ]
            .into();
            assert_eq!(fields, want, "an entry's fields: {r}");
            let token = if raw {
                e["token_raw"].as_str().unwrap_or_default().to_string()
            } else {
                let hash = e["token_hash"].as_str().unwrap_or_default();
                sent.iter()
                    .find(|(t, _)| hex(&Sha256::digest(t.as_bytes())) == hash)
                    .map(|(t, _)| t.to_string())
                    .unwrap_or_else(|| panic!("a token_hash of no token sent: {r}"))
            };
            let kind = e["token_type"].as_str().unwrap_or_default().to_string();
            let label = e["label"].as_str().unwrap_or_default().to_string();
            (token, kind, label)
        })
        .collect();
    let mut want: Vec<(String, String, String)> = sent
        .iter()
        .map(|(token, kind)| {
            let label = if ours.contains(token) {
                "true_positive"
            } else {
                "false_positive"
            };
            (token.to_string(), kind.to_string(), label.to_string())
        })
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "feedback (token, type, label): {r}");
}

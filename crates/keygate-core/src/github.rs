//! GitHub's secret-scanning partner program: GitHub finds one of our keys in a public
//! repository and POSTs it to us within seconds, signed.
//!
//! The report is authenticated by its signature, not by a token: `Github-Public-Key-Signature`
//! is a base64 DER ECDSA P-256 / SHA-256 signature of the raw body by the key named in
//! `Github-Public-Key-Identifier`, one of the public keys GitHub publishes (configured in
//! `GITHUB_SECRET_SCANNING_KEYS`, GitHub's `{"public_keys": [{key_identifier, key, is_current}]}`
//! document). The answer is GitHub's feedback format, built from what GitHub sent only.

use crate::error::{Error, FieldError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Largest report body read (GitHub batches up to a thousand tokens).
pub const MAX_REPORT_BYTES: usize = 512 * 1024;
/// Tokens one report may carry.
pub const MAX_REPORT_TOKENS: usize = 1000;

#[derive(Deserialize)]
struct KeysFile {
    public_keys: Vec<PublicKeyEntry>,
}

#[derive(Deserialize)]
struct PublicKeyEntry {
    key_identifier: String,
    key: String,
}

/// GitHub's published signing keys, parsed once per isolate.
#[derive(Debug, Clone)]
pub struct GithubKeys(Vec<(String, VerifyingKey)>);

impl GithubKeys {
    /// Parses GitHub's key document. A key given as PEM or as bare base64 SPKI both work; an
    /// entry that does not parse is an error (the configuration is wrong).
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let file: KeysFile = serde_json::from_str(text).map_err(|_| config_error())?;
        let mut keys = Vec::with_capacity(file.public_keys.len());
        for entry in file.public_keys {
            let key = if entry.key.contains("BEGIN PUBLIC KEY") {
                VerifyingKey::from_public_key_pem(&entry.key)
            } else {
                let der = STANDARD
                    .decode(entry.key.trim())
                    .map_err(|_| config_error())?;
                VerifyingKey::from_public_key_der(&der)
            }
            .map_err(|_| config_error())?;
            keys.push((entry.key_identifier, key));
        }
        Ok(Self(keys))
    }

    /// Ok if `signature` (base64 DER) is the named key's signature of `body`; 401 otherwise.
    pub fn verify(
        &self,
        key_id: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), Error> {
        let (Some(key_id), Some(signature)) = (key_id, signature) else {
            return Err(unsigned());
        };
        let key = self
            .0
            .iter()
            .find(|(id, _)| id == key_id.trim())
            .map(|(_, key)| key)
            .ok_or_else(unsigned)?;
        let der = STANDARD.decode(signature.trim()).map_err(|_| unsigned())?;
        let signature = DerSignature::try_from(der.as_slice()).map_err(|_| unsigned())?;
        key.verify(body, &signature).map_err(|_| unsigned())
    }
}

fn config_error() -> Error {
    Error::unavailable(
        "GITHUB_SECRET_SCANNING_KEYS is not GitHub's public key document; reports cannot be \
         verified until it is fixed.",
    )
}

fn unsigned() -> Error {
    Error::unauthorized(
        "This report is not signed by one of GitHub's secret-scanning keys \
         (Github-Public-Key-Identifier, Github-Public-Key-Signature).",
    )
}

/// One match in GitHub's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    /// The string GitHub found, perhaps one of our keys; only its hash is ever looked up.
    pub token: String,
    /// GitHub's name for the token pattern that matched (JSON `type`); echoed in the feedback.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Where GitHub found it (a file or commit URL); empty when GitHub sends none.
    #[serde(default)]
    pub url: String,
    /// What kind of place it was found in (`content`, `commit`, …); empty when GitHub sends none.
    #[serde(default)]
    pub source: String,
}

/// The report body: a JSON array of matches.
pub fn report(body: &[u8]) -> Result<Vec<Match>, Error> {
    let matches: Vec<Match> = serde_json::from_slice(body).map_err(|_| {
        Error::invalid(vec![FieldError::new(
            "body",
            "must be GitHub's JSON array of {token, type, url, source}",
        )])
    })?;
    if matches.len() > MAX_REPORT_TOKENS {
        return Err(Error::invalid(vec![FieldError::new(
            "body",
            format!("has {} matches; at most {MAX_REPORT_TOKENS}", matches.len()),
        )]));
    }
    Ok(matches)
}

/// GitHub's feedback entry for one match: whether the token was one of our live or revoked
/// secret keys. Only what GitHub sent is echoed.
pub fn feedback(m: &Match, ours: bool) -> Value {
    json!({
        "token_raw": m.token,
        "token_type": m.kind,
        "label": if ours { "true_positive" } else { "false_positive" },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// GitHub's published sample (docs and PyPI's warehouse repository).
    const KEY_ID: &str = "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c";
    const KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYAGMWO8XgCamYKMJS6jc/qgvSlAdAjPuDPRcXU22YxgBrz+zoN19MzuRyW87qEt9/AmtoNP5GrobzUvQSyJFVw==";
    const SIGNATURE: &str = "MEQCIQDaMKqrGnE27S0kgMrEK0eYBmyG0LeZismAEz/BgZyt7AIfXt9fErtRS4XaeSt/AO1RtBY66YcAdjxji410VQV4xg==";
    const PAYLOAD: &str = r#"[{"source":"commit","token":"some_token","type":"some_type","url":"https://example.com/base-repo-url/"}]"#;

    fn keys() -> GithubKeys {
        GithubKeys::from_json(&format!(
            r#"{{"public_keys": [{{"key_identifier": "{KEY_ID}", "key": "{KEY}", "is_current": true}}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn githubs_sample_verifies() {
        keys()
            .verify(Some(KEY_ID), Some(SIGNATURE), PAYLOAD.as_bytes())
            .unwrap();
        let matches = report(PAYLOAD.as_bytes()).unwrap();
        assert_eq!(matches[0].token, "some_token");
        assert_eq!(
            feedback(&matches[0], false),
            json!({"token_raw": "some_token", "token_type": "some_type", "label": "false_positive"})
        );
    }

    #[test]
    fn a_pem_key_works_too() {
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
            &KEY[..64],
            &KEY[64..]
        );
        let doc =
            json!({"public_keys": [{"key_identifier": "pem", "key": pem, "is_current": true}]});
        GithubKeys::from_json(&doc.to_string())
            .unwrap()
            .verify(Some("pem"), Some(SIGNATURE), PAYLOAD.as_bytes())
            .unwrap();
    }

    #[test]
    fn anything_else_is_401() {
        let k = keys();
        let tampered = PAYLOAD.replace("some_token", "other_token");
        let mut bad_sig = SIGNATURE.to_string();
        bad_sig.replace_range(10..11, "A");
        for (id, sig, body) in [
            (Some(KEY_ID), Some(SIGNATURE), tampered.as_str()),
            (Some("unknown"), Some(SIGNATURE), PAYLOAD),
            (Some(KEY_ID), Some(bad_sig.as_str()), PAYLOAD),
            (Some(KEY_ID), Some("not base64!"), PAYLOAD),
            (None, Some(SIGNATURE), PAYLOAD),
            (Some(KEY_ID), None, PAYLOAD),
        ] {
            let e = k.verify(id, sig, body.as_bytes()).unwrap_err();
            assert_eq!(e.status, 401, "{id:?} {sig:?}");
        }
    }

    #[test]
    fn bad_configuration_and_bodies() {
        assert_eq!(GithubKeys::from_json("{}").unwrap_err().status, 503);
        let bad = r#"{"public_keys": [{"key_identifier": "x", "key": "bm90IGEga2V5"}]}"#;
        assert_eq!(GithubKeys::from_json(bad).unwrap_err().status, 503);
        assert_eq!(report(b"{}").unwrap_err().status, 400);
        assert_eq!(report(b"[{\"type\": \"x\"}]").unwrap_err().status, 400);
    }
}

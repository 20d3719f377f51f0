//! Key safety (docs/key-safety.md) end to end: real workerd through `wrangler dev`,
//! HTTP only.
//!
//! * GitHub secret scanning: `POST /admin/v1/leaks/github` takes no admin token; it is
//!   authenticated by `Github-Public-Key-Identifier` and `Github-Public-Key-Signature` (base64
//!   DER ECDSA P-256 / SHA-256 of the raw body) against the keys in the variable
//!   `GITHUB_SECRET_SCANNING_KEYS`. The suite makes its own P-256 key pair (from fixed bytes),
//!   configures its public key (PEM) next to GitHub's published sample key (base64 SPKI DER),
//!   and signs its reports itself; GitHub's sample request must verify as published. A signed
//!   report marks every secret key of ours in it leaked (default grace, 3 days: the key still
//!   works) and answers GitHub's feedback array, echoing only what was sent; every refused
//!   report (bad or missing signature, too large, not GitHub's JSON) marks nothing, although
//!   each carries one of our secret keys.
//! * Plain-HTTP exposure: with `REQUIRE_HTTPS=true`, a request over `http` carrying one of our
//!   secret keys is refused with 403 and that key is marked leaked (source `plain_http`), once.
//!
//! Gateways:
//! * `gh`   — the harness defaults plus `GITHUB_SECRET_SCANNING_KEYS`.
//! * `bare` — the harness defaults (no `GITHUB_SECRET_SCANNING_KEYS`: the route is 404).
//! * The exposure trial runs one deployment of its own (`REQUIRE_HTTPS=true`, one storage
//!   directory) alternately behind an HTTPS listener (admin calls) and a plain-HTTP listener
//!   (the exposures): `wrangler dev` serves one protocol per process and the worker sees the
//!   scheme of that listener, so the same deployment cannot be reached over both at once. Each
//!   listener is stopped before the next starts on the same state. The mark is sent in the
//!   background right after the 403: a plain-HTTP listener is kept [`EXPOSURE_BOUND`] after
//!   its last exposure and then stopped, so a mark that takes longer is lost and fails the
//!   trial.
//!
//! Trials run in parallel; each makes its own accounts and keys. Every admin answer that is a
//! JSON object goes through [`audit`] (request id; no secret outside create/roll's `secret`;
//! no hash-like hex run); GitHub's feedback array goes through [`audit_feedback`].

use std::collections::BTreeSet;
use std::thread;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keygate_e2e::audited::{
    self, Key, audit, bank_data_account, full_secrets, get_accounts, op, product_key, refused,
};
use keygate_e2e::clock::{sleep_past, unix_now as now};
use keygate_e2e::offline::{mint_key, tamper};
use keygate_e2e::{Gateway, Resp, Value, json, run, start_together, tests};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use sha2::{Digest, Sha256};

// One module per section; each sees this file's names and, through them, every
// other module's (`use super::*`).
mod github;
mod plain_http;
mod reports;
mod support;

use github::*;
use plain_http::*;
use reports::*;
use support::*;

/// The client address of edge requests.
const INSIDE: &str = "10.1.2.3";
/// The route GitHub posts to.
const GITHUB: &str = "/admin/v1/leaks/github";
/// A leaked key keeps working this long by default (docs/key-safety.md: default grace, 3 days).
const LEAK_GRACE: i64 = 3 * 24 * 60 * 60;
/// How long after the 403 a plain-HTTP exposure must have been marked.
const EXPOSURE_BOUND: Duration = Duration::from_secs(3);
/// Slack on gateway timestamps against this machine's clock (workerd runs on the same one).
const CLOCK_SLACK: i64 = 2;

/// GitHub's published sample (GitHub's docs; PyPI's warehouse tests): key, signature, body.
const SAMPLE_KEY_ID: &str = "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c";
const SAMPLE_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYAGMWO8XgCamYKMJS6jc/qgvSlAdAjPuDPRcXU22YxgBrz+zoN19MzuRyW87qEt9/AmtoNP5GrobzUvQSyJFVw==";
const SAMPLE_SIGNATURE: &str = "MEQCIQDaMKqrGnE27S0kgMrEK0eYBmyG0LeZismAEz/BgZyt7AIfXt9fErtRS4XaeSt/AO1RtBY66YcAdjxji410VQV4xg==";
const SAMPLE_BODY: &str = r#"[{"source":"commit","token":"some_token","type":"some_type","url":"https://example.com/base-repo-url/"}]"#;

struct Ctx {
    gh: Gateway,
    bare: Gateway,
}

fn main() {
    run(
        || {
            let keys = keys_document();
            let [gh, bare] = start_together([
                Gateway::builder().var("GITHUB_SECRET_SCANNING_KEYS", &keys),
                Gateway::builder(),
            ]);
            Ctx { gh, bare }
        },
        tests![
            // First: it starts and stops five gateways one after another (~20 s).
            plain_http_exposure_marks_the_key_leaked_once,
            githubs_sample_report_verifies,
            a_signed_report_marks_exactly_our_secret_keys_leaked,
            refused_reports_mark_nothing,
            the_route_is_post_only_and_404_when_not_configured,
        ],
    );
}

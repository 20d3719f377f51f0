//! The edge pipeline (README "How a request is checked") in the worker: gather the request's
//! facts, let the core decide, and route the grant.
//! Every decision is `keygate_core::policy`'s; this file only does the I/O between them.
//!
//! [`decide`] is the pipeline up to the grant, synchronous: it asks for the one storage read
//! it needs ([`Next::Lookup`]) instead of doing it, so that both entries share it — the
//! workers-rs `fetch` ([`handle`], which reads KV itself) and the JS entry's fast path
//! (`fast.rs`, where JavaScript reads KV between two calls into the wasm).

use crate::config::gateway_config;
use crate::facts::CredentialHeaders;
use crate::http::{error_response, method_of, now_seconds};
use crate::keystore::{self, Held, Located};
use crate::quota::{self, Metered};
use crate::settings::Vars;
use crate::{activity, origin, ratelimit, sandbox};
use keygate_core::Error;
use keygate_core::keys::{Environment, KeyHash};
use keygate_core::location::Location;
use keygate_core::model::EdgeRecord;
use keygate_core::policy::{self, Grant, PreparedRecord, RequestFacts};
use keygate_core::quota::QuotaStatus;
use keygate_core::ratelimit::RateDecision;
use keygate_core::target::{RequestUrl, Target};
use std::rc::Rc;
use worker::{Env, Request, Response};

/// What the storage reads answered, once they were made: the location's cache first, then KV.
pub enum Lookup {
    NotYet,
    /// The location's copy under the key's hash (`None`: none, or it could not be read).
    Located(Option<String>),
    /// KV's text under the key's hash (`None`: unknown key), or its failure.
    Done(Result<Option<String>, Error>),
}

/// Where the pipeline stands.
pub enum Next<'a> {
    /// The key is not in this isolate's cache: read the location's copy under this hash, then
    /// decide again.
    Locate(KeyHash),
    /// Nothing this isolate may trust in the location's cache: read KV under this hash, then
    /// decide again.
    Lookup(KeyHash),
    /// The grant, the target it was made for, and the key's record.
    Granted(Box<Grant>, Target<'a>, Rc<PreparedRecord>),
}

/// Steps `https` to `scope`: authenticate, the record (cached at `location`, or from
/// `lookup`), authorize. A key is judged only while this isolate has read the revocation log
/// recently (`keystore::held`).
pub fn admit<'a>(
    facts: &RequestFacts<'a>,
    location: &Location,
    vars: &Vars,
    lookup: Lookup,
    request_id: &str,
) -> Result<Next<'a>, Error> {
    let authenticated = policy::authenticate(facts, &vars.settings)?;
    let hash = authenticated.credential.hash;
    let record = match (keystore::held(location, &hash)?, lookup) {
        (Held::Record(record), _) => record,
        (Held::Missing, Lookup::NotYet) => return Err(policy::unknown_key()),
        (Held::Nothing, Lookup::NotYet) => return Ok(Next::Locate(hash)),
        (Held::Missing | Held::Nothing, Lookup::Located(body)) => {
            match keystore::located(location, &hash, body.as_deref())? {
                Located::Record(record) => record,
                Located::Missing => return Err(policy::unknown_key()),
                Located::Miss => return Ok(Next::Lookup(hash)),
            }
        }
        (Held::Missing | Held::Nothing, Lookup::Done(text)) => {
            keystore::accept(location, &hash, text?.as_deref())?.ok_or_else(policy::unknown_key)?
        }
    };
    let now = now_seconds();
    // From here on the key is ours: what happens to the request is the account's to see.
    let grant = policy::authorize(
        facts,
        &authenticated.target,
        &record,
        gateway_config()?,
        &vars.settings,
        now,
    )
    .inspect_err(|error| activity::denied(&record, facts, error, request_id))?;
    Ok(Next::Granted(Box::new(grant), authenticated.target, record))
}

/// Records a granted request as the key's use, by the path that answers it (the fast path
/// hands some grants on, and the rate limit may still refuse one): once, under the request id
/// the client sees.
pub fn record_use(record: &EdgeRecord, facts: &RequestFacts<'_>, grant: &Grant, request_id: &str) {
    activity::used(record, facts.client_ip);
    if let Some(ip) = &grant.ip_would_deny {
        activity::would_deny(record, ip, request_id);
    }
}

/// The workers-rs entry's edge path (the JS entry sends it what its fast path cannot answer).
pub async fn handle(
    req: Request,
    env: &Env,
    vars: &Vars,
    url: &RequestUrl<'_>,
    request_id: &str,
) -> Result<Response, Error> {
    let headers = CredentialHeaders::read(&req)?;
    let location = headers.location(&req, vars);
    if keystore::sync_due(&location) {
        keystore::sync(env, &location).await;
    }
    let method = method_of(&req);
    let facts = headers.facts(url, &method);
    let mut lookup = Lookup::NotYet;
    let raw_url = req.inner().url();
    let host = keystore::host_of(&raw_url);
    let (grant, target, record) = loop {
        match admit(&facts, &location, vars, lookup, request_id)? {
            Next::Locate(hash) => {
                lookup = Lookup::Located(keystore::location_get(host, &location, &hash).await);
            }
            Next::Lookup(hash) => lookup = Lookup::Done(keystore::kv_get(env, &hash).await),
            Next::Granted(grant, target, record) => break (*grant, target, record),
        }
    };
    // Counted after the grant: requests refused before it (401/403/404) cost no count. The
    // key's own limit and its account's are taken together in the account's limiter of this
    // location.
    let limiter = location.limiter(&grant.account_id);
    let counted = ratelimit::take(env, &limiter, grant.rate_counts()).await?;
    if let Some(decision) = counted.filter(|d| !d.allowed) {
        let refusal = decision.refusal();
        activity::denied(&record, &facts, &refusal, request_id);
        return Ok(with_rate_limit(error_response(&refusal), &decision));
    }
    // The quota and credits come last: a request refused for anything else never consumes.
    let quota_status = match quota::admit(env, vars.limits, &grant, request_id).await? {
        Metered::Unmetered => None,
        Metered::Granted(status) => status,
        Metered::Refused(refusal, status) => {
            activity::denied(&record, &facts, &refusal, request_id);
            let response = with_quota(error_response(&refusal), Some(&status));
            return Ok(match counted {
                Some(decision) => with_rate_limit(response, &decision),
                None => response,
            });
        }
    };
    record_use(&record, &facts, &grant, request_id);
    // The only branch that can reach the origin is a live grant; test keys stay in-process.
    // Both get the target that was authorised, not the URL again.
    let response = match grant.environment {
        Environment::Test => sandbox::serve(req, env, &grant, &record, &target, request_id).await,
        Environment::Live => origin::forward(req, vars, &grant, &target, request_id).await?,
    };
    let response = with_quota(response, quota_status.as_ref());
    Ok(match counted {
        Some(decision) => with_rate_limit(response, &decision),
        None => response,
    })
}

/// `Keygate-Quota-Limit`, `-Remaining` and `-Reset` on every answer to a metered key.
fn with_quota(mut response: Response, status: Option<&QuotaStatus>) -> Response {
    if let Some(status) = status {
        for (name, value) in status.headers(now_seconds()) {
            let _ = response.headers_mut().set(name, &value);
        }
    }
    response
}

/// `RateLimit-Limit`, `-Remaining` and `-Reset` on every answer to a limited key.
fn with_rate_limit(mut response: Response, decision: &RateDecision) -> Response {
    for (name, value) in decision.headers() {
        let _ = response.headers_mut().set(name, &value);
    }
    response
}

//! The admin API's HTTP side (docs/admin-api.md): authenticate the caller, map method + path to a
//! registry command, and relay the Registry's answer. Validation and state changes happen in
//! the `Registry` Durable Object, on the core's rules.

use crate::facts::CredentialHeaders;
use crate::http::{answer_response, bounded_body, header, json_body, method_of, now_seconds};
use crate::registry::{self, Message, MessageHooks};
use crate::settings::Vars;
use crate::{demo, keystore, ratelimit};
use keygate_core::Error;
use keygate_core::admin::routes::{self, Body, Handler, Input, Operation, Params};
use keygate_core::credentials::extract_credential;
use keygate_core::engine::{Caller, Command, usage_csv_answer};
use keygate_core::github::{self, GithubKeys};
use keygate_core::ip::throttle_prefix;
use keygate_core::keys::constant_time_eq;
use keygate_core::location::Location;
use keygate_core::policy;
use keygate_core::target;
use keygate_core::target::RequestUrl;
use keygate_core::throttle::AuthThrottle;
use std::sync::OnceLock;
use std::time::Duration;
use worker::{Delay, Env, Request, Response};

/// Operator (`ADMIN_TOKEN`) or an account's own key with scope `keys:manage` (with its
/// account's id, whose admin budgets it spends).
/// The key's limits and current state are checked again by the engine, against the Registry's
/// own record rather than this isolate's cached copy.
async fn caller(
    req: &Request,
    headers: &CredentialHeaders,
    location: &Location,
    env: &Env,
    vars: &Vars,
    url: &RequestUrl<'_>,
) -> Result<(Caller, Option<String>), Error> {
    let credential = extract_credential(
        headers.authorization.as_deref(),
        headers.x_api_key.as_deref(),
    )?;
    if let Some(token) = vars.admin_token.as_deref()
        && constant_time_eq(credential.as_bytes(), token.as_bytes())
    {
        return Ok((Caller::Operator, None));
    }
    let method = method_of(req);
    let facts = headers.facts(url, &method);
    let authenticated = policy::authenticate(&facts, &vars.settings).map_err(|error| {
        if error.status == 401 && !credential.starts_with("sk_") && !credential.starts_with("pk_") {
            Error::unauthorized(
                "The admin token is not valid. Send `Authorization: Bearer <ADMIN_TOKEN>`, or a \
                 secret key with the `keys:manage` scope.",
            )
        } else {
            error
        }
    })?;
    let record = keystore::lookup(env, location, &authenticated.credential.hash)
        .await?
        .ok_or_else(policy::unknown_key)?;
    policy::authorize_key_manager(&facts, &record, &vars.settings, now_seconds())?;
    Ok((
        Caller::Manager {
            key_id: record.key.id.clone(),
        },
        Some(record.account.id.clone()),
    ))
}

/// Rate-limit bindings (wrangler.toml `[[ratelimits]]`) counting failed admin authentications
/// per address bucket; their limits are `keygate_core::throttle`'s two tiers.
const AUTH_SOFT_BINDING: &str = "ADMIN_AUTH_SOFT";
const AUTH_HARD_BINDING: &str = "ADMIN_AUTH_HARD";

/// A failed admin authentication (401) of a request that presented a credential: counted
/// against its address's bucket, and answered as `keygate_core::throttle` says (at once,
/// slowed, or 429). A binding that cannot answer counts as over the soft limit only.
async fn throttled(req: &Request, env: &Env, failure: Error) -> Error {
    let presented = ["Authorization", "X-API-Key"]
        .iter()
        .any(|name| req.headers().has(name).unwrap_or(true));
    if failure.status != 401 || !presented {
        return failure;
    }
    // Read as everywhere (facts.rs): a failure reached here had a valid address or none.
    let address = CredentialHeaders::read(req).ok().and_then(|h| h.client_ip);
    let bucket = throttle_prefix(address);
    let within = |binding: &'static str| {
        let bucket = bucket.clone();
        async move {
            match env.rate_limiter(binding) {
                Ok(limiter) => limiter.limit(bucket).await.map(|outcome| outcome.success),
                Err(error) => Err(error),
            }
        }
    };
    let (soft, hard) = futures_util::join!(within(AUTH_SOFT_BINDING), within(AUTH_HARD_BINDING));
    if let Err(error) = soft.as_ref().and(hard.as_ref()) {
        worker::console_error!("admin auth throttle: {error}");
    }
    let tier = AuthThrottle::after_failure(soft.unwrap_or(false), hard.unwrap_or(true));
    if tier.delay_ms() > 0 {
        Delay::from(Duration::from_millis(u64::from(tier.delay_ms()))).await;
    }
    tier.answer(failure)
}

/// `POST /admin/v1/leaks/github`: verified against GitHub's published keys before anything is
/// read from it; then every secret key of ours in it is marked leaked.
async fn github_report(
    mut req: Request,
    location: &Location,
    env: &Env,
    vars: &Vars,
    request_id: &str,
) -> Result<Response, Error> {
    static KEYS: OnceLock<Result<GithubKeys, Error>> = OnceLock::new();
    let document = vars.github_keys.as_deref().ok_or_else(|| {
        Error::not_found("GitHub secret scanning is not configured on this deployment.")
    })?;
    let keys = KEYS
        .get_or_init(|| GithubKeys::from_json(document))
        .as_ref()
        .map_err(Clone::clone)?;
    let key_id = header(&req, "Github-Public-Key-Identifier")?;
    let signature = header(&req, "Github-Public-Key-Signature")?;
    let body = bounded_body(&mut req, github::MAX_REPORT_BYTES).await?;
    keys.verify(key_id.as_deref(), signature.as_deref(), &body)?;
    let matches = github::report(&body)?;
    relay(
        env,
        vars,
        location,
        Caller::Edge,
        None,
        Command::GithubReport { matches },
        request_id,
        false,
    )
    .await
}

/// Sends one command where it runs (its account's Registry, or the directory), applies the
/// edge changes of its answer to this isolate's cache of `location` at once (revocation is
/// immediate where the write was served), and relays the answer. `manager_account`: the
/// account of a manager caller, whose commands run on that account's records only.
/// The answer is rendered as CSV when `csv` (the usage export asked for `text/csv`).
#[allow(
    clippy::too_many_arguments,
    reason = "the command, who sends it, and the format"
)]
async fn relay(
    env: &Env,
    vars: &Vars,
    location: &Location,
    caller: Caller,
    manager_account: Option<&str>,
    command: Command,
    request_id: &str,
    csv: bool,
) -> Result<Response, Error> {
    // The demo account is seeded by an admin request, never by a report (GitHub's) the
    // worker makes on its own behalf.
    if vars.demo_seed && !matches!(caller, Caller::Edge) {
        seed_demo(env, vars, location, request_id).await;
    }
    let reply = registry::call(
        env,
        Message {
            caller,
            now: now_seconds(),
            demo_seed: false,
            limits: vars.limits,
            test: MessageHooks::from_vars(vars),
            request_id: request_id.to_string(),
            command,
        },
        manager_account,
    )
    .await?;
    if vars.applies_locally() {
        keystore::apply(location, reply.edge.clone());
    }
    if csv {
        return Ok(answer_response(usage_csv_answer(reply.answer)));
    }
    Ok(reply.into_response())
}

/// Whether the request prefers CSV: its `Accept` names `text/csv`.
fn accepts_csv(req: &Request) -> bool {
    req.headers()
        .get("Accept")
        .ok()
        .flatten()
        .is_some_and(|accept| {
            accept.split(',').any(|kind| {
                kind.split(';')
                    .next()
                    .is_some_and(|k| k.trim().eq_ignore_ascii_case("text/csv"))
            })
        })
}

thread_local! {
    /// Whether this isolate has had the demo account seeded (or found it there).
    static DEMO_SEEDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Seeds the demo account in its own Registry, once per isolate (`DEMO_SEED`, local
/// development only). A failure is logged and tried again by the next admin request.
async fn seed_demo(env: &Env, vars: &Vars, location: &Location, request_id: &str) {
    if DEMO_SEEDED.get() {
        return;
    }
    let message = Message {
        caller: Caller::Operator,
        now: now_seconds(),
        demo_seed: true,
        limits: vars.limits,
        test: None,
        request_id: request_id.to_string(),
        command: demo::seed_command(),
    };
    match registry::call(env, message, None).await {
        Ok(reply) => {
            DEMO_SEEDED.set(true);
            if vars.applies_locally() {
                keystore::apply(location, reply.edge);
            }
        }
        Err(error) => worker::console_error!("demo account not seeded: {}", error.message),
    }
}

pub async fn handle(
    mut req: Request,
    env: &Env,
    vars: &Vars,
    url: &RequestUrl<'_>,
    request_id: &str,
) -> Result<Response, Error> {
    let (operation, params) = operation(url, &method_of(&req))?;
    let headers = CredentialHeaders::read(&req)?;
    let location = headers.location(&req, vars);
    let build = match operation.handler {
        Handler::GithubReport => {
            return github_report(req, &location, env, vars, request_id).await;
        }
        Handler::Command(build) => build,
    };
    let (caller, account) = match caller(&req, &headers, &location, env, vars, url).await {
        Ok(found) => found,
        Err(failure) => return Err(throttled(&req, env, failure).await),
    };
    let (page, filters) = operation.read_query(url.query.unwrap_or_default())?;
    let body = match operation.body {
        Body::None => None,
        Body::Optional(_) => json_body(&mut req).await?,
        Body::Required(_) => Some(
            json_body(&mut req)
                .await?
                .ok_or_else(|| Error::bad_request("A JSON object body is required."))?,
        ),
    };
    let command = build(Input {
        params,
        page,
        filters,
        body,
    });

    // A manager's command spends its account's admin budget (counted once per account, in
    // the limiter named by the account id) before it reaches its account's Registry, so a
    // refused flood costs the Registry nothing.
    if let (Some(account_id), Some(count)) = (&account, vars.budgets.count(&caller, &command))
        && let Some(decision) = ratelimit::take(env, account_id, vec![count]).await?
        && !decision.allowed
    {
        return Err(decision.refusal());
    }
    let csv = matches!(command, Command::ListUsage { .. }) && accepts_csv(&req);
    relay(
        env,
        vars,
        &location,
        caller,
        account.as_deref(),
        command,
        request_id,
        csv,
    )
    .await
}

/// The operation of the route table (`keygate_core::admin::routes`) at a canonical path below
/// `/admin/v1`, and its path parameters. Any other spelling is 404 (not the edge's 400: the
/// admin API names no canonical form to a caller it has not authenticated), except a secret
/// key in the URL, which is refused as everywhere.
fn operation(url: &RequestUrl<'_>, method: &str) -> Result<(&'static Operation, Params), Error> {
    target::reject_secret_in_url(url.path, url.query)?;
    let target = target::parse_target(url.path, url.query).map_err(|_| {
        Error::not_found("No such admin endpoint. See the admin API in the README.")
    })?;
    let segments: Vec<&str> = target.segments().collect();
    routes::route(method, &segments)
}

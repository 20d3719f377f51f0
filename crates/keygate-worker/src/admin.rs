//! The admin API's HTTP side (docs/admin-api.md): authenticate the caller, map method + path to a
//! registry command, and relay the Registry's answer. Validation and state changes happen in
//! the `Registry` Durable Object, on the core's rules.

use crate::facts::CredentialHeaders;
use crate::http::{bounded_body, header, is_known_method, json_body, method_of, now_seconds};
use crate::registry::{self, Message, MessageHooks};
use crate::settings::Vars;
use crate::{keystore, ratelimit};
use keygate_core::credentials::extract_credential;
use keygate_core::engine::{Caller, Command};
use keygate_core::github::{self, GithubKeys};
use keygate_core::ip::throttle_prefix;
use keygate_core::keys::constant_time_eq;
use keygate_core::page::{PageParams, query_pairs};
use keygate_core::policy;
use keygate_core::target;
use keygate_core::target::RequestUrl;
use keygate_core::throttle::AuthThrottle;
use keygate_core::{Error, FieldError};
use std::sync::OnceLock;
use std::time::Duration;
use worker::{Delay, Env, Method, Request, Response};

/// Operator (`ADMIN_TOKEN`) or an account's own key with scope `keys:manage` (with its
/// account's id, whose admin budgets it spends).
/// The key's limits and current state are checked again by the engine, against the Registry's
/// own record rather than this isolate's cached copy.
async fn caller(
    req: &Request,
    env: &Env,
    vars: &Vars,
    url: &RequestUrl<'_>,
) -> Result<(Caller, Option<String>), Error> {
    let headers = CredentialHeaders::read(req)?;
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
    let record = keystore::lookup(env, &authenticated.credential.hash)
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

enum Route<'a> {
    Accounts,
    Account(&'a str),
    Entitlement(&'a str, &'a str),
    AccountKeys(&'a str),
    AccountEvents(&'a str),
    Request(&'a str),
    Deliveries(&'a str),
    /// GitHub's secret-scanning reports: authenticated by GitHub's signature, not a token.
    GithubLeaks,
    Key(&'a str),
    KeyRoll(&'a str),
    KeyLeaked(&'a str),
    Leaks,
}

impl<'a> Route<'a> {
    /// The endpoint of a canonical path below `/admin/v1`. Any other spelling is 404 (not the
    /// edge's 400: the admin API names no canonical form to a caller it has not authenticated),
    /// except a secret key in the URL, which is refused as everywhere.
    fn parse(url: &RequestUrl<'a>) -> Result<Self, Error> {
        target::reject_secret_in_url(url.path, url.query)?;
        let target = target::parse_target(url.path, url.query).map_err(|_| not_found())?;
        let segments: Vec<&str> = target.segments().collect();
        let ["admin", "v1", rest @ ..] = segments.as_slice() else {
            return Err(not_found());
        };
        Ok(match rest {
            ["accounts"] => Route::Accounts,
            ["accounts", id] => Route::Account(id),
            ["accounts", id, "products", product] => Route::Entitlement(id, product),
            ["accounts", id, "keys"] => Route::AccountKeys(id),
            ["accounts", id, "events"] => Route::AccountEvents(id),
            ["requests", id] => Route::Request(id),
            ["events", id, "deliveries"] => Route::Deliveries(id),
            ["keys", id] => Route::Key(id),
            ["keys", id, "roll"] => Route::KeyRoll(id),
            ["keys", id, "leaked"] => Route::KeyLeaked(id),
            ["leaks"] => Route::Leaks,
            ["leaks", "github"] => Route::GithubLeaks,
            _ => return Err(not_found()),
        })
    }

    fn allow(&self) -> &'static str {
        match self {
            Route::Accounts | Route::AccountKeys(_) => "GET, POST",
            Route::Account(_) => "GET, PATCH",
            Route::Entitlement(..) => "GET, PUT, DELETE",
            Route::Key(_) => "GET, PATCH, DELETE",
            Route::KeyRoll(_) | Route::KeyLeaked(_) | Route::Leaks | Route::GithubLeaks => "POST",
            Route::AccountEvents(_) | Route::Request(_) | Route::Deliveries(_) => "GET",
        }
    }
}

fn not_found() -> Error {
    Error::not_found("No such admin endpoint. See the admin API in the README.")
}

fn page(url: &RequestUrl<'_>) -> Result<PageParams, Error> {
    page_with(url, &[]).map(|(page, _)| page)
}

/// A list's query filters by name, e.g. `("type", "key.created")`.
type Filters<'f> = Vec<(&'f str, String)>;

/// `limit` and `starting_after`, plus the `filters` this list accepts (returned by name);
/// any other query parameter is 400.
fn page_with<'f>(
    url: &RequestUrl<'_>,
    filters: &[&'f str],
) -> Result<(PageParams, Filters<'f>), Error> {
    let pairs = query_pairs(url.query.unwrap_or_default());
    let mut found = Vec::new();
    for (name, value) in &pairs {
        if let Some(filter) = filters.iter().find(|f| *f == name) {
            found.push((*filter, value.clone()));
        } else if name != "limit" && name != "starting_after" {
            let mut known = vec!["limit", "starting_after"];
            known.extend(filters);
            return Err(Error::invalid(vec![FieldError::new(
                name.clone(),
                format!("unknown query parameter; use {}", known.join(", ")),
            )]));
        }
    }
    let page = PageParams::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))?;
    Ok((page, found))
}

/// `POST /admin/v1/leaks/github`: verified against GitHub's published keys before anything is
/// read from it; then every secret key of ours in it is marked leaked.
async fn github_report(
    mut req: Request,
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
        Caller::Edge,
        Command::GithubReport { matches },
        request_id,
    )
    .await
}

/// Sends one command to the Registry, applies the edge changes of its answer to this isolate's
/// cache at once (revocation is immediate where the write was served), and relays the answer.
async fn relay(
    env: &Env,
    vars: &Vars,
    caller: Caller,
    command: Command,
    request_id: &str,
) -> Result<Response, Error> {
    // The demo account is seeded by an admin request, never by a report (GitHub's) the
    // worker makes on its own behalf.
    let demo_seed = vars.demo_seed && !matches!(caller, Caller::Edge);
    let reply = registry::call(
        env,
        &Message {
            caller,
            now: now_seconds(),
            demo_seed,
            limits: vars.limits,
            test: MessageHooks::from_vars(vars),
            request_id: request_id.to_string(),
            command,
        },
    )
    .await?;
    if vars.applies_locally() {
        keystore::apply(reply.edge.clone());
    }
    Ok(reply.into_response())
}

async fn required_body(req: &mut Request) -> Result<serde_json::Value, Error> {
    json_body(req)
        .await?
        .ok_or_else(|| Error::bad_request("A JSON object body is required."))
}

pub async fn handle(
    mut req: Request,
    env: &Env,
    vars: &Vars,
    url: &RequestUrl<'_>,
    request_id: &str,
) -> Result<Response, Error> {
    let route = Route::parse(url)?;
    if !is_known_method(&method_of(&req)) {
        return Err(Error::method_not_allowed(route.allow()));
    }
    let method = req.method();
    if let Route::GithubLeaks = route {
        if method != Method::Post {
            return Err(Error::method_not_allowed(route.allow()));
        }
        return github_report(req, env, vars, request_id).await;
    }
    let (caller, account) = match caller(&req, env, vars, url).await {
        Ok(found) => found,
        Err(failure) => return Err(throttled(&req, env, failure).await),
    };
    let id = |s: &str| s.to_string();

    let command = match (&route, method) {
        (Route::Accounts, Method::Get) => Command::ListAccounts { page: page(url)? },
        (Route::Accounts, Method::Post) => Command::CreateAccount {
            body: required_body(&mut req).await?,
        },
        (Route::Account(a), Method::Get) => Command::GetAccount { account_id: id(a) },
        (Route::Account(a), Method::Patch) => Command::UpdateAccount {
            account_id: id(a),
            body: required_body(&mut req).await?,
        },
        (Route::Entitlement(a, p), Method::Get) => Command::GetEntitlement {
            account_id: id(a),
            product_id: id(p),
        },
        (Route::Entitlement(a, p), Method::Put) => Command::Entitle {
            account_id: id(a),
            product_id: id(p),
        },
        (Route::Entitlement(a, p), Method::Delete) => Command::Withdraw {
            account_id: id(a),
            product_id: id(p),
        },
        (Route::AccountKeys(a), Method::Get) => Command::ListKeys {
            account_id: id(a),
            page: page(url)?,
        },
        (Route::AccountEvents(a), Method::Get) => {
            let (page, filters) = page_with(url, &["type", "key_id"])?;
            let filter = |name: &str| {
                filters
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.clone())
            };
            Command::ListEvents {
                account_id: id(a),
                page,
                kind: filter("type"),
                key_id: filter("key_id"),
            }
        }
        (Route::Request(r), Method::Get) => Command::GetRequest { request_id: id(r) },
        (Route::Deliveries(e), Method::Get) => Command::GetDeliveries { event_id: id(e) },
        (Route::AccountKeys(a), Method::Post) => Command::CreateKey {
            account_id: id(a),
            body: required_body(&mut req).await?,
        },
        (Route::Key(k), Method::Get) => Command::GetKey { key_id: id(k) },
        (Route::Key(k), Method::Patch) => Command::UpdateKey {
            key_id: id(k),
            body: required_body(&mut req).await?,
        },
        (Route::Key(k), Method::Delete) => Command::DeleteKey { key_id: id(k) },
        (Route::KeyRoll(k), Method::Post) => Command::RollKey {
            key_id: id(k),
            body: json_body(&mut req).await?,
        },
        (Route::KeyLeaked(k), Method::Post) => Command::LeakKey {
            key_id: id(k),
            body: json_body(&mut req).await?,
        },
        (Route::Leaks, Method::Post) => Command::LeakReport {
            body: required_body(&mut req).await?,
        },
        _ => return Err(Error::method_not_allowed(route.allow())),
    };

    // A manager's command spends its account's admin budget before it reaches the single
    // Registry, so a refused flood costs the Registry nothing.
    if let (Some(account_id), Some(count)) = (&account, vars.budgets.count(&caller, &command))
        && let Some(decision) = ratelimit::take(env, account_id, vec![count]).await?
        && !decision.allowed
    {
        return Err(decision.refusal());
    }
    relay(env, vars, caller, command, request_id).await
}

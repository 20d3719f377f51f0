//! keygate's Cloudflare Worker: the only crate that touches the runtime. It reads requests,
//! storage and secrets, hands the facts to `keygate-core` and `keygate-sandbox`, and turns
//! their answers into responses. Every response carries a fresh `X-Request-Id`.

mod activity;
mod admin;
mod config;
mod demo;
mod directory;
mod durable;
mod edge;
mod facts;
mod fast;
mod http;
mod keystore;
mod lock;
mod origin;
mod protocol;
mod quota;
mod random;
mod ratelimit;
mod registry;
mod revocations;
mod sandbox;
mod settings;
mod webhooks;

pub use directory::Directory;
pub use ratelimit::RateLimiter;
pub use registry::Registry;
pub use revocations::Revocations;
pub use sandbox::SandboxStore;

use http::{error_response, log_server_error, no_store, with_request_id};
use keygate_core::Error;
use keygate_core::ids::new_request_id;
use keygate_core::policy;
use keygate_core::target::{RequestUrl, is_admin_path, split_url};
use random::PlatformRandom;
use settings::Vars;
use worker::{Context, Env, Request, Response, event};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let request_id = new_request_id(&PlatformRandom);
    let raw_url = req.inner().url();
    let url = split_url(&raw_url);
    let admin = url.as_ref().is_some_and(|url| is_admin_path(url.path));
    let response = match serve(req, &env, url, &request_id).await {
        Ok(response) => response,
        Err(error) => {
            log_server_error(&request_id, &error);
            error_response(&error)
        }
    };
    // Every answer on an admin path, whatever its status or where it was decided (HTTPS
    // refusal, 401, 404, 405, 429 included): one place, not one per route.
    let response = if admin { no_store(response) } else { response };
    // Whatever this request recorded (a refusal, a use, a key sent in clear) is sent within its
    // bound by a flush armed here, not by whichever request comes next.
    activity::arm(&env, &ctx, Vars::get(&env).limits);
    // What this request drew from a quota's lease is settled after the answer, never before.
    quota::arm(&env, &ctx, Vars::get(&env).limits);
    // What this request taught the isolate goes to the location's cache, after the answer.
    if let Some(delay_ms) = keystore::writes_after() {
        let host = keystore::host_of(&raw_url).to_string();
        ctx.wait_until(async move {
            worker::Delay::from(std::time::Duration::from_millis(delay_ms)).await;
            keystore::put_location_writes(host).await;
        });
    }
    Ok(with_request_id(response, &request_id))
}

async fn serve(
    req: Request,
    env: &Env,
    url: Option<RequestUrl<'_>>,
    request_id: &str,
) -> Result<Response, Error> {
    let vars = Vars::get(env);
    let url = url.ok_or_else(|| Error::bad_request("The request URL is invalid."))?;
    // HTTPS first for every path, admin included: a token sent in clear is already exposed,
    // and one of our secret keys that was is marked leaked (reported in the flush this request
    // arms, ~1 s later).
    if let Err(refusal) = policy::check_https(url.https, &vars.settings) {
        let header = |name: &str| req.headers().get(name).ok().flatten();
        activity::exposed(
            header("Authorization").as_deref(),
            header("X-API-Key").as_deref(),
        );
        return Err(refusal);
    }
    // Segment-bounded: `/adminx` is an edge path, `/admin/v1//accounts` an admin path that the
    // admin API refuses as not canonical.
    if is_admin_path(url.path) {
        admin::handle(req, env, vars, &url, request_id).await
    } else {
        edge::handle(req, env, vars, &url, request_id).await
    }
}

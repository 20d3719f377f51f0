//! SPEC §3 in the worker: gather the request's facts, let the core decide, and route the grant.
//! Every decision is `keygate_core::policy`'s; this file only does the I/O between them.

use crate::config::gateway_config;
use crate::http::{header, now_seconds};
use crate::settings::Vars;
use crate::{keystore, origin, sandbox};
use keygate_core::Error;
use keygate_core::keys::Environment;
use keygate_core::policy::{self, RequestFacts};
use keygate_core::target::RequestUrl;
use worker::{Env, Request, Response};

/// The request headers the pipeline reads, owned so the facts can borrow them.
pub struct CredentialHeaders {
    pub authorization: Option<String>,
    pub x_api_key: Option<String>,
    pub x_product_key: Option<String>,
    pub cf_connecting_ip: Option<String>,
}

impl CredentialHeaders {
    pub fn read(req: &Request) -> Result<Self, Error> {
        Ok(Self {
            authorization: header(req, "Authorization")?,
            x_api_key: header(req, "X-API-Key")?,
            x_product_key: header(req, "X-Product-Key")?,
            cf_connecting_ip: header(req, "CF-Connecting-IP")?,
        })
    }

    pub fn facts<'a>(&'a self, url: &RequestUrl<'a>, method: &'a str) -> RequestFacts<'a> {
        RequestFacts {
            https: url.https,
            method,
            path: url.path,
            query: url.query,
            authorization: self.authorization.as_deref(),
            x_api_key: self.x_api_key.as_deref(),
            x_product_key: self.x_product_key.as_deref(),
            cf_connecting_ip: self.cf_connecting_ip.as_deref(),
        }
    }
}

pub async fn handle(
    req: Request,
    env: &Env,
    vars: &Vars,
    url: &RequestUrl<'_>,
    request_id: &str,
) -> Result<Response, Error> {
    let method = req.method().to_string();
    let headers = CredentialHeaders::read(&req)?;
    let facts = headers.facts(url, &method);

    let authenticated = policy::authenticate(&facts, &vars.settings)?;
    let target = authenticated.target;
    let record = keystore::lookup(env, &authenticated.credential.hash)
        .await?
        .ok_or_else(policy::unknown_key)?;
    let grant = policy::authorize(
        &facts,
        &target,
        &record,
        gateway_config()?,
        &vars.settings,
        now_seconds(),
    )?;

    // The only branch that can reach the origin is a live grant; test keys stay in-process.
    // Both get the target that was authorised, not the URL again.
    match grant.environment {
        Environment::Test => Ok(sandbox::serve(req, env, &grant, &target, request_id).await),
        Environment::Live => origin::forward(req, vars, &grant, &target, request_id).await,
    }
}

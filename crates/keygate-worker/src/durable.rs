//! How the worker talks to its Durable Objects: one JSON message in, one JSON reply out.
//! Any failure on the way (no binding, the object unreachable, a reply that does not parse)
//! is the caller's `unavailable` error: the store could not answer, so fail closed.
//!
//! Each object's module names its protocol the same way: `Message` is what goes in, `Reply`
//! what comes out (or a type named for what it is: the rate limiter's `RateDecision`, the
//! revocation log's `Changes` and `LogTail`). Replies that
//! carry an HTTP answer for the worker to relay hold a `keygate_core::Answer`.

use keygate_core::Error;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use worker::{Env, Method, Request, RequestInit};

/// The URL of every call. It only has to parse: a stub's fetch goes to the object whatever
/// the host.
pub const OBJECT_URL: &str = "https://object.internal/";

/// One message on its way to one object (a `POST` of `body` to [`OBJECT_URL`]): what [`send`]
/// sends, and what the edge's fast path hands the JS entry to send (`src/fast.rs`).
pub struct Outgoing<'a> {
    pub binding: &'static str,
    pub object_name: Cow<'a, str>,
    pub body: String,
}

impl<'a> Outgoing<'a> {
    pub fn new<M: Serialize>(
        binding: &'static str,
        object_name: impl Into<Cow<'a, str>>,
        message: &M,
    ) -> Result<Self, Error> {
        Ok(Self {
            binding,
            object_name: object_name.into(),
            body: serde_json::to_string(message).map_err(|_| Error::internal())?,
        })
    }
}

pub async fn call<M: Serialize, R: DeserializeOwned>(
    env: &Env,
    binding: &'static str,
    object_name: &str,
    message: &M,
    unavailable: fn() -> Error,
) -> Result<R, Error> {
    send(
        env,
        Outgoing::new(binding, object_name, message)?,
        unavailable,
    )
    .await
}

/// Sends a message built beforehand (one the fast path could send too) and reads the reply.
pub async fn send<R: DeserializeOwned>(
    env: &Env,
    outgoing: Outgoing<'_>,
    unavailable: fn() -> Error,
) -> Result<R, Error> {
    let reply = post(env, outgoing, unavailable).await?;
    serde_json::from_str(&reply).map_err(|_| unavailable())
}

/// The reply's text, from any object; not generic, so every kind of reply shares this code
/// (wasm size).
async fn post(
    env: &Env,
    outgoing: Outgoing<'_>,
    unavailable: fn() -> Error,
) -> Result<String, Error> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(outgoing.body.into()));
    let request = Request::new_with_init(OBJECT_URL, &init).map_err(|_| Error::internal())?;
    let stub = env
        .durable_object(outgoing.binding)
        .and_then(|ns| ns.get_by_name(&outgoing.object_name))
        .map_err(|_| unavailable())?;
    let mut response = stub
        .fetch_with_request(request)
        .await
        .map_err(|_| unavailable())?;
    if response.status_code() != 200 {
        return Err(unavailable());
    }
    response.text().await.map_err(|_| unavailable())
}

//! How the worker talks to its Durable Objects: one JSON message in, one JSON reply out.
//! Any failure on the way (no binding, the object unreachable, a reply that does not parse)
//! is the caller's `unavailable` error: the store could not answer, so fail closed.
//!
//! Each object's module names its protocol the same way: `Message` is what goes in, `Reply`
//! what comes out (or a type named for what it is: the rate limiter's `RateDecision`, the
//! revocation log's `Changes`). Replies that
//! carry an HTTP answer for the worker to relay hold a `keygate_core::Answer`.

use keygate_core::Error;
use serde::Serialize;
use serde::de::DeserializeOwned;
use worker::{Env, Method, Request, RequestInit};

pub async fn call<M: Serialize, R: DeserializeOwned>(
    env: &Env,
    binding: &str,
    object_name: &str,
    message: &M,
    unavailable: fn() -> Error,
) -> Result<R, Error> {
    let body = serde_json::to_string(message).map_err(|_| Error::internal())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    // The URL only has to parse: a stub's fetch goes to the object whatever the host.
    let request =
        Request::new_with_init("https://object.internal/", &init).map_err(|_| Error::internal())?;
    let stub = env
        .durable_object(binding)
        .and_then(|ns| ns.get_by_name(object_name))
        .map_err(|_| unavailable())?;
    let mut response = stub
        .fetch_with_request(request)
        .await
        .map_err(|_| unavailable())?;
    response.json::<R>().await.map_err(|_| unavailable())
}

//! The one place the worker reads the request headers every decision starts from — the edge
//! pipeline's and the admin API's (which accepts a `keys:manage` key the same ways). Parsing
//! them is the core's (`keygate_core::credentials`).

use crate::http::header;
use crate::settings::Vars;
use keygate_core::Error;
use keygate_core::ip::client_address;
use keygate_core::location::{Location, TEST_LOCATION_HEADER};
use keygate_core::policy::RequestFacts;
use keygate_core::target::RequestUrl;
use std::net::IpAddr;
use worker::Request;

/// The request headers the pipeline reads, owned so the facts can borrow them.
pub struct CredentialHeaders {
    pub authorization: Option<String>,
    pub x_api_key: Option<String>,
    pub x_product_key: Option<String>,
    /// `CF-Connecting-IP`, parsed here or the request refused (400): its raw text is never kept.
    pub client_ip: Option<IpAddr>,
    /// `X-Keygate-Test-Location`, as sent: it names the location only where the test hooks
    /// allow (`Vars::location`).
    pub test_location: Option<String>,
}

impl CredentialHeaders {
    pub fn read(req: &Request) -> Result<Self, Error> {
        Self::from_getter(|name| header(req, name))
    }

    /// From any source of header values by (case-insensitive) name.
    pub fn from_getter(get: impl Fn(&str) -> Result<Option<String>, Error>) -> Result<Self, Error> {
        Ok(Self {
            authorization: get("Authorization")?,
            x_api_key: get("X-API-Key")?,
            x_product_key: get("X-Product-Key")?,
            client_ip: client_address(get("CF-Connecting-IP")?.as_deref())?,
            test_location: get(TEST_LOCATION_HEADER)?,
        })
    }

    /// The location `req` is served from: the platform's `colo`, or where the test hooks allow,
    /// the one `X-Keygate-Test-Location` names (`Vars::location`).
    pub fn location(&self, req: &Request, vars: &Vars) -> Location {
        vars.location(
            req.cf().map(|cf| cf.colo()).as_deref(),
            self.test_location.as_deref(),
        )
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
            client_ip: self.client_ip,
        }
    }
}

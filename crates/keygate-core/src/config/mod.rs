//! The gateway configuration: products and the route table. One reviewed JSON file, embedded
//! in the worker at build time:
//!
//! ```json
//! {"products": [{"id": "bank_data", "name": "Bank data"}],
//!  "routes": [{"method": "GET", "path": "/v1/accounts/*/transactions",
//!              "scope": "transactions:read", "product": "bank_data"},
//!             {"method": "POST", "path": "/v1/sandbox/reset", "scope": "sandbox:write",
//!              "product": null, "environments": ["test"]}]}
//! ```
//!
//! The route language is built so that no path can borrow another route's scope or product:
//! - A route path is literal segments and `*`, which matches exactly one non-empty segment.
//!   Nothing is open-ended: a path is served only by a route with exactly its number of
//!   segments, so `/v1/accounts/a/transactions/b` is 404 unless a route names that shape.
//! - Segments match case-sensitively against the canonical path (`crate::target`).
//! - Where two routes of one method match a path, the more specific one wins (a literal beats
//!   `*`). Two routes of one method that both match some path without one being more specific
//!   (`/a/*/c` and `/a/b/*`) are a configuration error, so the winner never depends on order.
//! - Every route names its product (or `null` for a route that serves no product data, such
//!   as the sandbox's own tools): the product key a request needs comes from the route, never
//!   from a path prefix, so a nested list (`/v1/accounts/*/payment_orders`) needs the product
//!   of what it lists.
//! - `environments` (empty = both) is checked after matching, so a route restricted to `test`
//!   answers 404 to a live key. `HEAD` is served by a path's `GET` route.

use crate::error::{Error, FieldError};
use crate::keys::Environment;
use crate::scope::{self, Scope};
use serde::Deserialize;
use serde_json::Value;

/// Methods a route may name. `HEAD` is not among them: the `GET` route serves it.
pub const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    products: Vec<ProductFile>,
    routes: Vec<RouteFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductFile {
    id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteFile {
    method: String,
    path: String,
    scope: String,
    /// Required: a product id, or `null`. Kept as a raw value to tell "absent" from `null`.
    #[serde(default, deserialize_with = "present")]
    product: Option<Value>,
    #[serde(default)]
    environments: Vec<Environment>,
    /// Credits a granted request takes (1 when absent).
    #[serde(default)]
    cost: Option<u64>,
}

/// The largest `cost` of a route.
pub const MAX_ROUTE_COST: u64 = 1_000_000;

/// `Some` for any value present, `null` included (serde's `Option` would read `null` as `None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Something the provider sells access to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// 1 to 64 of `a-z`, `0-9`, `_`; unique. What entitlements, `pk_` keys and routes name.
    pub id: String,
    /// Display name, 1 to 200 characters.
    pub name: String,
}

/// One line of the route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// One of [`METHODS`]; `HEAD` requests are served by the `GET` route.
    pub method: String,
    /// The pattern as written: `/`-separated literal segments and `*` (exactly one non-empty
    /// segment), e.g. `/v1/accounts/*/transactions`.
    pub path: String,
    /// The concrete `resource:action` scope a key needs for this route (never a wildcard).
    pub scope: String,
    /// The product whose key this route needs; `None` for a route that serves no product.
    pub product: Option<String>,
    /// Environments this route serves; empty means both.
    pub environments: Vec<Environment>,
    /// Credits a granted request takes from a key's balance; `None`: 1, and the usage export
    /// does not break the route out.
    pub cost: Option<u64>,
    pattern: Pattern,
}

impl Route {
    /// Whether a key of `environment` may use this route (404 otherwise).
    pub fn serves(&self, environment: Environment) -> bool {
        self.environments.is_empty() || self.environments.contains(&environment)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    segments: Vec<Segment>,
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        let Some(rest) = text.strip_prefix('/') else {
            return Err("must start with `/`".into());
        };
        let mut segments = Vec::new();
        if rest.is_empty() {
            return Ok(Pattern { segments });
        }
        for part in rest.split('/') {
            if part == "*" {
                segments.push(Segment::Any);
                continue;
            }
            if part.contains('*') {
                return Err(
                    "may use `*` only as a whole segment (one segment; nothing is open-ended)"
                        .into(),
                );
            }
            check_literal(part)?;
            segments.push(Segment::Literal(part.to_string()));
        }
        Ok(Pattern { segments })
    }

    fn matches(&self, path: &[&str]) -> bool {
        self.segments.len() == path.len()
            && self
                .segments
                .iter()
                .zip(path)
                .all(|(segment, part)| match segment {
                    Segment::Literal(literal) => literal == part,
                    Segment::Any => !part.is_empty(),
                })
    }

    /// Every path this pattern matches, `other` matches too, and it is not the same pattern.
    fn narrower_than(&self, other: &Pattern) -> bool {
        self != other && self.within(other)
    }

    fn within(&self, other: &Pattern) -> bool {
        self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|(mine, theirs)| theirs == &Segment::Any || mine == theirs)
    }

    /// Whether some path matches both.
    fn overlaps(&self, other: &Pattern) -> bool {
        self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|(a, b)| a == &Segment::Any || b == &Segment::Any || a == b)
    }
}

/// The segments of a canonical path; `/` has none.
fn segments_of(path: &str) -> Vec<&str> {
    match path.strip_prefix('/') {
        Some("") => Vec::new(),
        Some(rest) => rest.split('/').collect(),
        // Not a path: a segment that no literal and no `*` matches.
        None => vec![""],
    }
}

/// Characters allowed in a literal route segment: unreserved URL characters, which a
/// canonical path never percent-encodes (so a literal has exactly one spelling).
fn check_literal(segment: &str) -> Result<(), String> {
    if segment.is_empty() {
        return Err("has an empty segment (`//` or a trailing `/`)".into());
    }
    if segment == "." || segment == ".." {
        return Err("has a `.` or `..` segment".into());
    }
    if !segment
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        return Err("may contain only letters, digits, `-`, `.`, `_`, `~` between slashes".into());
    }
    Ok(())
}

/// The result of looking a request up in the route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMatch<'a> {
    /// The most specific route of the method on this path.
    Found(&'a Route),
    /// The path exists for other methods: the routes that serve it, one per method.
    MethodNotAllowed(Vec<&'a Route>),
    /// No route of any method has this path's shape.
    NotFound,
}

/// The `Allow` header value for `routes` (each route's method; `GET` brings `HEAD`).
pub fn allow_header(routes: &[&Route]) -> String {
    let mut allow: Vec<&str> = Vec::new();
    for route in routes {
        if !allow.contains(&route.method.as_str()) {
            allow.push(&route.method);
            if route.method == "GET" {
                allow.push("HEAD");
            }
        }
    }
    allow.join(", ")
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    products: Vec<Product>,
    routes: Vec<Route>,
    /// Every concrete scope something can need: the routes' and `keys:manage`.
    known_scopes: Vec<Scope>,
}

impl GatewayConfig {
    /// Parses and validates the configuration file. Every problem is listed in `errors` with a
    /// path like `routes[3].scope`; the status is 500 because a bad file is the provider's
    /// build, never a caller's fault (the test suite keeps it from shipping).
    pub fn from_json(text: &str) -> Result<GatewayConfig, Error> {
        let file: ConfigFile = serde_json::from_str(text)
            .map_err(|e| invalid_config(vec![FieldError::new("config", e.to_string())]))?;
        let mut errors = Vec::new();
        let products = validate_products(file.products, &mut errors);
        let routes = validate_routes(file.routes, &products, &mut errors);
        if !errors.is_empty() {
            return Err(invalid_config(errors));
        }
        let mut known_scopes: Vec<Scope> = Vec::new();
        let needed =
            std::iter::once(scope::KEYS_MANAGE).chain(routes.iter().map(|r| r.scope.as_str()));
        for s in needed.filter_map(|s| Scope::parse(s).ok()) {
            if !known_scopes.contains(&s) {
                known_scopes.push(s);
            }
        }
        Ok(GatewayConfig {
            products,
            routes,
            known_scopes,
        })
    }

    /// Every product, in file order.
    pub fn products(&self) -> &[Product] {
        &self.products
    }

    /// Every route, in file order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The product with this id, if the config declares it.
    pub fn product(&self, id: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.id == id)
    }

    /// The most specific route for `method` on the canonical path `path`; else 405 with the
    /// routes of every other method the path has; else 404. `HEAD` is served by the `GET`
    /// route (RFC 9110 §9.3.2: the same answer without a body).
    pub fn route_for(&self, method: &str, path: &str) -> RouteMatch<'_> {
        let wanted = if method == "HEAD" { "GET" } else { method };
        let segments = segments_of(path);
        let mut found: Option<&Route> = None;
        let mut others: Vec<&Route> = Vec::new();
        for route in self.routes.iter().filter(|r| r.pattern.matches(&segments)) {
            if route.method == wanted {
                // Validation guarantees the matching routes of one method form a chain.
                if found.is_none_or(|best| route.pattern.narrower_than(&best.pattern)) {
                    found = Some(route);
                }
            } else if let Some(i) = others.iter().position(|o| o.method == route.method) {
                if route.pattern.narrower_than(&others[i].pattern) {
                    others[i] = route;
                }
            } else {
                others.push(route);
            }
        }
        match found {
            Some(route) => RouteMatch::Found(route),
            None if others.is_empty() => RouteMatch::NotFound,
            None => RouteMatch::MethodNotAllowed(others),
        }
    }

    /// Whether a key may be given `text` as a scope: `*`, `keys:manage`, any scope a route
    /// needs, or a wildcard that grants at least one of those. Scopes nothing could ever need
    /// are refused at key creation, so typos surface then, not as a 403 in production.
    pub fn is_known_scope(&self, text: &str) -> bool {
        match Scope::parse(text) {
            Ok(scope) => self.known_scopes.iter().any(|known| scope.grants(known)),
            Err(_) => false,
        }
    }
}

fn invalid_config(errors: Vec<FieldError>) -> Error {
    let mut e = Error::new(500, "The gateway configuration is invalid; see `errors`.");
    e.errors = errors;
    e
}

fn validate_products(files: Vec<ProductFile>, errors: &mut Vec<FieldError>) -> Vec<Product> {
    let mut products: Vec<Product> = Vec::with_capacity(files.len());
    for (i, file) in files.into_iter().enumerate() {
        let at = |field: &str| format!("products[{i}].{field}");
        if file.id.is_empty()
            || file.id.len() > 64
            || !file
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            errors.push(FieldError::new(
                at("id"),
                "must be 1-64 of `a-z`, `0-9`, `_`",
            ));
        } else if let Some(j) = products.iter().position(|p| p.id == file.id) {
            errors.push(FieldError::new(
                at("id"),
                format!("duplicates products[{j}].id"),
            ));
        }
        if file.name.trim().is_empty() || file.name.chars().count() > 200 {
            errors.push(FieldError::new(at("name"), "must be 1-200 characters"));
        }
        products.push(Product {
            id: file.id,
            name: file.name,
        });
    }
    products
}

fn route_product(
    value: Option<Value>,
    products: &[Product],
) -> Result<Option<String>, &'static str> {
    match value {
        None => Err("is required: the id of the product this route belongs to, or null"),
        Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if products.iter().any(|p| p.id == id) => Ok(Some(id)),
        Some(Value::String(_)) => Err("names no product declared in `products`"),
        Some(_) => Err("must be a product id (a string) or null"),
    }
}

fn validate_routes(
    files: Vec<RouteFile>,
    products: &[Product],
    errors: &mut Vec<FieldError>,
) -> Vec<Route> {
    let mut routes: Vec<Route> = Vec::with_capacity(files.len());
    // The index in the file of each route kept, for messages.
    let mut indices: Vec<usize> = Vec::with_capacity(files.len());
    for (i, file) in files.into_iter().enumerate() {
        let at = |field: &str| format!("routes[{i}].{field}");
        let errors_before = errors.len();
        if file.method == "HEAD" {
            errors.push(FieldError::new(
                at("method"),
                "HEAD is served by the GET route of the same path; declare GET",
            ));
        } else if !METHODS.contains(&file.method.as_str()) {
            errors.push(FieldError::new(
                at("method"),
                format!("must be one of {}", METHODS.join(", ")),
            ));
        }
        let pattern = Pattern::parse(&file.path)
            .map_err(|why| errors.push(FieldError::new(at("path"), why)))
            .ok();
        match Scope::parse(&file.scope) {
            Ok(s) if s.is_wildcard() => errors.push(FieldError::new(
                at("scope"),
                "must be a concrete `resource:action`, without `*`",
            )),
            Ok(_) => {}
            Err(why) => errors.push(FieldError::new(at("scope"), why)),
        }
        let product = route_product(file.product, products)
            .map_err(|why| errors.push(FieldError::new(at("product"), why)))
            .ok();
        if let Some(pattern) = &pattern {
            for (route, &j) in routes.iter().zip(&indices) {
                if route.method != file.method || !route.pattern.overlaps(pattern) {
                    continue;
                }
                if route.pattern == *pattern {
                    errors.push(FieldError::new(
                        at("path"),
                        format!("repeats routes[{j}] (same method and path)"),
                    ));
                } else if !route.pattern.within(pattern) && !pattern.within(&route.pattern) {
                    errors.push(FieldError::new(
                        at("path"),
                        format!(
                            "overlaps routes[{j}] ({}): some path matches both and neither is \
                             more specific; make them disjoint, or one within the other",
                            route.path
                        ),
                    ));
                }
            }
        }
        if file
            .cost
            .is_some_and(|cost| !(1..=MAX_ROUTE_COST).contains(&cost))
        {
            errors.push(FieldError::new(
                at("cost"),
                format!("must be a whole number from 1 to {MAX_ROUTE_COST}"),
            ));
        }
        let mut environments = file.environments;
        environments.sort();
        environments.dedup();
        if let (Some(pattern), Some(product), true) =
            (pattern, product, errors.len() == errors_before)
        {
            routes.push(Route {
                method: file.method,
                path: file.path,
                scope: file.scope,
                product,
                environments,
                cost: file.cost,
                pattern,
            });
            indices.push(i);
        }
    }
    routes
}

#[cfg(test)]
mod tests;

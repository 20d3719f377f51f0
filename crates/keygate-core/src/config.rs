//! The gateway configuration (SPEC §7): products with their route prefixes, and the route →
//! scope table. One reviewed JSON file, embedded in the worker at build time:
//!
//! ```json
//! {"products": [{"id": "bank_data", "name": "Bank data", "prefixes": ["/v1/accounts"]}],
//!  "routes": [{"method": "GET", "path": "/v1/accounts/*/transactions", "scope": "transactions:read"},
//!             {"method": "GET", "path": "/v1/transactions*", "scope": "transactions:read"},
//!             {"method": "POST", "path": "/v1/sandbox/reset", "scope": "sandbox:write",
//!              "environments": ["test"]}]}
//! ```
//!
//! Route paths: a segment that is exactly `*` matches any one non-empty segment; a `*` glued to
//! the end of the last segment (`/v1/transactions*`) matches that path and anything below it on
//! a segment boundary (`/v1/transactions`, `/v1/transactions/tx_1`, not `/v1/transactionsX`).
//! The first route whose method and path match wins; its `environments` (empty = both) are
//! checked after matching, so a route restricted to `test` answers 404 to a live key.
//! Product prefixes also match on segment boundaries, and no two products may overlap.

use crate::error::{Error, FieldError};
use crate::keys::Environment;
use crate::scope::{self, Scope};
use serde::Deserialize;

/// Methods a route may name. Matching is exact: a `HEAD` route must be declared to exist.
pub const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

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
    prefixes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteFile {
    method: String,
    path: String,
    scope: String,
    #[serde(default)]
    environments: Vec<Environment>,
}

/// Something the provider sells access to, owning the request paths under its prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub prefixes: Vec<String>,
}

impl Product {
    /// Whether `path` is one of this product's prefixes or below one on a segment boundary.
    pub fn owns(&self, path: &str) -> bool {
        self.prefixes.iter().any(|prefix| under(path, prefix))
    }
}

/// One line of the route → scope table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub scope: String,
    /// Environments this route serves; empty means both.
    pub environments: Vec<Environment>,
    pattern: Pattern,
}

impl Route {
    pub fn serves(&self, environment: Environment) -> bool {
        self.environments.is_empty() || self.environments.contains(&environment)
    }

    pub fn matches_path(&self, path: &str) -> bool {
        self.pattern.matches(path)
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
    /// A trailing glued `*`: further segments may follow.
    open_ended: bool,
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        let Some(rest) = text.strip_prefix('/') else {
            return Err("must start with `/`".into());
        };
        if rest.is_empty() {
            return Ok(Pattern {
                segments: vec![Segment::Literal(String::new())],
                open_ended: false,
            });
        }
        let parts: Vec<&str> = rest.split('/').collect();
        let last = parts.len() - 1;
        let mut segments = Vec::with_capacity(parts.len());
        let mut open_ended = false;
        for (i, part) in parts.iter().enumerate() {
            if *part == "*" {
                segments.push(Segment::Any);
                continue;
            }
            let literal = match part.strip_suffix('*') {
                Some(literal) if i == last => {
                    open_ended = true;
                    literal
                }
                _ => part,
            };
            check_literal(literal).map_err(|why| {
                if literal.contains('*') {
                    "may use `*` only as a whole segment or glued to the end of the last segment"
                        .to_string()
                } else {
                    why
                }
            })?;
            segments.push(Segment::Literal(literal.to_string()));
        }
        Ok(Pattern {
            segments,
            open_ended,
        })
    }

    fn matches(&self, path: &str) -> bool {
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let mut parts = rest.split('/');
        for segment in &self.segments {
            let Some(part) = parts.next() else {
                return false;
            };
            let ok = match segment {
                Segment::Literal(literal) => literal == part,
                Segment::Any => !part.is_empty(),
            };
            if !ok {
                return false;
            }
        }
        self.open_ended || parts.next().is_none()
    }
}

/// Characters allowed in a literal path segment of a route or prefix: unreserved URL characters.
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

fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The result of looking a request up in the route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMatch<'a> {
    Found(&'a Route),
    /// The path exists for other methods: the value for the `Allow` header, e.g. `GET, POST`.
    MethodNotAllowed(String),
    NotFound,
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
        let routes = validate_routes(file.routes, &mut errors);
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

    pub fn products(&self) -> &[Product] {
        &self.products
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    pub fn product(&self, id: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.id == id)
    }

    /// The product owning `path`, if any (at most one: overlaps are refused at load).
    pub fn product_for_path(&self, path: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.owns(path))
    }

    /// The first route matching both; else 405 with every method the path has; else 404.
    /// `HEAD` is served by the `GET` route of a path (RFC 9110 §9.3.2: the same answer
    /// without a body), so the table never lists it.
    pub fn route_for(&self, method: &str, path: &str) -> RouteMatch<'_> {
        let wanted = if method == "HEAD" { "GET" } else { method };
        let mut allow: Vec<&str> = Vec::new();
        for route in &self.routes {
            if !route.pattern.matches(path) {
                continue;
            }
            if route.method == wanted {
                return RouteMatch::Found(route);
            }
            if !allow.contains(&route.method.as_str()) {
                allow.push(&route.method);
                if route.method == "GET" {
                    allow.push("HEAD");
                }
            }
        }
        if allow.is_empty() {
            RouteMatch::NotFound
        } else {
            RouteMatch::MethodNotAllowed(allow.join(", "))
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
    // (prefix, owner index, field name) for the overlap check.
    let mut owned: Vec<(String, usize, String)> = Vec::new();
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
        if file.prefixes.is_empty() {
            errors.push(FieldError::new(
                at("prefixes"),
                "must list at least one path prefix",
            ));
        }
        for (k, prefix) in file.prefixes.iter().enumerate() {
            let field = format!("products[{i}].prefixes[{k}]");
            if let Err(why) = check_prefix(prefix) {
                errors.push(FieldError::new(field, why));
                continue;
            }
            let overlap = owned
                .iter()
                .find(|(other, _, _)| under(prefix, other) || under(other, prefix));
            if let Some((_, owner, other_field)) = overlap {
                let why = if *owner == i {
                    format!("overlaps {other_field} of the same product")
                } else {
                    format!("overlaps {other_field}; a path may belong to one product only")
                };
                errors.push(FieldError::new(field.clone(), why));
            }
            owned.push((prefix.clone(), i, field));
        }
        products.push(Product {
            id: file.id,
            name: file.name,
            prefixes: file.prefixes,
        });
    }
    products
}

fn check_prefix(prefix: &str) -> Result<(), String> {
    let Some(rest) = prefix.strip_prefix('/') else {
        return Err("must start with `/`".into());
    };
    if rest.is_empty() {
        return Err("must name at least one segment, e.g. `/v1/accounts`".into());
    }
    rest.split('/').try_for_each(check_literal)
}

fn validate_routes(files: Vec<RouteFile>, errors: &mut Vec<FieldError>) -> Vec<Route> {
    let mut routes: Vec<Route> = Vec::with_capacity(files.len());
    for (i, file) in files.into_iter().enumerate() {
        let at = |field: &str| format!("routes[{i}].{field}");
        let mut ok = true;
        if !METHODS.contains(&file.method.as_str()) {
            errors.push(FieldError::new(
                at("method"),
                format!("must be one of {}", METHODS.join(", ")),
            ));
            ok = false;
        }
        let pattern = match Pattern::parse(&file.path) {
            Ok(p) => Some(p),
            Err(why) => {
                errors.push(FieldError::new(at("path"), why));
                None
            }
        };
        match Scope::parse(&file.scope) {
            Ok(s) if s.is_wildcard() => {
                errors.push(FieldError::new(
                    at("scope"),
                    "must be a concrete `resource:action`, without `*`",
                ));
                ok = false;
            }
            Ok(_) => {}
            Err(why) => {
                errors.push(FieldError::new(at("scope"), why));
                ok = false;
            }
        }
        let mut environments = file.environments;
        environments.sort();
        environments.dedup();
        let Some(pattern) = pattern else { continue };
        if let Some(j) = routes
            .iter()
            .position(|r| r.method == file.method && r.path == file.path)
        {
            errors.push(FieldError::new(
                at("path"),
                format!("repeats routes[{j}] (same method and path), so it could never match"),
            ));
        }
        if ok {
            routes.push(Route {
                method: file.method,
                path: file.path,
                scope: file.scope,
                environments,
                pattern,
            });
        }
    }
    routes
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn config() -> GatewayConfig {
        crate::testing::config()
    }

    fn scope_of(c: &GatewayConfig, method: &str, path: &str) -> Option<String> {
        match c.route_for(method, path) {
            RouteMatch::Found(r) => Some(r.scope.clone()),
            _ => None,
        }
    }

    fn errors_of(json: &str) -> Vec<(String, String)> {
        let e = GatewayConfig::from_json(json).unwrap_err();
        assert_eq!(e.status, 500);
        e.errors.into_iter().map(|f| (f.field, f.message)).collect()
    }

    #[test]
    fn whole_segment_star_matches_one_segment() {
        let c = config();
        assert_eq!(
            scope_of(&c, "GET", "/v1/accounts/acc_1/transactions").as_deref(),
            Some("transactions:read")
        );
        // The first matching route wins, even though `/v1/accounts*` also matches.
        assert_eq!(
            scope_of(&c, "GET", "/v1/accounts/acc_1").as_deref(),
            Some("accounts:read")
        );
        // `*` needs a non-empty segment; the open-ended route catches the rest.
        assert_eq!(
            scope_of(&c, "GET", "/v1/accounts//transactions").as_deref(),
            Some("accounts:read")
        );
    }

    #[test]
    fn glued_star_matches_on_segment_boundaries_only() {
        let c = config();
        for ok in [
            "/v1/transactions",
            "/v1/transactions/",
            "/v1/transactions/tx_1",
            "/v1/transactions/a/b",
        ] {
            assert_eq!(
                scope_of(&c, "GET", ok).as_deref(),
                Some("transactions:read"),
                "{ok}"
            );
        }
        assert_eq!(
            c.route_for("GET", "/v1/transactionsXYZ"),
            RouteMatch::NotFound
        );
        assert_eq!(c.route_for("GET", "/v1/transaction"), RouteMatch::NotFound);
        assert_eq!(c.route_for("GET", "/v1"), RouteMatch::NotFound);
    }

    #[test]
    fn exact_paths_and_root() {
        let c = config();
        assert_eq!(
            scope_of(&c, "POST", "/v1/quotes").as_deref(),
            Some("quotes:write")
        );
        assert_eq!(scope_of(&c, "GET", "/").as_deref(), Some("meta:read"));
        assert_eq!(c.route_for("GET", "/x"), RouteMatch::NotFound);
        assert_eq!(c.route_for("GET", ""), RouteMatch::NotFound);
    }

    #[test]
    fn wrong_method_lists_allowed_methods() {
        let c = config();
        assert_eq!(
            c.route_for("DELETE", "/v1/quotes"),
            RouteMatch::MethodNotAllowed("GET, HEAD, POST".into())
        );
        assert_eq!(
            c.route_for("POST", "/v1/quotes/q_1"),
            RouteMatch::MethodNotAllowed("GET, HEAD".into())
        );
        assert_eq!(
            c.route_for("get", "/v1/quotes"),
            RouteMatch::MethodNotAllowed("GET, HEAD, POST".into())
        );
    }

    #[test]
    fn head_is_served_by_the_get_route() {
        let c = config();
        let (RouteMatch::Found(head), RouteMatch::Found(get)) = (
            c.route_for("HEAD", "/v1/quotes/q_1"),
            c.route_for("GET", "/v1/quotes/q_1"),
        ) else {
            panic!("HEAD and GET must both be routed");
        };
        assert_eq!(head, get);
        assert_eq!(c.route_for("HEAD", "/nowhere"), RouteMatch::NotFound);
    }

    #[test]
    fn environments() {
        let c = config();
        let RouteMatch::Found(reset) = c.route_for("POST", "/v1/sandbox/reset") else {
            panic!()
        };
        assert!(reset.serves(Environment::Test));
        assert!(!reset.serves(Environment::Live));
        let RouteMatch::Found(quotes) = c.route_for("GET", "/v1/quotes") else {
            panic!()
        };
        assert!(quotes.serves(Environment::Live) && quotes.serves(Environment::Test));
    }

    #[test]
    fn products_by_path_on_segment_boundaries() {
        let c = config();
        assert_eq!(
            c.product_for_path("/v1/accounts").map(|p| p.id.as_str()),
            Some("bank_data")
        );
        assert_eq!(
            c.product_for_path("/v1/accounts/a/transactions")
                .map(|p| p.id.as_str()),
            Some("bank_data")
        );
        assert_eq!(
            c.product_for_path("/v1/quotes/q").map(|p| p.id.as_str()),
            Some("insurance")
        );
        assert_eq!(c.product_for_path("/v1/accountsX"), None);
        assert_eq!(c.product_for_path("/v1/sandbox/reset"), None);
        assert_eq!(
            c.product("insurance").map(|p| p.name.as_str()),
            Some("Insurance")
        );
        assert!(c.product("nope").is_none());
    }

    #[test]
    fn known_scopes() {
        let c = config();
        for known in [
            "*",
            "*:*",
            "keys:manage",
            "transactions:read",
            "quotes:*",
            "*:write",
            "keys:*",
            "sandbox:write",
        ] {
            assert!(c.is_known_scope(known), "{known}");
        }
        for unknown in [
            "transactions:write",
            "nothing:*",
            "*:delete",
            "bad scope",
            "",
            "Quotes:read",
        ] {
            assert!(!c.is_known_scope(unknown), "{unknown}");
        }
    }

    #[test]
    fn unknown_fields_and_bad_json_are_refused() {
        let e = errors_of(r#"{"routes": [], "extra": 1}"#);
        assert!(e[0].1.contains("extra"), "{e:?}");
        let e = errors_of(
            r#"{"routes": [{"method": "GET", "path": "/", "scope": "a:b", "scopes": []}]}"#,
        );
        assert_eq!(e[0].0, "config");
        assert!(errors_of("not json")[0].0 == "config");
        assert!(errors_of(r#"{"products": []}"#)[0].1.contains("routes"));
        let e = errors_of(
            r#"{"routes": [{"method": "GET", "path": "/", "scope": "a:b", "environments": ["prod"]}]}"#,
        );
        assert_eq!(e[0].0, "config");
    }

    #[test]
    fn product_validation() {
        let e = errors_of(
            r#"{"products": [
                {"id": "Bank", "name": "", "prefixes": []},
                {"id": "a", "name": "A", "prefixes": ["v1/x", "/", "/v1/a/", "/v1/*", "/v1/./x", "/v1/a"]},
                {"id": "a", "name": "A2", "prefixes": ["/v1/a/b"]},
                {"id": "c", "name": "C", "prefixes": ["/v1/a"]}
            ], "routes": []}"#,
        );
        let fields: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "products[0].id",
                "products[0].name",
                "products[0].prefixes",
                "products[1].prefixes[0]",
                "products[1].prefixes[1]",
                "products[1].prefixes[2]",
                "products[1].prefixes[3]",
                "products[1].prefixes[4]",
                "products[2].id",
                "products[2].prefixes[0]",
                "products[3].prefixes[0]",
            ]
        );
        assert!(e[8].1.contains("duplicates products[1].id"));
        assert!(e[9].1.contains("overlaps products[1].prefixes[5]"));
        assert!(e[10].1.contains("one product only"));
    }

    #[test]
    fn route_validation() {
        let e = errors_of(
            r#"{"routes": [
                {"method": "get", "path": "/v1/x", "scope": "x:read"},
                {"method": "GET", "path": "v1/x", "scope": "x:read"},
                {"method": "GET", "path": "/v1/*x", "scope": "x:read"},
                {"method": "GET", "path": "/v1/x*/y", "scope": "x:read"},
                {"method": "GET", "path": "/v1//x", "scope": "x:read"},
                {"method": "GET", "path": "/v1/y", "scope": "*"},
                {"method": "GET", "path": "/v1/z", "scope": "z:*"},
                {"method": "GET", "path": "/v1/w", "scope": "nope"},
                {"method": "GET", "path": "/v1/v", "scope": "v:read"},
                {"method": "GET", "path": "/v1/v", "scope": "v:write", "environments": ["live"]}
            ]}"#,
        );
        let fields: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "routes[0].method",
                "routes[1].path",
                "routes[2].path",
                "routes[3].path",
                "routes[4].path",
                "routes[5].scope",
                "routes[6].scope",
                "routes[7].scope",
                "routes[9].path",
            ]
        );
        assert!(e[2].1.contains("whole segment"), "{}", e[2].1);
        assert!(e[8].1.contains("never match"));
    }

    #[test]
    fn environments_are_deduplicated() {
        let c = GatewayConfig::from_json(
            r#"{"routes": [{"method": "GET", "path": "/x", "scope": "x:read", "environments": ["live", "test", "live"]}]}"#,
        )
        .unwrap();
        assert_eq!(
            c.routes()[0].environments,
            [Environment::Test, Environment::Live]
        );
    }
}

//! Helpers of the canonical-request trials: raw requests, the canonical form of
//! docs/edge-pipeline.md read independently of the gateway, accounts and keys.

use super::*;

/// One HTTP/1.1 request, byte for byte: `METHOD target`, `Host`, `headers`, `Connection:
/// close`, and `body` with its `Content-Length` when not empty.
pub(crate) fn request_bytes(
    port: u16,
    method: &str,
    target: &[u8],
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!("Host: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    [
        format!("{method} ").as_bytes(),
        target,
        b" HTTP/1.1\r\n",
        head.as_bytes(),
        body,
    ]
    .concat()
}

/// Sends a body-less request over a raw socket.
pub(crate) fn send_raw(
    gw: &Gateway,
    method: &str,
    target: &[u8],
    headers: &[(&str, &str)],
) -> RawResp {
    raw(
        gw.port(),
        &request_bytes(gw.port(), method, target, headers, b""),
    )
}

/// A `GET` of `target` over a raw socket with the secret key `live`, `product_key` and
/// `X-Trace: trace` (to find what reached the origin with [`traced`]).
pub(crate) fn send_traced(
    gw: &Gateway,
    target: &[u8],
    live: &str,
    product_key: &str,
    trace: &str,
) -> RawResp {
    let authorization = format!("Bearer {live}");
    let headers = [
        ("Authorization", authorization.as_str()),
        ("X-Product-Key", product_key),
        ("X-Trace", trace),
    ];
    send_raw(gw, "GET", target, &headers)
}

/// A request target for messages: printable, with raw bytes escaped.
pub(crate) fn shown(target: &[u8]) -> String {
    target
        .iter()
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect()
}

/// The path part of an origin request target.
pub(crate) fn path_of(q: &OriginRequest) -> &str {
    q.path.split_once('?').map_or(q.path.as_str(), |(p, _)| p)
}

/// The origin requests carrying `X-Trace: trace`.
pub(crate) fn traced(c: &Ctx, trace: &str) -> Vec<OriginRequest> {
    c.origin
        .requests_where(|q| q.header("x-trace") == Some(trace))
}

pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

pub(crate) fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Whether `path` is canonical by docs/edge-pipeline.md (this suite's own reading, independent of
/// the gateway's code): `/`, or `/`-separated non-empty segments that are neither `.` nor `..`,
/// made of unreserved characters, sub-delimiters other than `;`, `:` and `@`, and upper-case
/// percent-encodings of anything but an unreserved character, `/`, `\`, a control or non-ASCII
/// byte, or a `%` that starts another encoding.
pub(crate) fn is_canonical(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    rest.split('/').all(|segment| {
        if segment.is_empty() || segment == "." || segment == ".." {
            return false;
        }
        let b = segment.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let (Some(&h), Some(&l)) = (b.get(i + 1), b.get(i + 2)) else {
                    return false;
                };
                if h.is_ascii_lowercase() || l.is_ascii_lowercase() {
                    return false;
                }
                let (Some(h), Some(l)) = (hex_digit(h), hex_digit(l)) else {
                    return false;
                };
                let v = h << 4 | l;
                let double = v == b'%'
                    && b.get(i + 3..i + 5)
                        .is_some_and(|x| x.iter().all(|&d| hex_digit(d).is_some()));
                if is_unreserved(v)
                    || matches!(v, b'/' | b'\\')
                    || !(0x20..0x7f).contains(&v)
                    || double
                {
                    return false;
                }
                i += 3;
            } else if is_unreserved(b[i]) || b"!$&'()*+,=:@".contains(&b[i]) {
                i += 1;
            } else {
                return false;
            }
        }
        true
    })
}

/// Whether the route pattern (`*` = one non-empty segment) matches `path`.
pub(crate) fn pattern_matches(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern[1..].split('/').collect();
    let s: Vec<&str> = path[1..].split('/').collect();
    p.len() == s.len()
        && p.iter()
            .zip(&s)
            .all(|(p, s)| if *p == "*" { !s.is_empty() } else { p == s })
}

/// The `errors[0]` entry of a 400 must be `path`; when `canonical` is given, the message (the
/// entry's or the top-level one) must end with `canonical form <canonical>`, else it must not
/// name one. Returns why not, or `None`.
pub(crate) fn path_error_problem(r: &Resp, canonical: Option<&str>) -> Option<String> {
    if r.status != 400 {
        return Some(format!("status {} instead of 400", r.status));
    }
    if r.json["errors"][0]["field"] != "path" {
        return Some("errors[0].field is not \"path\"".into());
    }
    let messages = [
        r.json["message"].as_str().unwrap_or(""),
        r.json["errors"][0]["message"].as_str().unwrap_or(""),
    ];
    match canonical {
        Some(canonical) => {
            let wanted = format!("canonical form {canonical}");
            (!messages.iter().any(|m| m.trim_end().ends_with(&wanted)))
                .then(|| format!("no message ends with {wanted:?}"))
        }
        None => messages
            .iter()
            .any(|m| m.contains("canonical form /"))
            .then(|| "names a canonical form where none exists".into()),
    }
}

/// An account of `gw` with the agreement `production`, entitled to `products`:
/// `(account id, [(product, entitlement answer)])`.
pub(crate) fn account_with(
    gw: &Gateway,
    name: &str,
    products: &[&str],
) -> (String, Vec<(String, Value)>) {
    let acct = gw.create_account(&json!({"name": name, "agreement": "production"}));
    let id = acct["id"].as_str().expect("account id").to_string();
    let entitlements = products
        .iter()
        .map(|p| (p.to_string(), gw.entitle(&id, p)))
        .collect();
    (id, entitlements)
}

/// A key of the account `account_id`: `(key id, secret)`.
pub(crate) fn key_of(
    gw: &Gateway,
    account_id: &str,
    environment: &str,
    scopes: Value,
) -> (String, String) {
    let body = json!({
        "name": format!("{environment} key"),
        "environment": environment,
        "scopes": scopes,
    });
    let (k, secret) = gw.create_key(account_id, &body);
    (k["id"].as_str().expect("key id").to_string(), secret)
}

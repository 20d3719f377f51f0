use super::*;
use crate::keys::{Environment, IssuedKey};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn path_message(path: &str) -> String {
    let e = parse_target(path, None).expect_err(path);
    assert_eq!(e.status, 400, "{path}");
    assert_eq!(e.errors.len(), 1, "{path}");
    assert_eq!(e.errors[0].field, "path", "{path}");
    e.errors[0].message.clone()
}

#[test]
fn canonical_paths_pass_unchanged() {
    for ok in [
        "/",
        "/v1/accounts",
        "/v1/accounts/acc_123/transactions",
        "/v1/a-b_c~d.e",
        "/v1/%20b",
        "/v1/a.b",
        "/v1/..x",
        "/v1/x..",
        "/v1/a:b@c!$&'()*+,=",
        "/v1/%3B",
        "/v1/%25",
        "/v1/%25zz",
    ] {
        let target = parse_target(ok, None).unwrap_or_else(|e| panic!("{ok}: {e:?}"));
        assert_eq!(target.path(), ok);
    }
}

/// Each spelling, what is wrong, and the canonical form it names.
#[test]
fn fixable_spellings_name_their_canonical_form() {
    for (spelling, says, canonical) in [
        ("/v1/x/", "ends with `/`", "/v1/x"),
        ("/v1//x", "empty segment", "/v1/x"),
        ("//v1", "empty segment", "/v1"),
        ("/v1/./x", "`.` segment", "/v1/x"),
        ("/v1/y/../x", "`..` segment", "/v1/x"),
        ("/v1/%2e%2E/x", "needs no encoding", "/x"),
        ("/v1/%74x", "needs no encoding", "/v1/tx"),
        ("/v1/%41%7E", "needs no encoding", "/v1/A~"),
        ("/v1/%3b", "lower-case hex", "/v1/%3B"),
        ("/v1/a|b", "must be percent-encoded", "/v1/a%7Cb"),
        ("/v1/[x]", "must be percent-encoded", "/v1/%5Bx%5D"),
        (
            "/v1/accounts/a/transactions/",
            "ends with `/`",
            "/v1/accounts/a/transactions",
        ),
    ] {
        let message = path_message(spelling);
        assert!(message.contains(says), "{spelling}: {message}");
        assert!(
            message.ends_with(&format!("canonical form {canonical}")),
            "{spelling}: {message}"
        );
        assert!(parse_target(canonical, None).is_ok(), "{canonical}");
    }
}

#[test]
fn spellings_without_a_canonical_form() {
    for (spelling, says) in [
        ("", "start with"),
        ("v1/accounts", "start with"),
        ("/v1/a;v=1", "`;`"),
        ("/v1/a;", "`;`"),
        ("/v1\\admin", "backslash"),
        ("/v1/a\u{0}b", "control"),
        ("/v1/a\tb", "control"),
        ("/v1/a\u{7f}", "control"),
        ("/v1/a b", "space"),
        ("/v1/é", "non-ASCII"),
        ("/v1%2fadmin", "`/` or `\\`"),
        ("/v1%2Fadmin", "`/` or `\\`"),
        ("/v1%5cadmin", "`/` or `\\`"),
        ("/v1/%00", "control"),
        ("/v1/%0A", "control"),
        ("/v1/%C3%A9", "non-ASCII"),
        ("/v1/%C0%AE", "non-ASCII"),
        ("/v1/%252e", "twice"),
        ("/v1/%252F", "twice"),
        ("/%25%41B", "twice"),
        ("/%25%321", "twice"),
        ("/v1/%", "two hex digits"),
        ("/v1/%2", "two hex digits"),
        ("/v1/%zz", "two hex digits"),
        ("/v1/x?y=1", "`?`"),
        ("/v1/x#y", "`#`"),
        ("/..", "above the root"),
        // A fatal flaw anywhere outweighs a fixable one before it.
        ("/v1//x;y", "`;`"),
    ] {
        let message = path_message(spelling);
        assert!(message.contains(says), "{spelling:?}: {message}");
        assert!(
            message.contains("no canonical form"),
            "{spelling:?}: {message}"
        );
    }
}

#[test]
fn a_canonical_form_past_the_limit_is_not_named() {
    let path = format!("/{}", "|".repeat(MAX_PATH_BYTES / 2));
    let message = path_message(&path);
    assert!(message.contains("must be percent-encoded"), "{message}");
    assert!(message.contains("no canonical form"), "{message}");
}

#[test]
fn length_limits() {
    let at_limit = format!("/{}", "a".repeat(MAX_PATH_BYTES - 1));
    assert!(parse_target(&at_limit, None).is_ok());
    let over = format!("/{}", "a".repeat(MAX_PATH_BYTES));
    assert!(path_message(&over).contains("2048"));
    let query = "a".repeat(MAX_QUERY_BYTES);
    assert!(parse_target("/", Some(&query)).is_ok());
    let long = "a".repeat(MAX_QUERY_BYTES + 1);
    let e = parse_target("/", Some(&long)).unwrap_err();
    assert_eq!(e.errors[0].field, "query");
}

#[test]
fn queries_pass_as_written_when_well_formed() {
    for query in [
        "a=1&b=2",
        "a=%2F%2e",
        "x=a+b&y=;&z=/?",
        "status=open&limit=2",
    ] {
        let t = parse_target("/v1/x", Some(query)).unwrap();
        assert_eq!(t.query(), Some(query));
        assert_eq!(t.path_and_query(), format!("/v1/x?{query}"));
    }
    assert_eq!(parse_target("/v1/x", Some("")).unwrap().query(), None);
    for bad in ["a=%", "a=%g1", "a b", "a=\u{7f}", "a=é", "a#b"] {
        let e = parse_target("/v1/x", Some(bad)).unwrap_err();
        assert_eq!(e.errors[0].field, "query", "{bad:?}");
    }
}

#[test]
fn segments() {
    let t = parse_target("/v1/accounts/a", None).unwrap();
    assert_eq!(t.segments().collect::<Vec<_>>(), ["v1", "accounts", "a"]);
    assert_eq!(parse_target("/", None).unwrap().segments().count(), 0);
}

#[test]
fn a_secret_key_anywhere_in_the_url_is_refused_and_never_echoed() {
    let key = IssuedKey::from_entropy(KeyKind::Secret, Environment::Live, &[7; 32]).text;
    let encoded_s = format!("%73{}", &key[1..]);
    let encoded_all: String = key.bytes().map(|b| format!("%{b:02X}")).collect();
    let double = key.replacen('s', "%2573", 1);
    for (path, query) in [
        (format!("/v1/{key}"), None),
        (format!("/v1/x{key}y"), None),
        (format!("/v1/{encoded_s}"), None),
        (format!("/v1/{key}/"), None),
        ("/v1/x".to_string(), Some(format!("api_key={key}"))),
        ("/v1/x".to_string(), Some(format!("a={encoded_all}"))),
        ("/v1/x".to_string(), Some(format!("a={double}"))),
        ("/v1/x".to_string(), Some(key.clone())),
    ] {
        let e = parse_target(&path, query.as_deref()).unwrap_err();
        assert_eq!(e.errors[0].field, "url", "{path} {query:?}");
        assert!(!e.to_json().contains(&key[8..]), "{path} {query:?}");
    }
    // A product key or a random `sk_` word is no secret.
    let pk = IssuedKey::from_entropy(KeyKind::Product, Environment::Live, &[7; 32]).text;
    assert!(parse_target(&format!("/v1/{pk}"), Some("sk_live_x=1")).is_ok());
}

#[test]
fn request_urls_split_into_scheme_path_and_query() {
    for (url, https, path, query) in [
        (
            "https://api.example.com/v1/x?a=1",
            true,
            "/v1/x",
            Some("a=1"),
        ),
        ("http://127.0.0.1:8787/v1/x", false, "/v1/x", None),
        ("https://h", true, "/", None),
        ("https://h?q", true, "/", Some("q")),
        ("https://h/a?b?c#d", true, "/a", Some("b?c")),
        ("HTTPS://h/a#frag", true, "/a", None),
        ("https://h/?", true, "/", Some("")),
    ] {
        assert_eq!(
            split_url(url),
            Some(RequestUrl { https, path, query }),
            "{url}"
        );
    }
    for bad in ["", "/v1/x", "ftp://h/x", "https:/h/x"] {
        assert_eq!(split_url(bad), None, "{bad}");
    }
}

#[test]
fn admin_paths_are_segment_bounded() {
    for admin in [
        "/admin",
        "/admin/",
        "/admin/v1",
        "/admin/v1/accounts",
        "/admin//v1",
    ] {
        assert!(is_admin_path(admin), "{admin}");
    }
    for edge in ["/adminx", "/administrator/v1", "/v1/admin", "/Admin/v1"] {
        assert!(!is_admin_path(edge), "{edge}");
    }
}

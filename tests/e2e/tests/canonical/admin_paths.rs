//! Admin paths.

use super::*;

pub(crate) fn admin_paths_are_canonical_segments_only(c: &Ctx) {
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let r = send_raw(
        &c.gw,
        "GET",
        b"/admin/v1/accounts",
        &[("Authorization", &auth)],
    );
    assert_eq!(r.status, 200, "{r}");
    assert!(r.json()["data"].is_array(), "the account list: {r}");
    let mut failures = Vec::new();
    for target in [
        "/admin/v1accounts",
        "/admin/v1//accounts",
        "/admin/v1/accounts/",
        "/admin/v1/./accounts",
        "/admin/v1/x/../accounts",
        "/admin/v1/%2e/accounts",
        "/admin/v1/%61ccounts",
        "/admin/v1;x/accounts",
        "/admin//v1/accounts",
        "/admin/v1/accounts;x",
        "/admin/v1/accounts%2F",
        "/admin/v1/accounts%2f",
        "/admin/v1/Accounts",
        "/admin/V1/accounts",
        "/admin/v1/accounts/x/../",
    ] {
        let r = send_raw(&c.gw, "GET", target.as_bytes(), &[("Authorization", &auth)]);
        let resp = r.to_resp(&format!("GET {target}"));
        // workerd resolves dot segments (also `%2e`) before the worker runs, so the worker is
        // asked for /admin/v1/accounts itself: then its answer is the canonical path's, the
        // account list. Every other spelling reaches the worker as sent.
        let dots = target.contains("/./") || target.contains("/../") || target.contains("%2e");
        if dots && r.status == 200 && r.json()["data"].is_array() {
            continue;
        }
        if r.status != 404
            || r.json()["status"] != json!(404)
            || r.header("x-request-id").is_none()
            || r.json()["data"].is_array()
        {
            failures.push(format!("{target}: expected 404 JSON: {resp}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

//! Where the gateway may be told to call out: a URL an integrator registers (a sandbox webhook
//! endpoint) is an attacker's input, since it makes the gateway send requests on its behalf.
//!
//! The URL is parsed once, by the WHATWG rules browsers and the Workers runtime use, so every
//! spelling of a host (`0x7f.1`, `2130706433`, `[::ffff:127.0.0.1]`, `LOCALHOST.`) is judged in
//! the one canonical form the fetch will use, never as written. Decided here:
//! - `https` only where HTTPS is required (`REQUIRE_HTTPS`, on by default); `http` only in
//!   local development, where the test receivers live;
//! - no user name or password in the URL (a credential in a URL ends up in logs);
//! - where HTTPS is required, no address that is not public (loopback, private, link-local,
//!   shared, documentation, multicast, reserved, and the same inside IPv6 mappings), no
//!   `localhost` and no name of a private namespace (`.local`, `.internal`, `.lan`, …);
//! - at most [`MAX_URL_LENGTH`] bytes;
//! - host names in ASCII: `Cargo.lock` pins `idna_adapter` to 1.0, the `url` crate's back end
//!   without Unicode tables (about 100 KiB of wasm), so a non-ASCII name is refused and its
//!   `xn--` form is the one to register.
//!
//! A public name that resolves to a private address is left to the platform: a Worker's
//! `fetch` goes out through Cloudflare's network, which does not route to private ranges, and
//! redirects are never followed (the caller sends with `redirect: manual`).

use ipnet::{Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest accepted URL, in bytes.
pub const MAX_URL_LENGTH: usize = 2048;

/// Name suffixes that never reach the public internet (RFC 6761, RFC 6762, RFC 8375 and
/// the names ICANN set aside for private use).
const PRIVATE_NAME_SUFFIXES: [&str; 8] = [
    "localhost",
    "local",
    "internal",
    "lan",
    "home.arpa",
    "intranet",
    "corp",
    "private",
];

/// Why a URL may not be called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub &'static str);

/// The URL in its canonical form, if the gateway may call it.
pub fn callable_url(text: &str, require_https: bool) -> Result<String, Refused> {
    if text.len() > MAX_URL_LENGTH {
        return Err(Refused("must be at most 2048 bytes"));
    }
    let url = url::Url::parse(text.trim())
        .map_err(|_| Refused("must be an absolute URL (https://example.com/webhooks)"))?;
    match url.scheme() {
        "https" => {}
        "http" if !require_https => {}
        "http" => return Err(Refused("must use https")),
        _ => return Err(Refused("must be an https URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused("must not carry a user name or password"));
    }
    let public = match url.host() {
        None => return Err(Refused("must name a host")),
        Some(url::Host::Ipv4(ip)) => is_public(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_public(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => is_public_name(name),
    };
    if require_https && !public {
        return Err(Refused(
            "must be a public address: loopback, private and link-local ones, and local names, are refused",
        ));
    }
    Ok(url.into())
}

/// Whether a host name may be public: a dotted name outside the private namespaces.
fn is_public_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let private = PRIVATE_NAME_SUFFIXES
        .iter()
        .any(|suffix| name == *suffix || name.ends_with(&format!(".{suffix}")));
    name.contains('.') && !private
}

/// Whether an address is on the public internet (global unicast, IANA's special-purpose
/// registries subtracted).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    const SPECIAL: [&str; 15] = [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    ];
    !SPECIAL
        .iter()
        .filter_map(|net| net.parse::<Ipv4Net>().ok())
        .any(|net| net.contains(&ip))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // Global unicast is 2000::/3; inside it, the special-purpose blocks.
    const SPECIAL: [&str; 7] = [
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "3fff::/20",
        "5f00::/16",
    ];
    let global_unicast = ip.segments()[0] & 0xe000 == 0x2000;
    global_unicast
        && !SPECIAL
            .iter()
            .filter_map(|net| net.parse::<Ipv6Net>().ok())
            .any(|net| net.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn public_https_urls_are_taken_in_their_canonical_form() {
        for (given, canonical) in [
            ("https://hooks.example.com/k", "https://hooks.example.com/k"),
            (
                "HTTPS://Hooks.Example.COM:443/a b",
                "https://hooks.example.com/a%20b",
            ),
            ("https://93.184.216.34:8443/", "https://93.184.216.34:8443/"),
            (
                "https://[2606:2800:220:1::1]/",
                "https://[2606:2800:220:1::1]/",
            ),
        ] {
            assert_eq!(
                callable_url(given, true).as_deref(),
                Ok(canonical),
                "{given}"
            );
        }
    }

    #[test]
    fn every_spelling_of_a_private_or_loopback_host_is_refused_where_https_is_required() {
        for url in [
            "https://127.0.0.1/",
            "https://127.1/",
            "https://0x7f.0.0.1/",
            "https://2130706433/",
            "https://017700000001/",
            "https://0/",
            "https://10.1.2.3/",
            "https://172.31.255.255/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://[::1]/",
            "https://[::]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:a9fe:a9fe]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://localhost/",
            "https://LOCALHOST./",
            "https://api.localhost/",
            "https://printer.local/",
            "https://metadata.google.internal/",
            "https://intranet/",
            "https://224.0.0.1/",
            "https://255.255.255.255/",
            "https://198.51.100.7/",
            // Non-ASCII host names are refused (Cargo.lock pins idna_adapter 1.0: no Unicode
            // tables in the wasm); their xn-- form is taken.
            "https://bücher.example/",
        ] {
            assert!(callable_url(url, true).is_err(), "{url}");
        }
    }

    #[test]
    fn plain_http_credentials_and_other_schemes_are_refused() {
        for url in [
            "http://hooks.example.com/",
            "ftp://hooks.example.com/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "https://user:pass@hooks.example.com/",
            "https://user@hooks.example.com/",
            "hooks.example.com/x",
            "/relative",
            "",
        ] {
            assert!(callable_url(url, true).is_err(), "{url}");
        }
        let long = format!("https://hooks.example.com/{}", "a".repeat(MAX_URL_LENGTH));
        assert!(callable_url(&long, true).is_err());
    }

    #[test]
    fn local_development_may_call_a_local_http_receiver_but_never_with_credentials() {
        assert_eq!(
            callable_url("http://127.0.0.1:8787/hook", false).as_deref(),
            Ok("http://127.0.0.1:8787/hook")
        );
        assert!(callable_url("http://u:p@127.0.0.1/", false).is_err());
        assert!(callable_url("ftp://127.0.0.1/", false).is_err());
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// Four spellings the WHATWG parser folds into one IPv4 address.
        fn spellings(ip: u32) -> [String; 4] {
            let [a, b, c, d] = ip.to_be_bytes();
            [
                format!("{a}.{b}.{c}.{d}"),
                format!("{ip}"),
                format!("0x{a:x}.0x{b:x}.0x{c:x}.0x{d:x}"),
                format!("0{a:o}.{b}.{}", u32::from(c) << 8 | u32::from(d)),
            ]
        }

        proptest! {
            #[test]
            fn no_spelling_of_a_loopback_or_private_address_is_callable(
                net in prop::sample::select(vec![(0x7f00_0000u32, 8), (0x0a00_0000, 8), (0xac10_0000, 12), (0xc0a8_0000, 16), (0xa9fe_0000, 16)]),
                host in any::<u32>(),
            ) {
                let (base, len) = net;
                let ip = base | (host >> len);
                for spelling in spellings(ip) {
                    let url = format!("https://{spelling}/hook");
                    prop_assert!(callable_url(&url, true).is_err(), "{}", url);
                }
            }

            #[test]
            fn a_callable_url_is_its_own_canonical_form(path in "[a-zA-Z0-9/._~%-]{0,40}", ip in any::<u32>()) {
                let url = format!("https://{}/{path}", Ipv4Addr::from(ip));
                if let Ok(canonical) = callable_url(&url, true) {
                    prop_assert_eq!(callable_url(&canonical, true), Ok(canonical.clone()));
                    prop_assert!(is_public(IpAddr::V4(Ipv4Addr::from(ip))));
                }
            }
        }
    }
}

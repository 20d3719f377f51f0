//! IP allowlists (step `ip-allowlist`, docs/edge-pipeline.md): the client address is
//! `CF-Connecting-IP` and nothing else.
//!
//! Entries are IPv4/IPv6 addresses (taken as /32 or /128) or CIDR ranges. A CIDR with host bits
//! set (`10.0.0.1/8`) is refused rather than silently widened or narrowed: the operator almost
//! certainly meant something specific, and the message names the network they probably meant.
//! IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is folded to IPv4 on both sides, so one rule written
//! either way matches a client arriving either way.

use crate::error::{Error, FieldError};
use ipnet::{IpNet, Ipv4Net};
use std::net::IpAddr;

/// Most entries one allowlist may hold (each list: the account's and each key's).
pub const MAX_ENTRIES: usize = 100;

/// A validated allowlist. Empty means "no restriction".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAllowlist(Vec<IpNet>);

impl IpAllowlist {
    /// Parses every entry, reporting each bad one as `allowed_ips[i]`.
    pub fn parse(entries: &[String]) -> Result<Self, Vec<FieldError>> {
        Self::parse_field("allowed_ips", entries)
    }

    /// As [`IpAllowlist::parse`], with `field` naming the list in errors.
    pub fn parse_field(field: &str, entries: &[String]) -> Result<Self, Vec<FieldError>> {
        if entries.len() > MAX_ENTRIES {
            return Err(vec![FieldError::new(
                field,
                format!(
                    "has {} entries; at most {MAX_ENTRIES} are allowed (use CIDR ranges)",
                    entries.len()
                ),
            )]);
        }
        let mut nets = Vec::with_capacity(entries.len());
        let mut errors = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            match parse_entry(entry) {
                Ok(net) => nets.push(net),
                Err(message) => errors.push(FieldError::new(format!("{field}[{i}]"), message)),
            }
        }
        if errors.is_empty() {
            Ok(Self(nets))
        } else {
            Err(errors)
        }
    }

    /// Whether the list has no entries, i.e. restricts nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The validated ranges, single addresses as /32 or /128.
    pub fn nets(&self) -> &[IpNet] {
        &self.0
    }

    /// The canonical spelling of each entry (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7/32`), to
    /// store instead of what was typed, so the edge never re-parses anything odd.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    /// Whether `client` may pass. An empty list lets anything through, even an unknown address;
    /// a non-empty list refuses an unknown address (fail closed).
    pub fn permits(&self, client: Option<IpAddr>) -> bool {
        if self.0.is_empty() {
            return true;
        }
        match client {
            None => false,
            Some(addr) => {
                let addr = addr.to_canonical();
                self.0.iter().any(|net| net.contains(&addr))
            }
        }
    }
}

fn parse_entry(entry: &str) -> Result<IpNet, String> {
    if entry.is_empty() {
        return Err("must be an IP address or CIDR range, e.g. 203.0.113.0/24".into());
    }
    if entry.len() > 64 || entry.trim() != entry {
        return Err("is not an IP address or CIDR range".into());
    }
    let Some((addr, prefix)) = entry.split_once('/') else {
        let addr: IpAddr = entry.parse().map_err(|_| {
            "is not an IP address; write it like 203.0.113.7 or 2001:db8::7".to_string()
        })?;
        return Ok(IpNet::from(addr.to_canonical()));
    };
    let net = parse_cidr(addr, prefix).ok_or_else(|| {
        "is not a CIDR range; write it like 203.0.113.0/24 or 2001:db8::/32".to_string()
    })?;
    let net = fold_mapped(net);
    if net.trunc() != net {
        return Err(format!(
            "has host bits set; the network is {}, write that (or a single address without a \
             prefix length)",
            net.trunc()
        ));
    }
    Ok(net)
}

/// `addr/prefix` with std's address parser, which is several times faster than `ipnet`'s
/// general one; this runs for every stored entry on every request. The prefix is 1–3 plain
/// digits (`u8::from_str` alone would also take `+8`).
fn parse_cidr(addr: &str, prefix: &str) -> Option<IpNet> {
    if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let addr: IpAddr = addr.parse().ok()?;
    IpNet::new(addr, prefix.parse().ok()?).ok()
}

/// `::ffff:a.b.c.d/n` with n ≥ 96 is the IPv4 range `a.b.c.d/(n-96)`.
fn fold_mapped(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && v6.prefix_len() >= 96
        && let Ok(folded) = Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(folded);
    }
    net
}

/// The client address, from `CF-Connecting-IP` only. Other forwarding headers are set by the
/// client and prove nothing. IPv4-mapped IPv6 is folded to IPv4.
pub fn client_ip(cf_connecting_ip: Option<&str>) -> Option<IpAddr> {
    let text = cf_connecting_ip?.trim();
    let addr: IpAddr = text.parse().ok()?;
    Some(addr.to_canonical())
}

/// `CF-Connecting-IP` read once into the client address, before anything compares or stores
/// it: absent is `Ok(None)`; a value that is not one IP address is a 400, and its text goes no
/// further (no refusal record, no `ips_seen`, no log).
pub fn client_address(cf_connecting_ip: Option<&str>) -> Result<Option<IpAddr>, Error> {
    let Some(text) = cf_connecting_ip else {
        return Ok(None);
    };
    client_ip(Some(text)).map(Some).ok_or_else(|| {
        Error::bad_request(
            "The client address is not an IP address, so the request has no client address. \
             Send the request through Cloudflare, which sets CF-Connecting-IP.",
        )
        .with_field("CF-Connecting-IP", "must be one IPv4 or IPv6 address")
    })
}

/// The bucket a client address is throttled under (failed admin authentications,
/// `crate::throttle`): an IPv4 address as itself (`/32`), an IPv6 address by its `/64` (one
/// host usually holds a whole `/64`, and could otherwise rotate through it), and every request
/// without a usable `CF-Connecting-IP` in one shared `unknown` bucket.
pub fn throttle_prefix(client: Option<IpAddr>) -> String {
    match client.map(|addr| addr.to_canonical()) {
        Some(IpAddr::V4(v4)) => format!("ip4:{v4}"),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("ip6:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".into(),
    }
}

/// The address block an `ip.would_deny` report is counted under (docs/admin-api.md): the /24
/// of an IPv4 address, the /64 of an IPv6 one, as a CIDR (`203.0.113.0/24`,
/// `2001:db8:1:2::/64`). IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is IPv4. A text that is not an
/// address is its own block, unchanged.
pub fn prefix(addr: &str) -> String {
    let Ok(parsed) = addr.trim().parse::<IpAddr>() else {
        return addr.to_string();
    };
    match parsed.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let high = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", std::net::Ipv6Addr::from(high))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn list(entries: &[&str]) -> IpAllowlist {
        IpAllowlist::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }
    fn errors(entries: &[&str]) -> Vec<FieldError> {
        IpAllowlist::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap_err()
    }
    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn throttle_buckets_are_v4_addresses_v6_64s_and_one_unknown() {
        for (input, bucket) in [
            (Some("203.0.113.7"), "ip4:203.0.113.7"),
            (Some("::ffff:203.0.113.7"), "ip4:203.0.113.7"),
            (Some("2001:db8:1:2:3:4:5:6"), "ip6:2001:db8:1:2::/64"),
            (Some("2001:db8:1:2:ffff::9"), "ip6:2001:db8:1:2::/64"),
            (Some("2001:db8:1:3::1"), "ip6:2001:db8:1:3::/64"),
            (Some("not an address"), "unknown"),
            (None, "unknown"),
        ] {
            assert_eq!(throttle_prefix(client_ip(input)), bucket, "{input:?}");
        }
    }

    #[test]
    fn empty_list_permits_everything_including_unknown() {
        let l = list(&[]);
        assert!(l.is_empty());
        assert!(l.permits(None));
        assert!(l.permits(ip("203.0.113.9")));
    }

    #[test]
    fn non_empty_list_refuses_unknown_address() {
        assert!(!list(&["0.0.0.0/0"]).permits(None));
    }

    #[test]
    fn addresses_and_ranges() {
        let l = list(&["203.0.113.7", "10.0.0.0/8", "2001:db8::/32", "::1"]);
        assert!(l.permits(ip("203.0.113.7")));
        assert!(!l.permits(ip("203.0.113.8")));
        assert!(l.permits(ip("10.255.1.2")));
        assert!(!l.permits(ip("11.0.0.1")));
        assert!(l.permits(ip("2001:db8:ffff::1")));
        assert!(!l.permits(ip("2001:db9::1")));
        assert!(l.permits(ip("::1")));
        assert_eq!(
            l.to_strings(),
            ["203.0.113.7/32", "10.0.0.0/8", "2001:db8::/32", "::1/128"]
        );
    }

    #[test]
    fn ipv4_mapped_clients_match_ipv4_rules() {
        let l = list(&["192.0.2.0/24"]);
        assert!(l.permits(client_ip(Some("::ffff:192.0.2.33"))));
        assert!(l.permits(ip("::ffff:192.0.2.33")));
        assert!(!l.permits(client_ip(Some("::ffff:192.0.3.1"))));
    }

    #[test]
    fn ipv4_mapped_rules_are_folded_to_ipv4() {
        let l = list(&["::ffff:192.0.2.0/120", "::ffff:198.51.100.4"]);
        assert_eq!(l.to_strings(), ["192.0.2.0/24", "198.51.100.4/32"]);
        assert!(l.permits(ip("192.0.2.200")));
        assert!(l.permits(ip("198.51.100.4")));
        // A range wider than the mapped block stays IPv6.
        assert_eq!(list(&["::/64"]).to_strings(), ["::/64"]);
    }

    #[test]
    fn host_bits_set_is_refused_naming_the_network() {
        let e = errors(&["10.0.0.0/8", "10.1.2.3/8"]);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "allowed_ips[1]");
        assert!(e[0].message.contains("10.0.0.0/8"), "{}", e[0].message);
        let e = errors(&["2001:db8::1/32"]);
        assert!(e[0].message.contains("2001:db8::/32"));
    }

    #[test]
    fn every_bad_entry_is_reported_with_its_index() {
        let e = errors(&[
            "1.2.3.4",
            "nope",
            "",
            "10.0.0.0/33",
            " 1.2.3.4",
            "1.2.3.4/8/8",
            "fe80::1%eth0",
        ]);
        let fields: Vec<_> = e.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "allowed_ips[1]",
                "allowed_ips[2]",
                "allowed_ips[3]",
                "allowed_ips[4]",
                "allowed_ips[5]",
                "allowed_ips[6]"
            ]
        );
    }

    #[test]
    fn list_size_is_bounded() {
        let entries: Vec<String> = (0..=MAX_ENTRIES)
            .map(|i| format!("10.0.{}.{}", i / 256, i % 256))
            .collect();
        let e = IpAllowlist::parse(&entries).unwrap_err();
        assert_eq!(e[0].field, "allowed_ips");
        assert!(IpAllowlist::parse(&entries[..MAX_ENTRIES]).is_ok());
    }

    #[test]
    fn cidr_syntax_is_strict() {
        for bad in [
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0.0/0008",
            "10.0.0.0/8 ",
            "/8",
            "10.0.0/8",
            "::/129",
            "10.0.0.0/ 8",
        ] {
            assert_eq!(errors(&[bad]).len(), 1, "{bad}");
        }
        assert_eq!(
            list(&["0.0.0.0/0", "::/0", "10.0.0.0/08"]).to_strings(),
            ["0.0.0.0/0", "::/0", "10.0.0.0/8"]
        );
    }

    #[test]
    fn a_client_address_is_parsed_or_refused_never_kept_as_text() {
        assert_eq!(client_address(None).unwrap(), None);
        assert_eq!(
            client_address(Some("::ffff:203.0.113.5")).unwrap(),
            ip("203.0.113.5")
        );
        let junk = "<img src=x onerror=alert(1)>";
        let long = "9".repeat(3_000);
        for bad in [
            junk,
            long.as_str(),
            "",
            "203.0.113.5, 10.0.0.1",
            "[::1]",
            "1.2.3.4:80",
        ] {
            let error = client_address(Some(bad)).unwrap_err();
            assert_eq!(error.status, 400, "{bad}");
            let answer = crate::Answer::from(&error);
            let body = answer.body.unwrap_or_default();
            assert!(!body.contains(bad) || bad.is_empty(), "echoed: {body}");
            assert!(body.contains("CF-Connecting-IP"), "{body}");
        }
    }

    #[test]
    fn client_ip_parsing() {
        assert_eq!(client_ip(Some(" 203.0.113.5 ")), ip("203.0.113.5"));
        assert_eq!(client_ip(Some("2001:db8::5")), ip("2001:db8::5"));
        assert_eq!(client_ip(Some("::ffff:203.0.113.5")), ip("203.0.113.5"));
        assert_eq!(client_ip(Some("203.0.113.5, 10.0.0.1")), None);
        assert_eq!(client_ip(Some("")), None);
        assert_eq!(client_ip(Some("[::1]")), None);
        assert_eq!(client_ip(None), None);
    }

    #[test]
    fn prefixes_are_the_slash_24_or_the_slash_64() {
        for (addr, block) in [
            ("203.0.113.7", "203.0.113.0/24"),
            ("203.0.113.255", "203.0.113.0/24"),
            ("203.0.114.1", "203.0.114.0/24"),
            ("::ffff:203.0.113.9", "203.0.113.0/24"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
            ("2001:db8:1:2::ffff", "2001:db8:1:2::/64"),
            (
                "2001:0DB8:0001:0002:ffff:ffff:ffff:ffff",
                "2001:db8:1:2::/64",
            ),
            ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
            ("::1", "::/64"),
            ("not an address", "not an address"),
        ] {
            assert_eq!(prefix(addr), block, "{addr}");
        }
    }
}

//! The deployment location a request is served from, and the names of the per-location
//! objects it reaches.
//!
//! A key design decision of this module: what can be per location is. An isolate lives in one
//! location, so its cache and pins are per location by nature; the revocation log is read
//! through one mirror object per location, so the primary log sees locations, not isolates;
//! and the rate limits are counted per location, which is what the rate-limit contract
//! promises ("within one deployment location"), so no single object serialises a hot key's
//! worldwide traffic. The location is the platform's (`request.cf.colo`); the end-to-end
//! suites run several locations under one local runtime by naming it in a test-only header,
//! honoured only where the test hooks are (never where HTTPS is enforced).

use std::fmt;

/// The header that names the location of a request, read only where test hooks are enabled.
pub const TEST_LOCATION_HEADER: &str = "X-Keygate-Test-Location";

/// The location when the platform names none (local development, or a runtime without `cf`).
pub const DEFAULT_LOCATION: &str = "local";

/// Longest location name.
pub const MAX_LOCATION_CHARS: usize = 16;

/// A deployment location's name: 1 to [`MAX_LOCATION_CHARS`] ASCII letters, digits or `-`
/// (a Cloudflare colo is three letters), so it can sit in object names and internal URLs as is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location(String);

impl Location {
    /// `name` if it is a valid location name.
    pub fn parse(name: &str) -> Option<Self> {
        let valid = !name.is_empty()
            && name.len() <= MAX_LOCATION_CHARS
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        valid.then(|| Self(name.to_ascii_lowercase()))
    }

    /// The location a request is served from: the test header's, where test hooks are
    /// enabled and it names a valid location; else the platform's; else [`DEFAULT_LOCATION`].
    /// A platform name that is not a valid location name is also the default: it only names
    /// objects, so the worst it can do is share them.
    pub fn serving(platform: Option<&str>, test_header: Option<&str>, test_hooks: bool) -> Self {
        test_header
            .filter(|_| test_hooks)
            .and_then(Self::parse)
            .or_else(|| platform.and_then(Self::parse))
            .unwrap_or_else(|| Self(DEFAULT_LOCATION.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of this location's mirror of the revocation log.
    pub fn log_mirror(&self) -> String {
        format!("revocations@{}", self.0)
    }

    /// Which copy of the revocation log this location reads (`revocation::LOG_COPIES`): the
    /// same for a location, always (FNV-1a of the name).
    pub fn log_copy(&self) -> u8 {
        let hash = self.0.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        (hash % u64::from(crate::revocation::LOG_COPIES)) as u8
    }

    /// The name of the rate-limit object of `account_id` at this location.
    pub fn limiter(&self, account_id: &str) -> String {
        format!("{account_id}@{}", self.0)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn the_test_header_is_honoured_only_with_test_hooks() {
        assert_eq!(
            Location::serving(Some("LHR"), Some("b"), true).as_str(),
            "b"
        );
        assert_eq!(
            Location::serving(Some("LHR"), Some("b"), false).as_str(),
            "lhr"
        );
        assert_eq!(
            Location::serving(None, Some("b"), false).as_str(),
            DEFAULT_LOCATION
        );
    }

    #[test]
    fn a_name_that_could_reach_into_another_name_is_refused() {
        for bad in [
            "",
            "a b",
            "a/b",
            "a@b",
            "x".repeat(17).as_str(),
            "é",
            "a\nb",
        ] {
            assert_eq!(Location::parse(bad), None, "{bad:?}");
            assert_eq!(
                Location::serving(None, Some(bad), true).as_str(),
                DEFAULT_LOCATION
            );
        }
        assert_eq!(
            Location::serving(Some("bad name"), None, false).as_str(),
            DEFAULT_LOCATION
        );
    }

    #[test]
    fn a_location_always_reads_the_same_copy_and_the_copies_share_the_locations() {
        let mut per_copy = [0usize; crate::revocation::LOG_COPIES as usize];
        for i in 0..300 {
            let location = Location::parse(&format!("c{i}")).unwrap();
            assert_eq!(location.log_copy(), location.clone().log_copy());
            per_copy[usize::from(location.log_copy())] += 1;
        }
        // 300 names over 3 copies: none near twice its share.
        assert!(
            per_copy.iter().all(|n| (70..=130).contains(n)),
            "{per_copy:?}"
        );
        assert_eq!(
            Location::parse("LHR").unwrap().log_copy(),
            Location::parse("lhr").unwrap().log_copy()
        );
    }

    #[test]
    fn objects_are_named_per_location() {
        let lhr = Location::parse("LHR").unwrap();
        assert_eq!(lhr.log_mirror(), "revocations@lhr");
        assert_eq!(lhr.limiter("acct_1"), "acct_1@lhr");
        assert_ne!(
            lhr.limiter("acct_1"),
            Location::parse("ams").unwrap().limiter("acct_1")
        );
    }
}

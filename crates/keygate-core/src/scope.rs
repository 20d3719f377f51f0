//! Scopes (step `scope`, docs/edge-pipeline.md): `resource:action`, `*` as a wildcard for
//! either part, `*` alone for everything. Names are `[a-z0-9_]+`; a whole scope is at most
//! [`MAX_LEN`] bytes.

use std::fmt;

/// Longest scope accepted, in bytes.
pub const MAX_LEN: usize = 64;

/// The scope that lets a key call the admin API's key endpoints for its own account
/// (docs/admin-api.md).
pub const KEYS_MANAGE: &str = "keys:manage";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Part {
    Any,
    Name(String),
}

impl Part {
    fn parse(text: &str, what: &str) -> Result<Part, String> {
        if text == "*" {
            return Ok(Part::Any);
        }
        if text.is_empty() {
            return Err(format!(
                "has an empty {what}; write `resource:action`, e.g. `transactions:read`"
            ));
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(format!(
                "has an invalid {what}; use lowercase letters, digits and underscores, or `*`"
            ));
        }
        Ok(Part::Name(text.to_string()))
    }

    fn grants(&self, needed: &Part) -> bool {
        match (self, needed) {
            (Part::Any, _) => true,
            (Part::Name(held), Part::Name(needed)) => held == needed,
            // A concrete name never grants a wildcard: `accounts:read` does not grant `accounts:*`.
            (Part::Name(_), Part::Any) => false,
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Part::Any => "*",
            Part::Name(name) => name,
        }
    }
}

/// A parsed scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    resource: Part,
    action: Part,
}

impl Scope {
    /// Parses `*`, `resource:action`, `resource:*`, `*:action` or `*:*`. The error is a message
    /// fit for a field error ("has an invalid action; …").
    pub fn parse(text: &str) -> Result<Scope, String> {
        if text.len() > MAX_LEN {
            return Err(format!("is longer than {MAX_LEN} characters"));
        }
        if text == "*" {
            return Ok(Scope::all());
        }
        let Some((resource, action)) = text.split_once(':') else {
            return Err("must be `resource:action` (e.g. `transactions:read`) or `*`".into());
        };
        if action.contains(':') {
            return Err("has more than one `:`; write `resource:action`".into());
        }
        Ok(Scope {
            resource: Part::parse(resource, "resource")?,
            action: Part::parse(action, "action")?,
        })
    }

    /// `*`: every permission.
    pub fn all() -> Scope {
        Scope {
            resource: Part::Any,
            action: Part::Any,
        }
    }

    /// Whether either part is `*`.
    pub fn is_wildcard(&self) -> bool {
        self.resource == Part::Any || self.action == Part::Any
    }

    /// `None` for `*`.
    pub fn resource(&self) -> Option<&str> {
        match &self.resource {
            Part::Any => None,
            Part::Name(name) => Some(name),
        }
    }

    /// `None` for `*`.
    pub fn action(&self) -> Option<&str> {
        match &self.action {
            Part::Any => None,
            Part::Name(name) => Some(name),
        }
    }

    /// Whether holding `self` permits what `needed` names.
    pub fn grants(&self, needed: &Scope) -> bool {
        self.resource.grants(&needed.resource) && self.action.grants(&needed.action)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.resource == Part::Any && self.action == Part::Any {
            return f.write_str("*");
        }
        write!(f, "{}:{}", self.resource.as_str(), self.action.as_str())
    }
}

/// Whether any of `held` grants `needed`. Held entries that do not parse grant nothing (they
/// can only come from a record written by an older or buggy version; failing closed is right).
pub fn grants(held: &[String], needed: &str) -> bool {
    // Borrowed parsing: this runs on every request, once per held scope.
    let Some(needed) = split(needed) else {
        return false;
    };
    held.iter()
        .filter_map(|h| split(h))
        .any(|(resource, action)| part_grants(resource, needed.0) && part_grants(action, needed.1))
}

/// `(resource, action)` of a valid scope, with `*` standing for either part; `*` alone is
/// `("*", "*")`. Same grammar as [`Scope::parse`], without allocating.
fn split(text: &str) -> Option<(&str, &str)> {
    if text.len() > MAX_LEN {
        return None;
    }
    if text == "*" {
        return Some(("*", "*"));
    }
    let (resource, action) = text.split_once(':')?;
    let valid = |part: &str| {
        part == "*"
            || (!part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
    };
    (valid(resource) && valid(action)).then_some((resource, action))
}

fn part_grants(held: &str, needed: &str) -> bool {
    held == "*" || (needed != "*" && held == needed)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn held(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parse_forms() {
        for ok in [
            "*",
            "*:*",
            "accounts:read",
            "accounts:*",
            "*:read",
            "a_1:b_2",
            "x:y",
        ] {
            let s = Scope::parse(ok).unwrap();
            assert_eq!(s.to_string(), if ok == "*:*" { "*" } else { ok });
        }
        assert_eq!(Scope::parse("*:*").unwrap(), Scope::all());
        assert!(Scope::parse("accounts:*").unwrap().is_wildcard());
        assert!(!Scope::parse("accounts:read").unwrap().is_wildcard());
        assert_eq!(
            Scope::parse("accounts:read").unwrap().resource(),
            Some("accounts")
        );
        assert_eq!(Scope::parse("*:read").unwrap().resource(), None);
        assert_eq!(Scope::parse("*:read").unwrap().action(), Some("read"));
    }

    #[test]
    fn parse_rejections() {
        for (bad, says) in [
            ("", "resource:action"),
            ("accounts", "resource:action"),
            ("Accounts:read", "invalid resource"),
            ("accounts:Read", "invalid action"),
            ("accounts:", "empty action"),
            (":read", "empty resource"),
            ("a:b:c", "more than one"),
            ("acc-ounts:read", "invalid resource"),
            ("accounts :read", "invalid resource"),
            ("ac*:read", "invalid resource"),
            ("**", "resource:action"),
            ("é:read", "invalid resource"),
        ] {
            let e = Scope::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let long = format!("{}:read", "a".repeat(MAX_LEN));
        assert!(Scope::parse(&long).unwrap_err().contains("longer"));
        let max = format!("{}:read", "a".repeat(MAX_LEN - 5));
        assert!(Scope::parse(&max).is_ok());
    }

    #[test]
    fn wildcards_grant() {
        assert!(grants(&held(&["*"]), "transactions:read"));
        assert!(grants(&held(&["*:*"]), "transactions:read"));
        assert!(grants(&held(&["transactions:*"]), "transactions:read"));
        assert!(grants(&held(&["*:read"]), "transactions:read"));
        assert!(!grants(&held(&["*:read"]), "transactions:write"));
        assert!(!grants(&held(&["accounts:*"]), "transactions:read"));
    }

    #[test]
    fn exact_names_grant_only_themselves() {
        assert!(grants(
            &held(&["accounts:read", "transactions:read"]),
            "transactions:read"
        ));
        assert!(!grants(&held(&["transactions:write"]), "transactions:read"));
        assert!(!grants(&held(&["transactions:read"]), "transactions:*"));
        assert!(!grants(&held(&[]), "transactions:read"));
    }

    #[test]
    fn the_fast_path_agrees_with_the_parser() {
        let samples = [
            "*", "*:*", "a:b", "a:*", "*:b", "a", "a:", ":b", "a:b:c", "A:b", "a:B", "a b:c", "",
            "**", "*a:b", "a_1:b_2", "é:b", ":", "*:", ":*",
        ];
        for held in samples {
            assert_eq!(split(held).is_some(), Scope::parse(held).is_ok(), "{held}");
            for needed in samples {
                let slow = match (Scope::parse(held), Scope::parse(needed)) {
                    (Ok(h), Ok(n)) => h.grants(&n),
                    _ => false,
                };
                assert_eq!(
                    grants(&[held.to_string()], needed),
                    slow,
                    "{held} / {needed}"
                );
            }
        }
    }

    #[test]
    fn malformed_entries_grant_nothing() {
        assert!(!grants(
            &held(&["Transactions:read", "transactions:read "]),
            "transactions:read"
        ));
        assert!(!grants(&held(&["*"]), "not a scope"));
    }
}

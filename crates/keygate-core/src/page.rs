//! List pagination shared by the admin API and the sandbox: `limit` (1–100, default 10) and
//! `starting_after` (an id), answered as `{"object": "list", "data": [...], "has_more": bool}`.

use crate::error::{Error, FieldError};
use serde::{Deserialize, Serialize};

/// Items per page when the query gives no `limit`.
pub const DEFAULT_LIMIT: usize = 10;
/// Largest `limit` accepted.
pub const MAX_LIMIT: usize = 100;

/// Which page of a list to answer: at most `limit` items after the one named by
/// `starting_after` (or from the start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageParams {
    /// 1 to [`MAX_LIMIT`].
    pub limit: usize,
    /// The id of the last item of the previous page; `None` for the first page. Must name an
    /// item of the list.
    pub starting_after: Option<String>,
}

impl Default for PageParams {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            starting_after: None,
        }
    }
}

impl PageParams {
    /// Reads `limit` and `starting_after` from decoded query pairs; other pairs are ignored here
    /// (they may be filters). Each bad value is reported as its own field error.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, Error> {
        let mut params = Self::default();
        let mut errors = Vec::new();
        for (name, value) in pairs {
            match name {
                "limit" => match value.parse::<usize>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => params.limit = n,
                    _ => errors.push(FieldError::new(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_LIMIT}"),
                    )),
                },
                "starting_after" if value.is_empty() => {
                    errors.push(FieldError::new("starting_after", "must be an object id"))
                }
                "starting_after" => params.starting_after = Some(value.to_string()),
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(params)
        } else {
            Err(Error::invalid(errors))
        }
    }

    /// Cuts one page out of `items` (already in list order). `starting_after` must name an item
    /// of the list, else 400 — a cursor that silently restarts the walk would loop forever.
    pub fn page<'a, T>(
        &self,
        items: &'a [T],
        id_of: impl Fn(&T) -> &str,
    ) -> Result<(&'a [T], bool), Error> {
        let start = match &self.starting_after {
            None => 0,
            Some(after) => match items.iter().position(|item| id_of(item) == after) {
                Some(index) => index + 1,
                None => {
                    return Err(Error::invalid(vec![FieldError::new(
                        "starting_after",
                        "no object with this id in the list",
                    )]));
                }
            },
        };
        let end = (start + self.limit).min(items.len());
        Ok((&items[start..end], end < items.len()))
    }
}

/// The list envelope.
#[derive(Debug, Serialize)]
pub struct ListPage<T: Serialize> {
    /// Always `"list"`.
    pub object: &'static str,
    /// The page's items, in list order.
    pub data: Vec<T>,
    /// Whether items follow the last one in `data` (ask again with its id as `starting_after`).
    pub has_more: bool,
}

impl<T: Serialize> ListPage<T> {
    /// A page of `data`, with `"object": "list"`.
    pub fn new(data: Vec<T>, has_more: bool) -> Self {
        Self {
            object: "list",
            data,
            has_more,
        }
    }
}

/// Decodes an `application/x-www-form-urlencoded` query string into pairs.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
        .into_owned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn params(q: &str) -> Result<PageParams, Error> {
        let pairs = query_pairs(q);
        PageParams::from_pairs(pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())))
    }

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(params("").unwrap().limit, 10);
        assert_eq!(params("limit=100").unwrap().limit, 100);
        for bad in ["limit=0", "limit=101", "limit=-1", "limit=ten", "limit="] {
            let e = params(bad).unwrap_err();
            assert_eq!(e.status, 400);
            assert_eq!(e.errors[0].field, "limit");
        }
    }

    #[test]
    fn walks_pages_without_gaps() {
        let items: Vec<String> = (0..25).map(|i| format!("id_{i:02}")).collect();
        let mut seen = Vec::new();
        let mut p = PageParams {
            limit: 10,
            starting_after: None,
        };
        loop {
            let (page, more) = p.page(&items, |s| s.as_str()).unwrap();
            seen.extend(page.iter().cloned());
            if !more {
                break;
            }
            p.starting_after = page.last().cloned();
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn unknown_cursor_is_rejected() {
        let items = vec!["a".to_string()];
        let p = PageParams {
            limit: 10,
            starting_after: Some("zz".into()),
        };
        assert_eq!(p.page(&items, |s| s.as_str()).unwrap_err().status, 400);
    }

    #[test]
    fn query_is_percent_decoded() {
        assert_eq!(
            query_pairs("?a=b%20c&d=%2F"),
            vec![("a".into(), "b c".into()), ("d".into(), "/".into())]
        );
    }
}

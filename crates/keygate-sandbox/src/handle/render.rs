//! How answers are written: records with `id` and `object` first, and error lists capped.

use crate::rules::Record;
use keygate_core::{Error, FieldError};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

/// A record rendered with `id` and `object` first, then the other fields by name.
pub(super) struct Ordered<'a>(pub(super) &'a Record);

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for key in ["id", "object"] {
            if let Some(value) = self.0.get(key) {
                map.serialize_entry(key, value)?;
            }
        }
        for (key, value) in self.0 {
            if key != "id" && key != "object" {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

/// An answer's JSON; a value that does not serialise is a 500.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|_| Error::internal())
}

/// Most `errors` entries in one answer; a body or query with more faults gets the first ones
/// and a last entry saying there are more.
const MAX_ERRORS: usize = 50;

/// `errors` cut to [`MAX_ERRORS`] entries, plus one `(more)` entry with the count of the rest.
pub(super) fn capped(mut errors: Vec<FieldError>) -> Vec<FieldError> {
    if errors.len() > MAX_ERRORS {
        let more = errors.len() - MAX_ERRORS;
        errors.truncate(MAX_ERRORS);
        errors.push(FieldError::new(
            "(more)",
            format!("{more} more errors not shown; fix these first"),
        ));
    }
    errors
}

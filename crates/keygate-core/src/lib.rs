//! keygate's core: every decision the gateway makes, with no I/O and no clock of its own.

pub mod error;
pub mod page;

pub use error::{Error, FieldError};

//! The caller resolved against the store: the operator, a manager key that may act now, or the
//! edge; and what each may see.

use super::*;
use crate::error::Error;
use crate::model::{Actor, ApiKey};

/// A caller resolved against the store.
pub(super) enum Principal {
    Operator,
    Manager(Box<Manager>),
    Edge,
}

/// A manager key that may act now.
pub(super) struct Manager {
    pub(super) key: ApiKey,
}

impl Principal {
    pub(super) fn actor(&self) -> Actor {
        match self {
            Principal::Operator | Principal::Edge => Actor::Operator,
            Principal::Manager(m) => Actor::Key {
                key_id: m.key.id.clone(),
            },
        }
    }

    pub(super) fn operator_only(&self) -> Result<(), Error> {
        match self {
            Principal::Operator => Ok(()),
            Principal::Manager(_) | Principal::Edge => Err(Error::forbidden(
                "This endpoint needs the operator's admin token; a `keys:manage` key may only \
                 manage its own account's keys.",
            )),
        }
    }

    /// A manager sees only its own account: anything else is "not found", never "forbidden",
    /// so no answer confirms that another tenant's id exists.
    pub(super) fn sees(&self, account_id: &str) -> bool {
        match self {
            Principal::Operator | Principal::Edge => true,
            Principal::Manager(m) => m.key.account_id == account_id,
        }
    }
}

pub(super) fn account_not_found() -> Error {
    Error::not_found("No account with this id.")
}

pub(super) fn key_not_found() -> Error {
    Error::not_found("No API key with this id.")
}

pub(super) fn not_entitled() -> Error {
    Error::not_found("This account is not entitled to this product.")
}

pub(super) fn resolve(caller: &Caller, store: &impl Store, now: i64) -> Result<Principal, Error> {
    match caller {
        Caller::Operator => Ok(Principal::Operator),
        Caller::Edge => Ok(Principal::Edge),
        Caller::Manager { key_id } => {
            let unknown = || {
                Error::unauthorized(
                    "Unknown API key. It may have been deleted. Use a current key with \
                     `keys:manage`, or the admin token.",
                )
            };
            let stored = store.key(key_id)?.ok_or_else(unknown)?;
            let account = store.account(&stored.key.account_id)?.ok_or_else(unknown)?;
            delegation::check_can_manage(&stored.key, &account, now)?;
            Ok(Principal::Manager(Box::new(Manager { key: stored.key })))
        }
    }
}

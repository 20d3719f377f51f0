//! The decision of each command: authorisation, validation, the new records, the answer.

use super::*;
use crate::admin::{self, KeyTemplate};
use crate::error::{Error, FieldError};
use crate::keys::{Environment, KeyKind};
use crate::model::{Account, Actor, Agreement, ApiKey, Entitlement, KeyStatus};
use serde_json::json;

pub(super) fn decide(
    principal: &Principal,
    command: Command,
    store: &impl Store,
    cx: &Context<'_>,
    mint: &mut impl Mint,
) -> Result<Outcome, Error> {
    let now = cx.now;
    match command {
        Command::CreateAccount { body, account_id } => {
            principal.operator_only()?;
            let id = match account_id {
                Some(id) => id,
                None => mint.id("acct_")?,
            };
            let account = admin::new_account(&body)?.into_account(id, now);
            check_quota_product(account.quota.as_ref(), cx)?;
            let view = account_view(&account, &[])?;
            Ok(Outcome::json(201, view).with(vec![Write::PutAccount(account)]))
        }
        Command::ListAccounts { page } => {
            // A manager's list is its own account: the console signs a customer in without
            // asking for an account id, and no other tenant's id is revealed.
            if let Principal::Manager(manager) = &principal {
                let account_id = &manager.key.account_id;
                let account = store.account(account_id)?.ok_or_else(account_not_found)?;
                let view = account_view(&account, &store.entitlements(account_id)?)?;
                return Ok(Outcome::json(200, list(vec![view], false)?));
            }
            let (accounts, has_more) = store.accounts(&page)?;
            let data = accounts
                .iter()
                .map(|a| account_view(a, &store.entitlements(&a.id)?))
                .collect::<Result<Vec<_>, Error>>()?;
            Ok(Outcome::json(200, list(data, has_more)?))
        }
        Command::GetAccount { account_id } => {
            if !principal.sees(&account_id) {
                return Err(account_not_found());
            }
            let account = store.account(&account_id)?.ok_or_else(account_not_found)?;
            let view = account_view(&account, &store.entitlements(&account.id)?)?;
            Ok(Outcome::json(200, view))
        }
        Command::UpdateAccount { account_id, body } => {
            principal.operator_only()?;
            let patch = admin::account_patch(&body)?;
            check_quota_product(patch.quota.as_ref().and_then(Option::as_ref), cx)?;
            let mut account = store.account(&account_id)?.ok_or_else(account_not_found)?;
            patch.apply(&mut account, now);
            let view = account_view(&account, &store.entitlements(&account.id)?)?;
            Ok(Outcome::json(200, view).with(vec![Write::PutAccount(account)]))
        }
        Command::GetEntitlement {
            account_id,
            product_id,
        } => {
            // A manager reads its own account's product keys: its callers send them.
            if !principal.sees(&account_id) {
                return Err(account_not_found());
            }
            store.account(&account_id)?.ok_or_else(account_not_found)?;
            let entitlement =
                find_entitlement(store, &account_id, &product_id)?.ok_or_else(not_entitled)?;
            Ok(Outcome::json(200, entitlement_view(&entitlement)))
        }
        Command::Entitle {
            account_id,
            product_id,
        } => {
            principal.operator_only()?;
            let account = store.account(&account_id)?.ok_or_else(account_not_found)?;
            entitle(store, cx, mint, &account, &product_id)
        }
        Command::Withdraw {
            account_id,
            product_id,
        } => {
            principal.operator_only()?;
            let account = store.account(&account_id)?.ok_or_else(account_not_found)?;
            find_entitlement(store, &account_id, &product_id)?.ok_or_else(not_entitled)?;
            Ok(no_content(vec![
                Write::DeleteEntitlement {
                    account_id,
                    product_id,
                },
                touched(&account, now),
            ]))
        }
        Command::CreateKey { account_id, body } => {
            if !principal.sees(&account_id) {
                return Err(account_not_found());
            }
            let account = store.account(&account_id)?.ok_or_else(account_not_found)?;
            let template = admin::new_key(&body, &account, cx.config, now)?.into_template();
            check_quota_product(template.quota.as_ref(), cx)?;
            if let Principal::Manager(manager) = &principal {
                delegation::check_environment(manager, template.environment)?;
            }
            let issued = issue(store, cx, mint, &account, template)?;
            if let Principal::Manager(manager) = &principal {
                delegation::check_within(&manager.key, &issued.stored.key)?;
            }
            let view = used_key_view(store, &issued.stored.key)?;
            let body = json!({ "key": view, "secret": issued.secret });
            Ok(Outcome::json(201, body).with(vec![Write::PutKey(issued.stored)]))
        }
        Command::ListKeys { account_id, page } => {
            if !principal.sees(&account_id) {
                return Err(account_not_found());
            }
            store.account(&account_id)?.ok_or_else(account_not_found)?;
            let (keys, has_more) = store.keys(&account_id, &page)?;
            let data = keys
                .iter()
                .map(|key| used_key_view(store, key))
                .collect::<Result<Vec<_>, Error>>()?;
            Ok(Outcome::json(200, list(data, has_more)?))
        }
        Command::GetKey { key_id } => {
            let stored = visible_key(principal, store, &key_id)?;
            Ok(Outcome::json(200, used_key_view(store, &stored.key)?))
        }
        Command::UpdateKey { key_id, body } => {
            let patch = admin::key_patch(&body, cx.config, now)?;
            check_quota_product(patch.quota.as_ref().and_then(Option::as_ref), cx)?;
            let stored = managed_key(principal, store, &key_id)?;
            let mut key = stored.key.clone();
            patch.apply(&mut key, now)?;
            match (stored.key.status, key.status) {
                (KeyStatus::Active, KeyStatus::Disabled) => {
                    key.disabled_by = Some(principal.actor())
                }
                (_, KeyStatus::Active) => key.disabled_by = None,
                _ => {}
            }
            if let Principal::Manager(manager) = principal
                && !delegation::only_disables(&stored.key, &key)
            {
                check_reenable(&stored.key, &key)?;
                delegation::check_credits_unchanged(&stored.key, &key)?;
                delegation::check_within(&manager.key, &key)?;
            }
            let view = used_key_view(store, &key)?;
            Ok(Outcome::json(200, view).with(vec![Write::PutKey(StoredKey { key, ..stored })]))
        }
        Command::RollKey { key_id, body } => {
            let grace = admin::roll_grace(body.as_ref())?;
            let stored = managed_key(principal, store, &key_id)?;
            // The successor's secret goes to the caller with the old key's settings.
            if let Principal::Manager(manager) = &principal {
                delegation::check_within(&manager.key, &stored.key)?;
            }
            let account = store
                .account(&stored.key.account_id)?
                .ok_or_else(account_not_found)?;
            let mut old = stored.key.clone();
            // Refusals of the roll itself (revoked, disabled, …) come before the quota.
            admin::roll(&mut old.clone(), "", now, grace)?;
            let mut issued = issue(store, cx, mint, &account, KeyTemplate::from_key(&old))?;
            admin::roll(&mut old, &issued.stored.key.id, now, grace)?;
            // The old key's grace starts with the successor's first use: the edge reports it.
            issued.stored.key.report_first_use = old.grace.is_some();
            let body = json!({
                "key": used_key_view(store, &issued.stored.key)?,
                "secret": issued.secret,
                "previous": used_key_view(store, &old)?,
            });
            // Successor first: should the writes ever be applied one by one, a failure leaves
            // a harmless extra key rather than one pointing at a key that does not exist.
            Ok(Outcome::json(200, body).with(vec![
                Write::PutKey(issued.stored),
                Write::PutKey(StoredKey { key: old, ..stored }),
            ]))
        }
        Command::LeakKey { key_id, body } => {
            let grace = admin::grace_seconds(body.as_ref(), admin::LEAK_GRACE_DEFAULT)?;
            let mut stored = managed_key(principal, store, &key_id)?;
            admin::mark_leaked(&mut stored.key, now, grace);
            let view = used_key_view(store, &stored.key)?;
            Ok(Outcome::json(200, view).with(vec![Write::PutKey(stored)]))
        }
        Command::DeleteKey { key_id } => {
            let stored = managed_key(principal, store, &key_id)?;
            Ok(no_content(vec![Write::DeleteKey(stored)]))
        }
        Command::ListEvents {
            account_id,
            page,
            kind,
            key_id,
        } => {
            if !principal.sees(&account_id) {
                return Err(account_not_found());
            }
            if let Some(kind) = &kind {
                events::check_type(kind)?;
            }
            if key_id.as_deref().is_some_and(str::is_empty) {
                return Err(Error::invalid(vec![FieldError::new(
                    "key_id",
                    "must be a key id (key_…); leave it out for every key",
                )]));
            }
            store.account(&account_id)?.ok_or_else(account_not_found)?;
            let (events, has_more) =
                store.events(&account_id, kind.as_deref(), key_id.as_deref(), &page)?;
            let data = events
                .iter()
                .map(super::views::to_value)
                .collect::<Result<_, _>>()?;
            Ok(Outcome::json(200, list(data, has_more)?))
        }
        Command::GetRequest { request_id } => {
            let unknown = || {
                Error::not_found(
                    "No stored refusal with this id for your account. Refusals are kept 7 \
                     days; past 10 of a key or 100 of an account in one minute, or after a \
                     key's first rate-limit refusal of a minute, they are counted on the key \
                     (`refusals.counted` on GET /admin/v1/keys/{id}) instead of stored; \
                     requests refused before their key was identified are not recorded.",
                )
            };
            let denial = store.denial(&request_id)?.ok_or_else(unknown)?;
            if !principal.sees(&denial.denial.account_id) {
                return Err(unknown());
            }
            Ok(Outcome::json(200, denial.view()))
        }
        Command::GetDeliveries { event_id } => {
            let unknown = || {
                Error::not_found(
                    "No webhook deliveries for this event id in your account (events are \
                     queued for delivery only while WEBHOOK_URL is set).",
                )
            };
            let log = store.deliveries(&event_id)?.ok_or_else(unknown)?;
            if !principal.sees(&log.account_id) {
                return Err(unknown());
            }
            Ok(Outcome::json(200, log.view()))
        }
        Command::RecordActivity {
            uses,
            denials,
            would_deny,
            exposed: hashes,
            first_uses,
            counted,
        } => {
            if !matches!(principal, Principal::Edge) {
                return Err(Error::forbidden(
                    "Only the gateway itself reports activity.",
                ));
            }
            let mut outcome = record_activity(store, mint, uses, denials, would_deny, counted)?;
            outcome.writes.extend(exposed(store, now, &hashes)?);
            outcome.writes.extend(first_used(store, &first_uses)?);
            Ok(outcome)
        }
        Command::Lease {
            account_id,
            lane,
            counters,
            settle,
            refused,
        } => {
            if !matches!(principal, Principal::Edge) {
                return Err(Error::forbidden(
                    "Only the gateway itself leases from a ledger.",
                ));
            }
            let owed = crate::quota::Owed { settle, refused };
            usage::lease(store, mint, now, account_id, lane, &counters, owed)
        }
        Command::ListUsage {
            account_id,
            from,
            to,
            page,
        } => {
            if !principal.sees(&account_id) {
                return Err(account_not_found());
            }
            store.account(&account_id)?.ok_or_else(account_not_found)?;
            usage::list_usage(store, &account_id, from, to, &page, now)
        }
        Command::GithubReport { matches } => {
            if !matches!(principal, Principal::Edge) {
                return Err(Error::forbidden(
                    "Only a report signed by GitHub is accepted.",
                ));
            }
            github_report(store, now, &matches)
        }
        Command::LeakReport { body } => {
            principal.operator_only()?;
            leak_report(store, now, &body)
        }
    }
}

/// A key the principal may see; any other is "not found".
pub(super) fn visible_key(
    principal: &Principal,
    store: &impl Store,
    key_id: &str,
) -> Result<StoredKey, Error> {
    let stored = store.key(key_id)?.ok_or_else(key_not_found)?;
    if !principal.sees(&stored.key.account_id) {
        return Err(key_not_found());
    }
    Ok(stored)
}

/// A key the principal may change: visible, and of an environment it may manage.
pub(super) fn managed_key(
    principal: &Principal,
    store: &impl Store,
    key_id: &str,
) -> Result<StoredKey, Error> {
    let stored = visible_key(principal, store, key_id)?;
    if let Principal::Manager(manager) = principal {
        delegation::check_environment(manager, stored.key.environment)?;
    }
    Ok(stored)
}

/// A key the operator disabled stays disabled until the operator re-enables it.
pub(super) fn check_reenable(before: &ApiKey, after: &ApiKey) -> Result<(), Error> {
    if before.status == KeyStatus::Disabled
        && after.status == KeyStatus::Active
        && before.disabled_by == Some(Actor::Operator)
    {
        return Err(Error::forbidden(
            "This key was disabled by the API provider and can be re-enabled only with the \
             admin token.",
        ));
    }
    Ok(())
}

pub(super) struct Issued {
    stored: StoredKey,
    secret: String,
}

/// A fresh key from `template`, within the account's key quota. The plaintext secret is
/// returned once, for the answer; only its hash is stored.
pub(super) fn issue(
    store: &impl Store,
    cx: &Context<'_>,
    mint: &mut impl Mint,
    account: &Account,
    template: KeyTemplate,
) -> Result<Issued, Error> {
    if store.key_count(&account.id)? >= cx.max_keys_per_account {
        return Err(Error::conflict(format!(
            "This account already holds {} keys, the most one account may hold \
             (MAX_KEYS_PER_ACCOUNT). Delete keys it no longer needs (revoked keys count until \
             deleted), then try again.",
            cx.max_keys_per_account
        )));
    }
    let issued = mint.key(KeyKind::Secret, template.environment)?;
    let key = template.into_key(
        mint.id("key_")?,
        &account.id,
        issued.start,
        issued.end,
        cx.now,
    );
    Ok(Issued {
        stored: StoredKey {
            key,
            hash: issued.hash,
        },
        secret: issued.text,
    })
}

pub(super) fn find_entitlement(
    store: &impl Store,
    account_id: &str,
    product_id: &str,
) -> Result<Option<Entitlement>, Error> {
    Ok(store
        .entitlements(account_id)?
        .into_iter()
        .find(|e| e.product_id == product_id))
}

/// `PUT` on an entitlement: creates it with its product keys (201), or answers the existing
/// one (200), adding the live product key an upgraded agreement now allows.
pub(super) fn entitle(
    store: &impl Store,
    cx: &Context<'_>,
    mint: &mut impl Mint,
    account: &Account,
    product_id: &str,
) -> Result<Outcome, Error> {
    if cx.config.product(product_id).is_none() {
        return Err(Error::not_found(
            "No product with this id in the gateway configuration.",
        ));
    }
    let wants_live = account.agreement == Agreement::Production;
    let mut product_key = |environment| -> Result<String, Error> {
        Ok(mint.key(KeyKind::Product, environment)?.text)
    };
    if let Some(mut existing) = find_entitlement(store, &account.id, product_id)? {
        if !(wants_live && existing.live_key.is_none()) {
            return Ok(Outcome::json(200, entitlement_view(&existing)));
        }
        existing.live_key = Some(product_key(Environment::Live)?);
        let view = entitlement_view(&existing);
        return Ok(Outcome::json(200, view).with(vec![
            Write::PutEntitlement(existing),
            touched(account, cx.now),
        ]));
    }
    let entitlement = Entitlement {
        account_id: account.id.clone(),
        product_id: product_id.to_string(),
        test_key: product_key(Environment::Test)?,
        live_key: if wants_live {
            Some(product_key(Environment::Live)?)
        } else {
            None
        },
        created_at: cx.now,
    };
    let view = entitlement_view(&entitlement);
    Ok(Outcome::json(201, view).with(vec![
        Write::PutEntitlement(entitlement),
        touched(account, cx.now),
    ]))
}

/// The account, marked changed: its product keys are part of every key's edge record.
pub(super) fn touched(account: &Account, now: i64) -> Write {
    let mut account = account.clone();
    account.touch(now);
    Write::PutAccount(account)
}

/// A quota limited to a product names one of the gateway's products.
fn check_quota_product(quota: Option<&crate::quota::Quota>, cx: &Context<'_>) -> Result<(), Error> {
    let Some(product) = quota.and_then(|q| q.product.as_deref()) else {
        return Ok(());
    };
    if cx.config.products().iter().any(|p| p.id == product) {
        return Ok(());
    }
    Err(Error::invalid(vec![FieldError::new(
        "quota.product",
        "is not a product of this gateway; use a product id of the gateway configuration, or \
         leave it out to count every route",
    )]))
}

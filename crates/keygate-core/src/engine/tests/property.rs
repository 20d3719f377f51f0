//! Whatever a manager does, every key it touches ends within its limits.

use super::*;
use ipnet::IpNet;
use proptest::prelude::*;

const SCOPES: [&str; 5] = [
    "accounts:read",
    "quotes:*",
    "quotes:read",
    "transactions:read",
    "*",
];
const PRODUCTS: [&str; 2] = ["bank_data", "insurance"];
const NETS: [&str; 5] = [
    "10.0.0.0/8",
    "10.1.0.0/16",
    "11.0.0.0/8",
    "2001:db8::/32",
    "0.0.0.0/0",
];

fn subset(all: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
    proptest::sample::subsequence(all.to_vec(), 0..=all.len())
        .prop_map(|v| v.into_iter().map(String::from).collect())
}

/// Optional key settings, as a manager might send them (absent fields take defaults).
fn settings() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(subset(&SCOPES)),
        proptest::option::of(subset(&PRODUCTS)),
        proptest::option::of(subset(&NETS)),
        proptest::option::of(proptest::option::of(1..30i64)),
        proptest::option::of(prop_oneof![Just("active"), Just("disabled")]),
    )
        .prop_map(|(scopes, products, ips, expiry, status)| {
            let mut body = serde_json::Map::new();
            if let Some(s) = scopes {
                body.insert("scopes".into(), json!(s));
            }
            if let Some(p) = products {
                body.insert("products".into(), json!(p));
            }
            if let Some(i) = ips {
                body.insert("allowed_ips".into(), json!(i));
            }
            if let Some(e) = expiry {
                body.insert("expires_at".into(), json!(e.map(|d| NOW + d * DAY)));
            }
            if let Some(s) = status {
                body.insert("status".into(), json!(s));
            }
            Value::Object(body)
        })
}

#[derive(Debug, Clone)]
enum Act {
    Create(Value, bool),
    Patch(usize, Value),
    Roll(usize),
    Leak(usize),
    Delete(usize),
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        (settings(), any::<bool>()).prop_map(|(s, live)| Act::Create(s, live)),
        (any::<usize>(), settings()).prop_map(|(i, s)| Act::Patch(i, s)),
        any::<usize>().prop_map(Act::Roll),
        any::<usize>().prop_map(Act::Leak),
        any::<usize>().prop_map(Act::Delete),
    ]
}

/// An oracle written independently of `delegation::check_within`.
fn within(manager: &ApiKey, key: &ApiKey) -> bool {
    let nets =
        |list: &[String]| -> Vec<IpNet> { list.iter().filter_map(|s| s.parse().ok()).collect() };
    let (outer, inner) = (nets(&manager.allowed_ips), nets(&key.allowed_ips));
    let scopes = key
        .scopes
        .iter()
        .all(|s| crate::scope::grants(&manager.scopes, s));
    let products = manager.products.is_empty()
        || (!key.products.is_empty() && key.products.iter().all(|p| manager.products.contains(p)));
    let ips = outer.is_empty()
        || (!inner.is_empty() && inner.iter().all(|i| outer.iter().any(|o| o.contains(i))));
    let expiry = match (manager.expires_at, key.expires_at) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(limit), Some(at)) => at <= limit,
    };
    let environment =
        manager.environment == Environment::Live || key.environment == Environment::Test;
    scopes && products && ips && expiry && environment
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn every_key_a_manager_touches_ends_within_its_limits(
        manager_settings in settings(),
        manager_live in any::<bool>(),
        others in proptest::collection::vec((settings(), any::<bool>()), 0..4),
        acts in proptest::collection::vec(act(), 1..12),
    ) {
        let mut w = World::new();
        let mut body = manager_settings;
        body["name"] = json!("manager");
        body["environment"] = json!(if manager_live { "live" } else { "test" });
        body.as_object_mut().unwrap().remove("status");
        let mut scopes: Vec<String> = body["scopes"].as_array().map(|a| {
            a.iter().filter_map(|s| s.as_str().map(String::from)).collect()
        }).unwrap_or_else(|| vec!["*".into()]);
        scopes.push("keys:manage".into());
        body["scopes"] = json!(scopes);
        let manager = w.manager(body);
        for (mut settings, live) in others {
            settings["name"] = json!("other");
            settings["environment"] = json!(if live { "live" } else { "test" });
            settings.as_object_mut().unwrap().remove("status");
            // Some generated settings are invalid (no scopes): such a key just is not made.
            let _ = w.run(&Caller::Operator, create(&w, settings));
        }
        let Caller::Manager { key_id: manager_id } = manager.clone() else { unreachable!() };
        for act in acts {
            let Some(limits) = w.store.key(&manager_id).unwrap().map(|s| s.key) else { break };
            let ids: Vec<String> = w.store.keys.iter().map(|k| k.key.id.clone()).collect();
            let pick = |i: usize| ids[i % ids.len()].clone();
            let command = match act {
                Act::Create(mut s, live) => {
                    s["name"] = json!("minted");
                    s["environment"] = json!(if live { "live" } else { "test" });
                    s.as_object_mut().unwrap().remove("status");
                    Command::CreateKey { account_id: w.account(), body: s }
                }
                Act::Patch(i, s) => Command::UpdateKey { key_id: pick(i), body: s },
                Act::Roll(i) => Command::RollKey { key_id: pick(i), body: None },
                Act::Leak(i) => Command::LeakKey { key_id: pick(i), body: None },
                Act::Delete(i) => Command::DeleteKey { key_id: pick(i) },
            };
            let before = w.store.clone();
            let Ok(outcome) = w.run(&manager, command.clone()) else { continue };
            for write in &outcome.writes {
                let Write::PutKey(after) = write else { continue };
                let previous = before.key(&after.key.id).unwrap().map(|s| s.key);
                let power_removed = match &previous {
                    Some(p) => delegation::only_disables(p, &after.key)
                        || matches!(command, Command::LeakKey { .. })
                        || (after.key.rolled_to.is_some() && p.rolled_to.is_none()),
                    None => false,
                };
                if !power_removed {
                    prop_assert!(
                        within(&limits, &after.key),
                        "{command:?} left {:?} outside {:?}", after.key, limits
                    );
                }
            }
        }
    }
}

//! Trial 1: every change is an event, in order, with its request and changed fields.

use super::*;

pub(crate) fn every_change_is_an_event_with_its_request_and_changed_fields(c: &Ctx) {
    let gw = &c.gw;
    let s = every_kind(gw, "test");
    let listed = all(gw, Who::Operator, &s.log.account, "");
    assert_events(&listed, &s.log, s.since);
    let types: BTreeSet<&str> = listed.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        TYPES.into_iter().collect(),
        "every type, in one account"
    );
    // The example of docs/admin-api.md.
    let disabled = listed.iter().find(|e| e["type"] == "key.disabled").unwrap();
    assert_eq!(
        disabled["data"],
        json!({"before": {"status": "active", "disabled_by": null},
               "after": {"status": "disabled", "disabled_by": {"type": "operator"}}}),
        "{disabled}"
    );
    // The second account of the leak report: its own key.leaked and leak.reported.
    let listed = all(gw, Who::Operator, &s.other.account, "");
    assert_events(&listed, &s.other, s.since);
}

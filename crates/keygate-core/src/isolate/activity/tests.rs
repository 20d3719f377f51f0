use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const T0: u64 = 1_700_000_000_000;

fn denial(key: &str, status: u16, n: usize) -> Denial {
    Denial {
        request_id: format!("req_{key}_{n}"),
        account_id: "acct_1".into(),
        key_id: key.into(),
        status,
        reason: "the key lacks the scope".into(),
        method: "GET".into(),
        path: "/v1/accounts".into(),
        ip: Some("192.0.2.1".into()),
        at: seconds(T0),
    }
}

fn report(key: &str, ip: &str) -> WouldDeny {
    WouldDeny {
        account_id: "acct_1".into(),
        key_id: key.into(),
        ip: ip.into(),
        request_id: "req_1".into(),
        at: seconds(T0),
    }
}

struct Sent {
    uses: Vec<KeyUse>,
    denials: Vec<Denial>,
    would_deny: Vec<WouldDeny>,
    first_uses: Vec<FirstUse>,
    counted: Vec<Counted>,
}

fn sent(command: Command) -> Sent {
    let Command::RecordActivity {
        uses,
        denials,
        would_deny,
        first_uses,
        counted,
        ..
    } = command
    else {
        panic!("not a report: {command:?}");
    };
    Sent {
        uses,
        denials,
        would_deny,
        first_uses,
        counted,
    }
}

fn ip(text: &str) -> Option<IpAddr> {
    Some(text.parse().unwrap())
}

#[test]
fn a_refusal_arms_one_flush_a_second_later_and_it_sends_everything() {
    let mut buffer = ActivityBuffer::default();
    assert_eq!(buffer.schedule(T0), None, "nothing waiting, nothing to arm");
    buffer.denied(denial("key_a", 403, 0), T0);
    assert_eq!(buffer.schedule(T0), Some(SEND_AFTER_MS));
    // Later records are covered by the armed flush.
    buffer.denied(denial("key_b", 401, 0), T0 + 300);
    buffer.used("key_a", "acct_1", ip("192.0.2.1"), false, T0 + 400);
    assert_eq!(buffer.schedule(T0 + 400), None);
    let report = sent(buffer.take(T0 + SEND_AFTER_MS).unwrap());
    assert_eq!(report.denials.len(), 2);
    assert_eq!(report.uses.len(), 1);
    assert!(buffer.take(T0 + SEND_AFTER_MS).is_none());
    assert_eq!(buffer.schedule(T0 + SEND_AFTER_MS), None);
}

#[test]
fn a_keys_first_use_shows_within_a_second_and_later_uses_within_use_every() {
    let mut buffer = ActivityBuffer::default();
    buffer.used("key_a", "acct_1", ip("192.0.2.1"), false, T0);
    assert_eq!(buffer.schedule(T0), Some(SEND_AFTER_MS));
    let first = sent(buffer.take(T0 + SEND_AFTER_MS).unwrap());
    assert_eq!(first.uses[0].last_used_at, seconds(T0));
    // Reported a moment ago: the next use may wait, but never past USE_EVERY_MS.
    let later = T0 + 5_000;
    buffer.used("key_a", "acct_1", ip("192.0.2.1"), false, later);
    assert_eq!(buffer.schedule(later), Some(USE_EVERY_MS));
    // A refusal meanwhile pulls the flush forward, and it carries the use along.
    buffer.denied(denial("key_a", 403, 1), later + 2_000);
    assert_eq!(buffer.schedule(later + 2_000), Some(SEND_AFTER_MS));
    let report = sent(buffer.take(later + 3_000).unwrap());
    assert_eq!((report.uses.len(), report.denials.len()), (1, 1));
    // Long after its last report, a key's use is prompt again.
    let much_later = later + 3_000 + USE_EVERY_MS;
    buffer.used("key_a", "acct_1", None, false, much_later);
    assert_eq!(buffer.schedule(much_later), Some(SEND_AFTER_MS));
}

#[test]
fn a_flush_that_never_ran_is_armed_again() {
    let mut buffer = ActivityBuffer::default();
    buffer.denied(denial("key_a", 403, 0), T0);
    assert_eq!(buffer.schedule(T0), Some(SEND_AFTER_MS));
    // Its request's waitUntil was cancelled: nothing took the buffer.
    let late = T0 + SEND_AFTER_MS + LOST_FLUSH_MS;
    buffer.denied(denial("key_a", 403, 1), late);
    assert_eq!(buffer.schedule(late), Some(0), "overdue: send at once");
    assert_eq!(sent(buffer.take(late).unwrap()).denials.len(), 2);
}

#[test]
fn refusals_past_the_per_key_caps_are_counted_not_kept() {
    let mut buffer = ActivityBuffer::default();
    for n in 0..300 {
        buffer.denied(denial("key_a", 403, n), T0);
    }
    for n in 0..50 {
        buffer.denied(denial("key_a", 429, n + 300), T0);
    }
    buffer.denied(denial("key_b", 401, 0), T0);
    let report = sent(buffer.take(T0 + SEND_AFTER_MS).unwrap());
    let whole = |key: &str, status: u16| {
        report
            .denials
            .iter()
            .filter(|d| d.key_id == key && d.status == status)
            .count()
    };
    assert_eq!(whole("key_a", 403), DENIALS_PER_KEY);
    assert_eq!(whole("key_a", 429), RATE_LIMITED_PER_KEY);
    assert_eq!(whole("key_b", 401), 1);
    assert_eq!(
        report.counted,
        [Counted {
            key_id: "key_a".into(),
            account_id: "acct_1".into(),
            refusals: (300 - DENIALS_PER_KEY + 50 - RATE_LIMITED_PER_KEY) as u64,
            would_deny: 0,
        }]
    );
    // The caps are per flush: the next one sends whole records again.
    buffer.denied(denial("key_a", 403, 999), T0 + 2_000);
    let next = sent(buffer.take(T0 + 3_000).unwrap());
    assert_eq!((next.denials.len(), next.counted.len()), (1, 0));
}

#[test]
fn would_deny_reports_one_record_per_address_and_count_the_rest() {
    let mut buffer = ActivityBuffer::default();
    for _ in 0..3 {
        buffer.would_deny(report("key_a", "2001:db8::1"), T0);
    }
    for i in 0..100 {
        buffer.would_deny(report("key_a", &format!("2001:db8::{i:x}")), T0);
    }
    let report = sent(buffer.take(T0 + SEND_AFTER_MS).unwrap());
    assert_eq!(report.would_deny.len(), WOULD_DENY_PER_KEY);
    // 103 reports: one record per distinct address up to the cap, every other one counted.
    assert_eq!(
        report.counted[0].would_deny,
        (103 - WOULD_DENY_PER_KEY) as u64
    );
}

#[test]
fn uses_count_addresses_and_remember_a_first_use_once() {
    let mut buffer = ActivityBuffer::default();
    for (at, addr) in [(0, "192.0.2.1"), (1_000, "192.0.2.2"), (2_000, "192.0.2.1")] {
        buffer.used("key_a", "acct_1", ip(addr), true, T0 + at);
    }
    let report = sent(buffer.take(T0 + 3_000).unwrap());
    assert_eq!(
        report.first_uses,
        [FirstUse {
            key_id: "key_a".into(),
            account_id: "acct_1".into(),
            at: seconds(T0)
        }]
    );
    let used = &report.uses[0];
    assert_eq!(used.last_used_at, seconds(T0 + 2_000));
    assert_eq!(used.last_used_ip.as_deref(), Some("192.0.2.1"));
    let counts: Vec<(&str, u64)> = used.ips.iter().map(|s| (s.ip.as_str(), s.count)).collect();
    assert_eq!(counts, [("192.0.2.1", 2), ("192.0.2.2", 1)]);
}

#[test]
fn memory_stays_bounded_whatever_arrives() {
    let mut buffer = ActivityBuffer::default();
    for k in 0..MAX_KEYS + 500 {
        let key = format!("key_{k}");
        buffer.used(&key, "acct_1", ip("192.0.2.1"), false, T0);
        for n in 0..DENIALS_PER_KEY + 2 {
            buffer.denied(denial(&key, 403, n), T0);
        }
    }
    assert!(buffer.denials.len() <= MAX_DENIALS);
    assert!(buffer.uses.len() + buffer.counted.len() <= MAX_KEYS);
    let report = sent(buffer.take(T0 + SEND_AFTER_MS).unwrap());
    assert!(report.uses.len() + report.counted.len() <= MAX_KEYS);
}

#[cfg(not(target_arch = "wasm32"))]
mod property {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Event {
        Refused { key: usize, status: u16 },
        WouldDeny { key: usize, addr: u8 },
        Used { key: usize },
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            (0..4usize, prop::sample::select(vec![401u16, 403, 404, 429]))
                .prop_map(|(key, status)| Event::Refused { key, status }),
            (0..4usize, any::<u8>()).prop_map(|(key, addr)| Event::WouldDeny { key, addr }),
            (0..4usize).prop_map(|key| Event::Used { key }),
        ]
    }

    proptest! {
        /// Whatever arrives, and whenever: every refusal and would-deny report is either sent
        /// whole or counted (nothing is lost below the key bound), each is sent by a flush that
        /// was armed for at most SEND_AFTER_MS after it, and each use at most USE_EVERY_MS.
        #[test]
        fn nothing_is_lost_and_nothing_waits_past_its_bound(
            steps in prop::collection::vec((event(), 0u64..3_000), 1..300),
        ) {
            let mut buffer = ActivityBuffer::default();
            let mut now = T0;
            let mut timers: Vec<u64> = Vec::new();
            let (mut refused, mut reports) = (0u64, 0u64);
            let (mut refused_sent, mut reports_sent) = (0u64, 0u64);
            // (recorded at, bound) of what no flush has sent yet.
            let mut unsent: Vec<(u64, u64)> = Vec::new();
            let mut flush = |buffer: &mut ActivityBuffer, at: u64, unsent: &mut Vec<(u64, u64)>| {
                if let Some(command) = buffer.take(at) {
                    let report = sent(command);
                    refused_sent += report.denials.len() as u64
                        + report.counted.iter().map(|c| c.refusals).sum::<u64>();
                    reports_sent += report.would_deny.len() as u64
                        + report.counted.iter().map(|c| c.would_deny).sum::<u64>();
                }
                for (recorded, bound) in unsent.drain(..) {
                    assert!(at <= recorded + bound, "sent {} ms after it was recorded", at - recorded);
                }
            };
            for (event, gap) in steps {
                let next = now + gap;
                // Timers that fire before the next event.
                timers.sort_unstable();
                while let Some(&at) = timers.first().filter(|&&at| at <= next) {
                    timers.remove(0);
                    flush(&mut buffer, at, &mut unsent);
                }
                now = next;
                match event {
                    Event::Refused { key, status } => {
                        refused += 1;
                        buffer.denied(denial(&format!("key_{key}"), status, refused as usize), now);
                        unsent.push((now, SEND_AFTER_MS));
                    }
                    Event::WouldDeny { key, addr } => {
                        reports += 1;
                        buffer.would_deny(report(&format!("key_{key}"), &format!("192.0.2.{addr}")), now);
                        unsent.push((now, SEND_AFTER_MS));
                    }
                    Event::Used { key } => {
                        buffer.used(&format!("key_{key}"), "acct_1", None, false, now);
                        unsent.push((now, USE_EVERY_MS));
                    }
                }
                if let Some(delay) = buffer.schedule(now) {
                    timers.push(now + delay);
                }
            }
            timers.sort_unstable();
            for at in timers {
                flush(&mut buffer, at, &mut unsent);
            }
            prop_assert!(unsent.is_empty(), "left unsent: {unsent:?}");
            prop_assert_eq!(refused_sent, refused);
            prop_assert_eq!(reports_sent, reports);
        }
    }
}

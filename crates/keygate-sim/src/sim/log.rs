//! The revocation path: admin changes through their Registry (which indexes them in the
//! directory) to every copy of the log; mirrors polling their copy; isolates reading their source
//! when the core says a read is due, and applying what it answered with the core's own `synced`.

use keygate_core::isolate::Held;
use keygate_core::key_state;
use keygate_core::revocation::{PIN_MS, SYNC_INTERVAL_MS};

use super::{Change, Event, Holder, Sim, unix_ms};
use crate::objects::{Admission, Kind, Object};
use crate::params::RegistryLayout;
use crate::queue::{MS, Micros, SECOND};
use crate::records::{self, ChangeKind};

/// A change is drawn among keys not changed yet; after this many tries it is skipped.
const KEY_TRIES: u32 = 64;

impl Sim {
    /// Where isolate `i` reads the log: its location's mirror, or its copy of the log.
    fn source(&mut self, i: usize) -> &mut Object {
        let iso = &self.isolates[i];
        if self.p.mirrors {
            &mut self.mirrors[iso.location as usize].object
        } else {
            &mut self.replicas[iso.replica].object
        }
    }

    /// Isolate `i`'s next log read falls due at `at`: it reaches its source half a round trip
    /// later.
    pub(super) fn start_sync(&mut self, i: u32, at: Micros) {
        let from = self.isolates[i as usize].location;
        let to = self.source(i as usize).location;
        let rtt = self.round_trip(from, to);
        self.isolates[i as usize].attempted_at = at;
        self.queue
            .push(at + rtt / 2, Event::SyncArrive(i, rtt - rtt / 2));
    }

    /// The read started at `attempted_at` (the core is told that time: it takes the time as a
    /// value) reaches the source, which answers what it holds now.
    pub(super) fn sync_arrive(&mut self, now: Micros, i: u32, back: Micros) {
        let iso = &mut self.isolates[i as usize];
        let started_at = iso.attempted_at;
        let started_ms = unix_ms(started_at);
        let due = match &mut iso.holder {
            Holder::Full(cache) => {
                cache.sync_due(started_ms) && {
                    cache.begin_sync(started_ms);
                    true
                }
            }
            Holder::Shadow(state) => {
                state.due(started_ms) && {
                    state.attempted(started_ms);
                    true
                }
            }
        };
        if !due {
            self.start_sync(i, started_at + SYNC_INTERVAL_MS * MS);
            return;
        }
        let (service, measured) = (self.service, self.measuring(now));
        let admission = self.source(i as usize).arrive(now, service, measured);
        let iso = &self.isolates[i as usize];
        let upto = if self.p.mirrors {
            self.mirrors[iso.location as usize].generation
        } else {
            self.replicas[iso.replica].entries.len() as u64
        };
        let reply = match admission {
            Admission::Served { done, .. } => (done + back, Some(upto)),
            Admission::Refused => {
                self.counts.sync_refused += u64::from(measured);
                (now + back, None)
            }
        };
        self.queue.push(reply.0, Event::SyncReply(i, reply.1));
    }

    pub(super) fn sync_reply(&mut self, now: Micros, i: u32, upto: Option<u64>) {
        let interval = SYNC_INTERVAL_MS * MS;
        let Some(upto) = upto else {
            let at = self.isolates[i as usize].attempted_at + interval;
            self.start_sync(i, at.max(now));
            return;
        };
        let now_ms = unix_ms(now);
        let iso = &mut self.isolates[i as usize];
        let replica = &self.replicas[iso.replica];
        let upto = upto.max(iso.generation);
        // A new isolate gets the entries of the last PIN_MS; one that read before, what came
        // after its generation.
        let from = if iso.started {
            iso.generation
        } else {
            let since = now.saturating_sub(PIN_MS * MS);
            replica.appended_at.partition_point(|at| *at < since) as u64
        }
        .min(upto);
        let entries = &replica.entries[from as usize..upto as usize];
        match &mut iso.holder {
            Holder::Full(cache) => cache.synced(upto, false, entries, now_ms),
            Holder::Shadow(state) => state.succeeded(upto, now_ms),
        }
        let (before, started) = (iso.generation, iso.started);
        iso.generation = upto;
        iso.started = true;
        self.start_sync(i, now + interval);
        if started {
            self.applied(now, i as usize, before, upto);
        }
        // The copies `synced` queued: each changed key's, stamped with the new generation.
        self.put_location_writes(i as usize, now);
    }

    /// Isolate `i` applied generations `(before, upto]`: each key revocation among them is
    /// visible there now. At a sampled location, the core's cache must refuse the key.
    fn applied(&mut self, now: Micros, i: usize, before: u64, upto: u64) {
        let now_ms = unix_ms(now);
        let now_s = (now_ms / 1_000) as i64;
        let replica = self.isolates[i].replica;
        for generation in before..upto {
            let c = self.replicas[replica].order[generation as usize] as usize;
            let change = &mut self.changes[c];
            if !change.kind.refuses() {
                continue;
            }
            change.seen += 1;
            change.last_seen = change.last_seen.max(now);
            if let Some(committed) = change.committed {
                change.sum_seen += now.saturating_sub(committed) as f64;
            }
            if change.measured && change.seen as usize == self.isolates.len() {
                self.pending = self.pending.saturating_sub(1);
            }
            let (key, kind, measured) = (change.key, change.kind, change.measured);
            if !matches!(self.isolates[i].holder, Holder::Full(_)) {
                continue;
            }
            // The adversary's KV answer: the record as it was before the change.
            let stale = if kind == ChangeKind::Delete {
                self.kv_text(key, 0)
            } else {
                None
            };
            let Holder::Full(cache) = &mut self.isolates[i].holder else {
                continue;
            };
            let hash = records::key_hash(key);
            let refused = match cache.held(&hash, now_ms) {
                Ok(Held::Record(r)) => key_state(&r.key, &r.account, now_s).is_err(),
                Ok(Held::Missing) | Err(_) => true,
                // Not cached (a deleted key): what the isolate would make of KV's answer.
                Ok(Held::Nothing) => match cache.accept(&hash, stale.as_deref(), now_ms) {
                    Ok(Some(r)) => key_state(&r.key, &r.account, now_s).is_err(),
                    Ok(None) | Err(_) => true,
                },
            };
            self.counts.not_refused_after_apply += u64::from(!refused && measured);
        }
    }

    pub(super) fn mirror_due(&mut self, now: Micros, l: u32) {
        let (service, measured) = (self.service, self.measuring(now));
        let interval = ((self.p.mirror_interval_ms * MS as f64) as Micros).max(1);
        let mirror = &mut self.mirrors[l as usize];
        // The alarm that wakes the mirror is a request to it.
        mirror.object.arrive(now, service, measured);
        mirror.next_due = now + interval;
        let to = self.replicas[mirror.replica].object.location;
        let rtt = self.round_trip(l, to);
        self.queue
            .push(now + rtt / 2, Event::MirrorArrive(l, rtt - rtt / 2));
    }

    pub(super) fn mirror_arrive(&mut self, now: Micros, l: u32, back: Micros) {
        let (service, measured) = (self.service, self.measuring(now));
        let replica = &mut self.replicas[self.mirrors[l as usize].replica];
        let reply = match replica.object.arrive(now, service, measured) {
            Admission::Served { done, .. } => (done + back, Some(replica.entries.len() as u64)),
            Admission::Refused => (now + back, None),
        };
        self.queue.push(reply.0, Event::MirrorReply(l, reply.1));
    }

    pub(super) fn mirror_reply(&mut self, now: Micros, l: u32, upto: Option<u64>) {
        let mirror = &mut self.mirrors[l as usize];
        if let Some(upto) = upto {
            mirror.generation = mirror.generation.max(upto);
        }
        let at = mirror.next_due.max(now);
        self.queue.push(at, Event::MirrorDue(l));
    }

    pub(super) fn admin_issue(&mut self, now: Micros) {
        if now >= self.measure_end {
            return;
        }
        let next = now + self.admin_gap();
        self.queue.push(next, Event::AdminIssue);
        let account_wide = self.admin.unit() < self.p.account_change_share;
        let (kind, key, account) = if account_wide {
            let account = self.admin.below(self.p.accounts.max(1)) as u32;
            (ChangeKind::Account, 0, account)
        } else {
            let kind = match self.admin.below(4) {
                0 | 1 => ChangeKind::Disable,
                2 => ChangeKind::Leak,
                _ => ChangeKind::Delete,
            };
            let mut tries = 0;
            let key = loop {
                let key = self.admin.below(self.keys.len() as u64) as u32;
                if !self.key_change.contains_key(&key) {
                    break Some(key);
                }
                tries += 1;
                if tries >= KEY_TRIES {
                    break None;
                }
            };
            let Some(key) = key else {
                return;
            };
            (kind, key, self.keys.account(key))
        };
        let c = self.changes.len() as u32;
        if kind.refuses() {
            self.key_change.insert(key, c);
        }
        self.changes.push(Change {
            kind,
            key,
            account,
            committed: None,
            measured: false,
            seen: 0,
            last_seen: 0,
            sum_seen: 0.0,
            entry: String::new(),
        });
        // The admin API runs at some location; the worker there calls the account's Registry
        // (the operator's commands by a bare id ask the directory first: rare, not modelled).
        let origin = self.admin.below(u64::from(self.locations)) as u32;
        let rtt = self.round_trip(origin, self.registry_location(account));
        self.queue.push(now + rtt / 2, Event::RegistryArrive(c));
    }

    /// A Registry's index write reaches the directory. It changes nothing a request or the
    /// log sees; it is load on the one object. Refused: the Registry's alarm retries in 10 s.
    pub(super) fn index_arrive(&mut self, now: Micros) {
        let (service, measured) = (self.service, self.measuring(now));
        if let Admission::Refused = self.directory.arrive(now, service, measured) {
            self.queue.push(now + 10 * SECOND, Event::IndexArrive);
        }
    }

    pub(super) fn registry_arrive(&mut self, now: Micros, c: u32) {
        let (service, measured) = (self.service, self.measuring(now));
        let account = self.changes[c as usize].account;
        let location = self.registry_location(account);
        let registry_key = match self.p.registry {
            RegistryLayout::One => 0,
            RegistryLayout::PerAccount => account,
        };
        let registry = self
            .registries
            .entry(registry_key)
            .or_insert_with(|| Object::new(Kind::Registry, location));
        let Admission::Served { done, .. } = registry.arrive(now, service, measured) else {
            self.queue.push(now + SECOND, Event::RegistryArrive(c));
            return;
        };
        self.commit(done, c as usize);
        if self.p.registry == RegistryLayout::PerAccount {
            // Every change the model makes writes the directory's index (keys, accounts).
            let rtt = self.round_trip(location, self.directory.location);
            self.queue.push(done + rtt / 2, Event::IndexArrive);
        }
        for r in 0..self.replicas.len() {
            let rtt = self.round_trip(location, self.replicas[r].object.location);
            self.queue
                .push(done + rtt / 2, Event::AppendArrive(c, r as u32));
        }
    }

    /// The Registry commits change `c` at `at`: KV is written through, and the log entry made.
    fn commit(&mut self, at: Micros, c: usize) {
        let measuring = self.measuring(at);
        let (kind, key, account) = {
            let change = &self.changes[c];
            (change.kind, change.key, change.account)
        };
        let at_s = ((unix_ms(at)) / 1_000) as i64;
        let entry = match kind {
            ChangeKind::Account => {
                let revision = self.account_revision.entry(account).or_insert(1);
                *revision += 1;
                let revision = *revision;
                let writes = self
                    .keys
                    .account_sizes
                    .get(account as usize)
                    .copied()
                    .unwrap_or(0);
                self.counts.kv_writes += if measuring { u64::from(writes) } else { 0 };
                records::log_entry(kind, key, account, revision, None)
            }
            _ => {
                self.kv.write(key, at);
                self.counts.kv_writes += u64::from(measuring);
                let record =
                    records::record(key, account, self.key_limit(key), 1, Some((kind, at_s)));
                records::log_entry(kind, key, account, 0, record)
            }
        };
        let change = &mut self.changes[c];
        change.committed = Some(at);
        change.measured = measuring;
        change.entry = entry;
        if measuring && kind.refuses() {
            self.pending += 1;
        }
    }

    pub(super) fn append_arrive(&mut self, now: Micros, c: u32, r: u32) {
        let (service, measured) = (self.service, self.measuring(now));
        let replica = &mut self.replicas[r as usize];
        match replica.object.arrive(now, service, measured) {
            Admission::Served { .. } => {
                replica.order.push(c);
                replica.appended_at.push(now);
                replica.entries.push(self.changes[c as usize].entry.clone());
                replica.position.insert(c, replica.entries.len() as u64);
            }
            // Refused: the Registry's outbox sends it again.
            Admission::Refused => {
                self.queue.push(now + 100 * MS, Event::AppendArrive(c, r));
            }
        }
    }
}

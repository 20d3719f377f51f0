//! Durable Objects as the simulation sees them: one request at a time, first come first
//! served, `do_capacity_rps` requests a second; a request that would wait longer than
//! `do_queue_limit_ms` is refused (the platform's "overloaded"). Every object counts the
//! requests that reach it while the run measures, so the busiest object's load is measured on
//! the object, not derived.

use std::fmt;

use crate::queue::Micros;

/// What an object is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A copy of the revocation log (before: the one log).
    Log,
    /// A location's mirror of the log.
    Mirror,
    /// A rate limiter.
    Limiter,
    /// A Registry (the system of record).
    Registry,
    /// The directory of per-account Registries.
    Directory,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 5] = [
        Kind::Log,
        Kind::Mirror,
        Kind::Limiter,
        Kind::Registry,
        Kind::Directory,
    ];
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Log => "revocation log",
            Kind::Mirror => "log mirror",
            Kind::Limiter => "rate limiter",
            Kind::Registry => "registry",
            Kind::Directory => "directory",
        })
    }
}

/// How a request fared at an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Served: it started at `start` and was done at `done`.
    Served {
        /// When the object started on it.
        start: Micros,
        /// When it was done.
        done: Micros,
    },
    /// Refused: the queue was too long.
    Refused,
}

/// The service rules every object shares.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// Time one request takes.
    pub per_request: Micros,
    /// Longest wait before a request is refused.
    pub queue_limit: Micros,
}

/// One object's queue and load.
#[derive(Debug, Clone)]
pub struct Object {
    /// What it is for.
    pub kind: Kind,
    /// Where it lives.
    pub location: u32,
    busy_until: Micros,
    /// Requests that reached it while measuring.
    pub offered: u64,
    /// Of those, refused as overloaded.
    pub refused: u64,
}

impl Object {
    /// An idle object of `kind` at `location`.
    pub fn new(kind: Kind, location: u32) -> Self {
        Self {
            kind,
            location,
            busy_until: 0,
            offered: 0,
            refused: 0,
        }
    }

    /// A request reaches the object at `at`; `measured` says whether it counts.
    pub fn arrive(&mut self, at: Micros, service: Service, measured: bool) -> Admission {
        let start = self.busy_until.max(at);
        let admission = if start - at > service.queue_limit {
            Admission::Refused
        } else {
            self.busy_until = start + service.per_request;
            Admission::Served {
                start,
                done: self.busy_until,
            }
        };
        if measured {
            self.offered += 1;
            self.refused += u64::from(admission == Admission::Refused);
        }
        admission
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: Service = Service {
        per_request: 1_000,
        queue_limit: 5_000,
    };

    #[test]
    fn requests_queue_one_at_a_time_and_too_long_a_queue_refuses() {
        let mut object = Object::new(Kind::Log, 0);
        assert_eq!(
            object.arrive(100, SERVICE, true),
            Admission::Served {
                start: 100,
                done: 1_100
            }
        );
        // Six more at once: each waits for the ones before it; the seventh would wait 6 ms.
        let mut starts = vec![];
        for _ in 0..6 {
            match object.arrive(100, SERVICE, true) {
                Admission::Served { start, .. } => starts.push(start),
                Admission::Refused => starts.push(0),
            }
        }
        assert_eq!(starts, [1_100, 2_100, 3_100, 4_100, 5_100, 0]);
        assert_eq!((object.offered, object.refused), (7, 1));
        // Once the queue drained, a request is served at once; unmeasured ones are not counted.
        assert_eq!(
            object.arrive(50_000, SERVICE, false),
            Admission::Served {
                start: 50_000,
                done: 51_000
            }
        );
        assert_eq!(object.offered, 7);
    }

    #[test]
    fn at_twice_its_capacity_an_object_serves_its_capacity_and_refuses_the_rest() {
        let mut object = Object::new(Kind::Limiter, 0);
        // 2,000 requests a second for 10 s against 1,000 a second.
        let served = (0..20_000u64)
            .filter(|i| {
                matches!(
                    object.arrive(i * 500, SERVICE, true),
                    Admission::Served { .. }
                )
            })
            .count();
        assert!((10_000..=10_010).contains(&served), "{served}");
    }
}

//! The state one isolate keeps between requests, as pure types that take the time: what the
//! worker holds in a single `thread_local` and only drives. So the rules that make promises
//! across requests ("a refusal's reason can be looked up within two seconds", "a revoked key
//! is refused within a second, whatever KV answers") are tested natively, with a clock the
//! test moves.

mod activity;
mod cache;

pub use activity::{
    ActivityBuffer, DENIALS_PER_KEY, LOST_FLUSH_MS, MAX_DENIALS, MAX_KEYS, RATE_LIMITED_PER_KEY,
    SEND_AFTER_MS, USE_EVERY_MS, WOULD_DENY_PER_KEY,
};
pub use cache::{
    CACHE_TTL_MS, CAPACITY, COPY_MAX_AGE_MS, EdgeCache, EdgeUpdate, Held, Located, LocationWrite,
    MARKER_CAPACITY, MAX_PENDING_WRITES, REFRESH_AFTER_MS, location_path,
};

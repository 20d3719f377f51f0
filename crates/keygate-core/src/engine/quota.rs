//! The admin budgets of an account's `keys:manage` keys: which window of the account's limiter
//! a manager's command is counted in, before it reaches the Registry.
//!
//! The budgets are per account, not per key: a manager that mints `keys:manage` children (or
//! rolls itself) shares its budget with them, so delegation cannot multiply it. They are
//! sliding windows of 60 s in the account's `RateLimiter` object (the same rule as every rate
//! limit, [`crate::ratelimit::AccountWindows`]); the worker counts a command there before
//! calling the Registry, so a refused flood never reaches the Registry. The operator (and the
//! edge's own reports) are not budgeted.

use super::command::{Caller, Command};
use crate::ratelimit::{Count, WindowKind};
use serde::{Deserialize, Serialize};

/// Default of `MANAGER_WRITES_PER_MINUTE`: admin writes per account per minute.
pub const DEFAULT_MANAGER_WRITES_PER_MINUTE: u32 = 60;
/// Default of `MANAGER_READS_PER_MINUTE`: admin reads per account per minute (the console
/// makes a handful per screen).
pub const DEFAULT_MANAGER_READS_PER_MINUTE: u32 = 300;

/// An account's admin budgets, per minute, from the deployment's variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerBudgets {
    /// `MANAGER_WRITES_PER_MINUTE`.
    pub writes_per_minute: u32,
    /// `MANAGER_READS_PER_MINUTE`.
    pub reads_per_minute: u32,
}

impl Default for ManagerBudgets {
    fn default() -> Self {
        Self {
            writes_per_minute: DEFAULT_MANAGER_WRITES_PER_MINUTE,
            reads_per_minute: DEFAULT_MANAGER_READS_PER_MINUTE,
        }
    }
}

impl ManagerBudgets {
    /// The window `command` is counted in when `caller` sends it: a manager's write in its
    /// account's write budget, any other command of a manager in the read budget; nothing for
    /// the operator or the edge.
    pub fn count(&self, caller: &Caller, command: &Command) -> Option<Count> {
        match caller {
            Caller::Manager { .. } if command.is_write() => Some(Count::admin(
                WindowKind::AdminWrites,
                self.writes_per_minute,
            )),
            Caller::Manager { .. } => {
                Some(Count::admin(WindowKind::AdminReads, self.reads_per_minute))
            }
            Caller::Operator | Caller::Edge => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::PageParams;
    use crate::ratelimit::AccountWindows;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn manager(key_id: &str) -> Caller {
        Caller::Manager {
            key_id: key_id.into(),
        }
    }

    fn write() -> Command {
        Command::DeleteKey {
            key_id: "key_x".into(),
        }
    }

    fn read() -> Command {
        Command::ListKeys {
            account_id: "acct_1".into(),
            page: PageParams::default(),
        }
    }

    #[test]
    fn who_is_counted_where() {
        let budgets = ManagerBudgets {
            writes_per_minute: 3,
            reads_per_minute: 7,
        };
        let w = budgets.count(&manager("key_m"), &write()).unwrap();
        assert_eq!(
            (w.kind, w.window.as_str(), w.limit.requests),
            (WindowKind::AdminWrites, "admin:writes", 3)
        );
        assert_eq!(w.limit.period_seconds, 60);
        let r = budgets.count(&manager("key_m"), &read()).unwrap();
        assert_eq!(
            (r.kind, r.window.as_str(), r.limit.requests),
            (WindowKind::AdminReads, "admin:reads", 7)
        );
        assert_eq!(budgets.count(&Caller::Operator, &write()), None);
        assert_eq!(budgets.count(&Caller::Edge, &write()), None);
        assert_eq!(ManagerBudgets::default().writes_per_minute, 60);
    }

    /// The finding: a manager hit 429 after its writes, its `keys:manage` children went on.
    /// The budget is the account's: the window does not name the key.
    #[test]
    fn a_managers_children_share_its_write_budget() {
        let budgets = ManagerBudgets {
            writes_per_minute: 3,
            reads_per_minute: 100,
        };
        let mut windows = AccountWindows::default();
        let t = 1_700_000_000_000;
        let mut answers = Vec::new();
        for (i, key) in ["key_m", "key_m", "key_child1", "key_child2", "key_m"]
            .iter()
            .enumerate()
        {
            let count = budgets.count(&manager(key), &write()).unwrap();
            answers.push(windows.take(&[count], t + i as i64 * 1_000).unwrap());
        }
        let allowed: Vec<bool> = answers.iter().map(|d| d.allowed).collect();
        assert_eq!(allowed, [true, true, true, false, false]);
        let refusal = answers[3].refusal();
        assert_eq!((refusal.status, refusal.retry_after), (429, Some(57)));
        assert!(
            refusal.message.contains("MANAGER_WRITES_PER_MINUTE"),
            "{refusal:?}"
        );
        // Reads are a budget of their own.
        let count = budgets.count(&manager("key_child1"), &read()).unwrap();
        assert!(windows.take(&[count], t + 5_000).unwrap().allowed);
    }
}

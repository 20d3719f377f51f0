//! A first-come-first-served async lock for a Durable Object.
//!
//! A Durable Object runs one event at a time only until it awaits I/O; while an admin write
//! awaits its KV write-through, another request may start. Holding this lock from the SQL
//! change to the end of the write-through keeps KV writes in the order of the SQL changes,
//! so a slow older write can never overwrite a newer one.

use futures_channel::oneshot;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

#[derive(Default, Clone)]
pub struct WriteLock {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Inner {
    held: Cell<bool>,
    waiters: RefCell<VecDeque<oneshot::Sender<()>>>,
}

pub struct Guard {
    inner: Rc<Inner>,
}

impl WriteLock {
    pub async fn acquire(&self) -> Guard {
        if self.inner.held.replace(true) {
            let (tx, rx) = oneshot::channel();
            self.inner.waiters.borrow_mut().push_back(tx);
            // The sender is only dropped after handing over the lock, so either outcome means
            // the lock is now ours.
            let _ = rx.await;
        }
        Guard {
            inner: self.inner.clone(),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Hand the lock straight to the next live waiter; it stays held throughout.
        loop {
            let next = self.inner.waiters.borrow_mut().pop_front();
            match next {
                Some(waiter) => {
                    if waiter.send(()).is_ok() {
                        return;
                    }
                }
                None => {
                    self.inner.held.set(false);
                    return;
                }
            }
        }
    }
}

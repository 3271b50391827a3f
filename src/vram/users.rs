// SPDX-License-Identifier: GPL-2.0

//! The running users of one GPU (ioctls) and shutdown's wait for them.
//!
//! The count starts at one, the GPU's own, which shutdown gives up once it has closed the GPU to
//! new users; whoever then takes the count to zero completes [`Users::drained`], so shutdown
//! sleeps until the last user leaves instead of polling.

use core::sync::atomic::{
    AtomicBool,
    AtomicUsize,
    Ordering, //
};
use kernel::{
    prelude::*,
    sync::{
        Arc,
        Completion, //
    },
};

/// The users of one GPU. Shared with each [`UserCount`], so that it outlives the GPU object: a
/// user gives back its reference to the GPU before its count (see `ActiveVram`).
#[pin_data]
pub(super) struct Users {
    /// Running users, plus one for the GPU itself until [`Self::drain`].
    count: AtomicUsize,
    /// Completed when `count` reaches zero, which it can only after [`Self::drain`].
    #[pin]
    drained: Completion,
}

impl Users {
    pub(super) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                count: AtomicUsize::new(1),
                drained <- Completion::new(),
            }),
            GFP_KERNEL,
        )
    }

    /// Counts a user in, or `None` once `closed` is set. A user that sees `closed` clear was
    /// counted before it was set, so [`Self::drain`] (which runs after setting it) waits for it.
    pub(super) fn enter(self: &Arc<Self>, closed: &AtomicBool) -> Option<UserCount> {
        self.count.fetch_add(1, Ordering::SeqCst);
        let user = UserCount(self.clone());
        if closed.load(Ordering::SeqCst) {
            return None;
        }
        Some(user)
    }

    fn leave(&self) {
        if self.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.drained.complete_all();
        }
    }

    /// Gives up the GPU's own count and sleeps until every user has left. Call once, after
    /// closing the GPU to new users.
    pub(super) fn drain(&self) {
        self.leave();
        self.drained.wait_for_completion();
    }
}

/// One count in [`Users`], given back on drop.
pub(super) struct UserCount(Arc<Users>);

impl Drop for UserCount {
    fn drop(&mut self) {
        self.0.leave();
    }
}

#[cfg(CONFIG_PSEUDOSCOPIC_KUNIT_TEST)]
#[kunit_tests(pseudoscopic_users)]
mod tests {
    use super::*;

    fn count(users: &Users) -> usize {
        users.count.load(Ordering::SeqCst)
    }

    #[test]
    fn a_user_after_closing_is_refused() -> Result {
        let users = Users::new()?;
        let closed = AtomicBool::new(true);
        assert!(users.enter(&closed).is_none());
        // Only the GPU's own count is left.
        assert_eq!(count(&users), 1);
        Ok(())
    }

    #[test]
    fn the_last_user_out_ends_the_drain() -> Result {
        let users = Users::new()?;
        let closed = AtomicBool::new(false);
        let first = users.enter(&closed).ok_or(EBUSY)?;
        let second = users.enter(&closed).ok_or(EBUSY)?;
        closed.store(true, Ordering::SeqCst);
        // What the drain does first: the GPU gives up its own count while two users still run.
        users.leave();
        assert_eq!(count(&users), 2);
        drop(first);
        assert_eq!(count(&users), 1);
        drop(second);
        assert_eq!(count(&users), 0);
        // The last user completed it, so this returns at once (without that it would hang).
        users.drained.wait_for_completion();
        Ok(())
    }
}

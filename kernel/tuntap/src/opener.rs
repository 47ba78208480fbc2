//! What a tap and a tun share about their one opener (the reference's
//! `/dev/tapN` / `/dev/tunN` open file): whether it is open, whether its
//! reads block, and the waker of a reader that went to sleep.

use core::sync::atomic::{AtomicBool, Ordering};
use core::task::Waker;

use spin::Mutex;

use crate::Error;

#[derive(Debug, Default)]
pub(crate) struct Opener {
    open: AtomicBool,
    nonblocking: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Opener {
    /// Claims the port: [`Error::InUse`] (`EBUSY`) if it is open already.
    pub(crate) fn open(&self) -> Result<(), Error> {
        self.open
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(|_| Error::InUse)
    }

    /// Lets the port go: back to blocking mode, a sleeping reader's waker
    /// forgotten (the caller has woken it by bringing the port down).
    pub(crate) fn close(&self) {
        self.nonblocking.store(false, Ordering::Relaxed);
        self.waker.lock().take();
        self.open.store(false, Ordering::Release);
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    pub(crate) fn set_nonblocking(&self, on: bool) {
        self.nonblocking.store(on, Ordering::Relaxed);
    }

    pub(crate) fn is_nonblocking(&self) -> bool {
        self.nonblocking.load(Ordering::Relaxed)
    }

    /// Registers (or clears) the waker of a reader about to sleep.
    pub(crate) fn set_waker(&self, w: Option<Waker>) {
        *self.waker.lock() = w;
    }

    /// Wakes the sleeping reader, if any (at most once per registration).
    pub(crate) fn wake(&self) {
        if let Some(w) = self.waker.lock().take() {
            w.wake();
        }
    }
}

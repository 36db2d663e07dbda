//! Deadlines for hf-hub's calls.
//!
//! Why: hf-hub 0.5 builds its ureq agents itself and sets no timeouts, so a Hub, mirror or
//! proxy that takes a request and then goes silent would hang the process for good; in a chain
//! left running overnight that could be generation 7's listing request. So each call runs on a
//! thread of its own and reports signs of life (a download: every chunk it writes); the caller
//! gives up once nothing has happened for the allowed time, the Python client's
//! `HF_HUB_ETAG_TIMEOUT` and `HF_HUB_DOWNLOAD_TIMEOUT` (10 s by default).
//!
//! A call given up on is not retried: its thread stays blocked on the silent socket (holding
//! hf-hub's lock on the blob, for a download) until the server lets go or the process ends, so
//! a second try would only pile up blocked threads. The caller reports the stall as a network
//! failure, which the listing answers from the cache when it can, and the CLI exits on.

use hf_hub::api::Progress;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Signs of life of one watched call: when it last made progress.
#[derive(Clone)]
pub(super) struct Beat {
    start: Instant,
    /// Milliseconds after `start` of the last sign of life.
    last_ms: Arc<AtomicU64>,
}

impl Beat {
    fn new() -> Beat {
        Beat {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Records a sign of life now.
    pub fn now(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// How long ago the last sign of life was (or the start, if none).
    fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// Runs `call` on its own thread and returns what it returns, or `None` once it has shown no
/// sign of life (see [`Beat::now`]; the start counts as one) for `allowed`. A panic in `call`
/// is resumed here, as if it had run on this thread.
pub(super) fn watched<T: Send + 'static>(
    allowed: Duration,
    call: impl FnOnce(Beat) -> T + Send + 'static,
) -> Option<T> {
    let beat = Beat::new();
    let (tx, rx) = mpsc::channel();
    let b = beat.clone();
    let worker = std::thread::Builder::new()
        .name("hub-request".into())
        .spawn(move || {
            let _ = tx.send(call(b));
        })
        .expect("cannot start a thread for a Hub request");
    loop {
        let wait = allowed.saturating_sub(beat.quiet_for());
        if wait.is_zero() {
            return None;
        }
        match rx.recv_timeout(wait) {
            Ok(out) => return Some(out),
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(()) => unreachable!("the call ended without sending its result"),
            },
        }
    }
}

/// The error a stalled call becomes: an I/O time-out, which [`super::errors`] words as a
/// silent server and never retries.
pub(super) fn stalled(allowed: Duration) -> hf_hub::api::sync::ApiError {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("nothing received for {} s", allowed.as_secs_f64()),
    )
    .into()
}

/// A download's progress reporter that also records signs of life for [`watched`].
#[derive(Clone)]
pub(super) struct Heartbeat<P> {
    pub inner: P,
    pub beat: Beat,
}

impl<P: Progress> Progress for Heartbeat<P> {
    fn init(&mut self, size: usize, filename: &str) {
        self.beat.now();
        self.inner.init(size, filename);
    }

    fn update(&mut self, size: usize) {
        self.beat.now();
        self.inner.update(size);
    }

    fn finish(&mut self) {
        self.beat.now();
        self.inner.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quick_call_returns_its_value() {
        assert_eq!(watched(Duration::from_secs(5), |_| 7), Some(7));
    }

    #[test]
    fn a_silent_call_is_given_up_after_the_allowed_time() {
        let t = Instant::now();
        let out = watched(Duration::from_millis(200), |_| {
            std::thread::sleep(Duration::from_secs(3));
            1
        });
        assert_eq!(out, None);
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_secs(2),
            "{took:?}"
        );
    }

    #[test]
    fn signs_of_life_keep_a_slow_call_going() {
        // 1 s in all, but never 300 ms without progress.
        let out = watched(Duration::from_millis(300), |beat| {
            for _ in 0..10 {
                std::thread::sleep(Duration::from_millis(100));
                beat.now();
            }
            "done"
        });
        assert_eq!(out, Some("done"));
    }

    #[test]
    #[should_panic(expected = "inside the call")]
    fn a_panic_in_the_call_is_resumed() {
        watched(Duration::from_secs(5), |_| -> () {
            panic!("inside the call")
        });
    }
}

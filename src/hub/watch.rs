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
//! a second try would only pile up blocked threads. Should the server speak again, the call's
//! next sign of life unwinds its thread instead of going on, so an abandoned download never
//! finishes into the cache unchecked; it leaves its `.part` file for a rerun. The caller
//! reports the stall as a network failure, which the listing answers from the cache when it
//! can, and the CLI exits on.

use hf_hub::api::Progress;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Signs of life of one watched call: when it last made progress.
#[derive(Clone)]
pub(super) struct Beat {
    start: Instant,
    /// Milliseconds after `start` of the last sign of life.
    last_ms: Arc<AtomicU64>,
    /// Set when the caller has given up on the call.
    abandoned: Arc<AtomicBool>,
}

/// The payload that unwinds an abandoned call's thread (never shown: see [`Beat::now`]).
struct Abandoned;

impl Beat {
    fn new() -> Beat {
        Beat {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
            abandoned: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Records a sign of life now; in a call already given up on, ends its thread instead
    /// (`resume_unwind` runs no panic hook, so nothing is printed, and hf-hub's lock and
    /// files are released as the stack unwinds).
    pub fn now(&self) {
        if self.abandoned.load(Ordering::Relaxed) {
            std::panic::resume_unwind(Box::new(Abandoned));
        }
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
            // What arrived just at the deadline still counts.
            if let Ok(out) = rx.try_recv() {
                return Some(out);
            }
            beat.abandoned.store(true, Ordering::Relaxed);
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

/// A reader that records a sign of life at every read that brings bytes.
pub(super) struct BeatReader<R> {
    pub inner: R,
    pub beat: Beat,
}

impl<R: Read> Read for BeatReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.beat.now();
        }
        Ok(n)
    }
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
    fn an_abandoned_call_ends_at_its_next_sign_of_life() {
        let (tx, rx) = mpsc::channel();
        let out = watched(Duration::from_millis(100), move |beat| {
            std::thread::sleep(Duration::from_millis(300));
            let _ = tx.send("woke");
            beat.now(); // unwinds: the caller gave up 200 ms ago
            let _ = tx.send("went on");
        });
        assert_eq!(out, None);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok("woke"));
        // The thread ended at `now()`: the sender dropped without a second message.
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
    }

    #[test]
    fn reading_is_a_sign_of_life() {
        // 8 reads of 100 ms each, never 250 ms without bytes.
        let slow = (0..8).map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            1u8
        });
        struct Slow<I>(I);
        impl<I: Iterator<Item = u8>> Read for Slow<I> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                Ok(self.0.next().map(|b| buf[0] = b).map_or(0, |_| 1))
            }
        }
        let out = watched(Duration::from_millis(250), move |beat| {
            let mut bytes = Vec::new();
            BeatReader {
                inner: Slow(slow),
                beat,
            }
            .read_to_end(&mut bytes)
            .unwrap();
            bytes.len()
        });
        assert_eq!(out, Some(8));
    }

    #[test]
    #[should_panic(expected = "inside the call")]
    fn a_panic_in_the_call_is_resumed() {
        watched(Duration::from_secs(5), |_| -> () {
            panic!("inside the call")
        });
    }
}

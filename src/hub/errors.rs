//! hf-hub's failures as one line and a hint ([`crate::Error::Hub`]), and which are worth a retry.
//!
//! Why here and not in hf-hub's words: its errors say what failed inside the client
//! ("request error: http status: 404", "Too many retries: ..."), not what the user asked for
//! or what to do; a 404 must say "check the name, or set HF_TOKEN", a dropped network "check
//! HF_ENDPOINT, or go offline with a filled cache".

use super::{error, HubConfig, HubErrorKind};
use hf_hub::api::sync::ApiError;
use std::path::Path;

/// What a failure's message and hint name: the client's settings and the repository's cache.
pub(super) struct ErrorSite<'a> {
    pub cfg: &'a HubConfig,
    pub cache_dir: &'a Path,
}

impl ErrorSite<'_> {
    /// " after 3 retries", " after 1 retry", or nothing.
    fn tries(&self) -> String {
        match self.cfg.retries {
            0 => String::new(),
            1 => " after 1 retry".into(),
            n => format!(" after {n} retries"),
        }
    }

    /// One line and a hint for an hf-hub failure while getting `what`.
    pub(super) fn api_error(&self, what: &str, e: ApiError) -> crate::Error {
        let endpoint = &self.cfg.endpoint;
        let network_hint = "check your connection and HF_ENDPOINT, then rerun, which resumes \
                            downloads; or set HF_HUB_OFFLINE=1 to use files already in the cache";
        if let (true, ApiError::IoError(io)) = (silent(&e), &e) {
            return error(
                HubErrorKind::Network,
                format!("{what}: {endpoint} stopped answering ({io})"),
                format!(
                    "{network_hint}; on a slow link allow more seconds in HF_HUB_ETAG_TIMEOUT \
                     (requests) or HF_HUB_DOWNLOAD_TIMEOUT (transfers)"
                ),
            );
        }
        match status_of(&e) {
            Some(404) => error(
                HubErrorKind::NotFound,
                format!("{what}: repository or file not found on {endpoint}"),
                "check the name, or set HF_TOKEN for gated/private repos",
            ),
            Some(401) => error(
                HubErrorKind::NotFound,
                format!("{what}: repository not found on {endpoint}, or it needs a token"),
                "check the name, or set HF_TOKEN for gated/private repos",
            ),
            Some(403) => error(
                HubErrorKind::Unauthorized,
                format!("{what}: access refused by {endpoint} (gated or private repository)"),
                "accept the repository's terms on its Hub page, and set HF_TOKEN to a token of that account",
            ),
            Some(code) if code >= 500 || code == 429 => error(
                HubErrorKind::Network,
                format!("{what}: {endpoint} answered HTTP {code}{}", self.tries()),
                network_hint,
            ),
            Some(code) => error(
                HubErrorKind::Other,
                format!("{what}: {endpoint} answered HTTP {code}"),
                "check the name and revision, and HF_ENDPOINT",
            ),
            None => match &e {
                _ if untrusted_tls(&e) => error(
                    HubErrorKind::Network,
                    format!("{what}: cannot get it from {endpoint}: {}", root_cause(&e)),
                    "the server's TLS certificate is not signed by a public authority (a proxy that \
                     intercepts HTTPS?); use a mirror with a public certificate in HF_ENDPOINT, or fill \
                     the cache elsewhere and set HF_HUB_OFFLINE=1",
                ),
                ApiError::MissingHeader(_) | ApiError::InvalidHeader(_) | ApiError::ParseIntError(_) => error(
                    HubErrorKind::Other,
                    format!("{what}: {endpoint} does not answer like the Hugging Face Hub ({e})"),
                    "check HF_ENDPOINT",
                ),
                ApiError::LockAcquisition(p) => error(
                    HubErrorKind::Other,
                    format!("{what}: another process is downloading it (lock {})", p.display()),
                    "wait for it to finish and rerun",
                ),
                ApiError::InvalidResume => error(
                    HubErrorKind::Corrupt,
                    format!("{what}: a leftover partial download is larger than the file"),
                    format!("delete the *.part files under {}/blobs and rerun", self.cache_dir.display()),
                ),
                ApiError::RequestError(r) if matches!(**r, ureq::Error::Json(_)) => error(
                    HubErrorKind::Other,
                    format!("{what}: {endpoint} does not answer like the Hugging Face Hub ({e})"),
                    "check HF_ENDPOINT",
                ),
                _ => error(
                    HubErrorKind::Network,
                    // Whatever reached here was retried (by hf-hub or by `retry`).
                    format!(
                        "{what}: cannot get it from {endpoint}{}: {}",
                        self.tries(),
                        root_cause(&e)
                    ),
                    network_hint,
                ),
            },
        }
    }
}

/// The HTTP status of a failure, if the server answered.
fn status_of(e: &ApiError) -> Option<u16> {
    match e {
        ApiError::RequestError(r) => match **r {
            ureq::Error::StatusCode(c) => Some(c),
            _ => None,
        },
        ApiError::TooManyRetries(inner) => status_of(inner),
        _ => None,
    }
}

/// Worth trying again: the network, or the server saying "later"; not a server gone silent
/// (`watch.rs`: the abandoned call still holds its socket, and its blob's lock).
pub(super) fn transient(e: &ApiError) -> bool {
    match status_of(e) {
        Some(c) => c >= 500 || c == 429,
        // Not TooManyRetries: hf-hub already retried that transfer.
        None => {
            matches!(e, ApiError::RequestError(_) | ApiError::IoError(_))
                && !untrusted_tls(e)
                && !silent(e)
        }
    }
}

/// A call given up on by `watch.rs` for want of any answer.
fn silent(e: &ApiError) -> bool {
    matches!(e, ApiError::IoError(io) if io.kind() == std::io::ErrorKind::TimedOut)
}

/// A TLS certificate we do not trust: retrying cannot help. hf-hub's ureq trusts the public
/// (Mozilla) roots only, not the system store, so a proxy that intercepts HTTPS fails here.
fn untrusted_tls(e: &ApiError) -> bool {
    root_cause(e).contains("certificate")
}

/// The innermost message, without hf-hub's "Too many retries: request error: ..." wrapping.
fn root_cause(e: &ApiError) -> String {
    match e {
        ApiError::TooManyRetries(inner) => root_cause(inner),
        ApiError::RequestError(r) => r.to_string(),
        other => other.to_string(),
    }
}

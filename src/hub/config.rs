//! Where the Hub is, where its cache is, who we are, and whether to go online.
//!
//! Why our own resolution instead of hf-hub's `ApiBuilder::from_env`: that one reads only
//! `HF_HOME` and `HF_ENDPOINT`, so a user with `HF_HUB_CACHE` set (common on clusters, where
//! the cache lives on a shared disk) would download a second copy, and a token passed in
//! `HF_TOKEN` would be ignored. The rules below are the Python client's
//! (`huggingface_hub/constants.py` and `utils/_auth.py`), so both see the same cache and token.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The public Hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// How many times a failed transfer or request is tried again before we give up.
pub const DEFAULT_RETRIES: usize = 3;

/// The Python client's default for both of its time-outs, in seconds.
pub const DEFAULT_TIMEOUT_S: u64 = 10;

/// Everything the Hub client needs; [`HubConfig::from_env`] for users, literals in tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubConfig {
    /// Base URL, without a trailing `/` (`HF_ENDPOINT`, default `https://huggingface.co`).
    pub endpoint: String,
    /// The hub cache folder holding `models--*` and `datasets--*` folders.
    pub cache_dir: PathBuf,
    /// Bearer token for gated and private repositories.
    pub token: Option<String>,
    /// Read only the cache; never touch the network.
    pub offline: bool,
    /// Retries of a failed request or transfer (a dropped transfer resumes where it stopped).
    pub retries: usize,
    /// Draw download progress bars (still hidden when `--quiet` or stderr is not a terminal).
    pub progress: bool,
    /// How long a listing or metadata request may go unanswered (`HF_HUB_ETAG_TIMEOUT`).
    pub etag_timeout: Duration,
    /// How long a download may go without receiving a byte (`HF_HUB_DOWNLOAD_TIMEOUT`).
    pub download_timeout: Duration,
}

impl HubConfig {
    /// The configuration the Python client would use in this environment.
    pub fn from_env() -> HubConfig {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(std::env::home_dir);
        HubConfig::from_vars(|k| std::env::var(k).ok(), home.as_deref())
    }

    /// [`HubConfig::from_env`] over any variable lookup and home folder (for tests).
    ///
    /// - endpoint: `HF_ENDPOINT`, trailing `/` removed.
    /// - cache: `HF_HUB_CACHE`, else the legacy `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`,
    ///   where `HF_HOME` defaults to `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
    ///   A leading `~` is the home folder, as Python's `expanduser` does.
    /// - token: `HF_TOKEN`, else the legacy `HUGGING_FACE_HUB_TOKEN`, else the file
    ///   `HF_TOKEN_PATH` (default `$HF_HOME/token`, what `hf auth login` writes), trimmed.
    /// - offline: `HF_HUB_OFFLINE` or `TRANSFORMERS_OFFLINE` is `1`, `ON`, `YES` or `TRUE`.
    /// - time-outs: `HF_HUB_ETAG_TIMEOUT` and `HF_HUB_DOWNLOAD_TIMEOUT`, seconds (10 each); a
    ///   value that is not a positive number is ignored with a warning.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>, home: Option<&Path>) -> HubConfig {
        let var = |k: &str| var(k).filter(|v| !v.is_empty());
        let home = home.map(Path::to_path_buf).unwrap_or_default();
        let expand = |p: String| -> PathBuf {
            match p.strip_prefix('~') {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                    home.join(rest.trim_start_matches('/'))
                }
                _ => PathBuf::from(p),
            }
        };
        let hf_home = match var("HF_HOME") {
            Some(h) => expand(h),
            None => var("XDG_CACHE_HOME")
                .map(expand)
                .unwrap_or_else(|| home.join(".cache"))
                .join("huggingface"),
        };
        let cache_dir = var("HF_HUB_CACHE")
            .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
            .map(expand)
            .unwrap_or_else(|| hf_home.join("hub"));
        let token_path = var("HF_TOKEN_PATH")
            .map(expand)
            .unwrap_or_else(|| hf_home.join("token"));
        let token = var("HF_TOKEN")
            .or_else(|| var("HUGGING_FACE_HUB_TOKEN"))
            .or_else(|| std::fs::read_to_string(&token_path).ok())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        let truthy = |k: &str| {
            var(k).is_some_and(|v| matches!(v.to_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE"))
        };
        let seconds = |k: &str| -> Duration {
            let default = Duration::from_secs(DEFAULT_TIMEOUT_S);
            let Some(v) = var(k) else { return default };
            match v.trim().parse::<f64>().map(Duration::try_from_secs_f64) {
                // At least 1 ms: a zero limit would give up before the request is sent.
                Ok(Ok(d)) if !d.is_zero() => d.max(Duration::from_millis(1)),
                _ => {
                    tracing::warn!("{k}={v} is not a number of seconds; using {DEFAULT_TIMEOUT_S}");
                    default
                }
            }
        };
        HubConfig {
            endpoint: var("HF_ENDPOINT")
                .map(|e| e.trim_end_matches('/').to_string())
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
            cache_dir,
            token,
            offline: truthy("HF_HUB_OFFLINE") || truthy("TRANSFORMERS_OFFLINE"),
            retries: DEFAULT_RETRIES,
            progress: true,
            etag_timeout: seconds("HF_HUB_ETAG_TIMEOUT"),
            download_timeout: seconds("HF_HUB_DOWNLOAD_TIMEOUT"),
        }
    }

    /// A configuration for `endpoint` and `cache_dir`, online, no token, no progress bars.
    pub fn new(endpoint: impl Into<String>, cache_dir: impl Into<PathBuf>) -> HubConfig {
        HubConfig {
            endpoint: endpoint.into().trim_end_matches('/').to_string(),
            cache_dir: cache_dir.into(),
            token: None,
            offline: false,
            retries: DEFAULT_RETRIES,
            progress: false,
            etag_timeout: Duration::from_secs(DEFAULT_TIMEOUT_S),
            download_timeout: Duration::from_secs(DEFAULT_TIMEOUT_S),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)], home: &str) -> HubConfig {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HubConfig::from_vars(|k| m.get(k).cloned(), Some(Path::new(home)))
    }

    #[test]
    fn defaults_match_the_python_client() {
        let c = cfg(&[], "/home/u");
        assert_eq!(c.endpoint, "https://huggingface.co");
        assert_eq!(c.cache_dir, PathBuf::from("/home/u/.cache/huggingface/hub"));
        assert_eq!((c.token, c.offline), (None, false));
        let c = cfg(&[("XDG_CACHE_HOME", "/x")], "/home/u");
        assert_eq!(c.cache_dir, PathBuf::from("/x/huggingface/hub"));
    }

    #[test]
    fn timeouts_in_seconds_default_to_pythons() {
        let c = cfg(&[], "/h");
        assert_eq!(c.etag_timeout, Duration::from_secs(10));
        assert_eq!(c.download_timeout, Duration::from_secs(10));
        let c = cfg(
            &[
                ("HF_HUB_ETAG_TIMEOUT", "30"),
                ("HF_HUB_DOWNLOAD_TIMEOUT", "2.5"),
            ],
            "/h",
        );
        assert_eq!(c.etag_timeout, Duration::from_secs(30));
        assert_eq!(c.download_timeout, Duration::from_millis(2500));
        let c = cfg(&[("HF_HUB_ETAG_TIMEOUT", "1e-5")], "/h");
        assert_eq!(c.etag_timeout, Duration::from_millis(1));
        for bad in ["0", "1e-10", "-1", "ten", "inf", "1e20", "NaN"] {
            let c = cfg(&[("HF_HUB_DOWNLOAD_TIMEOUT", bad)], "/h");
            assert_eq!(c.download_timeout, Duration::from_secs(10), "{bad}");
        }
    }

    #[test]
    fn cache_precedence_and_tilde() {
        let c = cfg(&[("HF_HOME", "~/hf")], "/home/u");
        assert_eq!(c.cache_dir, PathBuf::from("/home/u/hf/hub"));
        let c = cfg(
            &[("HF_HOME", "/h"), ("HUGGINGFACE_HUB_CACHE", "/legacy")],
            "/home/u",
        );
        assert_eq!(c.cache_dir, PathBuf::from("/legacy"));
        let both = [
            ("HF_HOME", "/h"),
            ("HUGGINGFACE_HUB_CACHE", "/legacy"),
            ("HF_HUB_CACHE", "/c"),
        ];
        assert_eq!(cfg(&both, "/home/u").cache_dir, PathBuf::from("/c"));
        // An empty variable counts as unset, as `os.getenv(...) or default` would not, but as
        // users mean it (`HF_HUB_CACHE= cmd`).
        let c = cfg(&[("HF_HUB_CACHE", ""), ("HF_HOME", "/h")], "/home/u");
        assert_eq!(c.cache_dir, PathBuf::from("/h/hub"));
    }

    #[test]
    fn endpoint_offline_and_token() {
        let c = cfg(
            &[
                ("HF_ENDPOINT", "http://127.0.0.1:9/"),
                ("HF_HUB_OFFLINE", "yes"),
            ],
            "/h",
        );
        assert_eq!(c.endpoint, "http://127.0.0.1:9");
        assert!(c.offline);
        assert!(cfg(&[("TRANSFORMERS_OFFLINE", "1")], "/h").offline);
        assert!(!cfg(&[("HF_HUB_OFFLINE", "0")], "/h").offline);

        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_str().unwrap();
        std::fs::write(dir.path().join("token"), "hf_file\n").unwrap();
        let c = cfg(&[("HF_HOME", home)], "/h");
        assert_eq!(c.token.as_deref(), Some("hf_file"));
        let c = cfg(
            &[("HF_HOME", home), ("HUGGING_FACE_HUB_TOKEN", "hf_old")],
            "/h",
        );
        assert_eq!(c.token.as_deref(), Some("hf_old"));
        let c = cfg(
            &[
                ("HF_HOME", home),
                ("HF_TOKEN", "hf_env"),
                ("HUGGING_FACE_HUB_TOKEN", "x"),
            ],
            "/h",
        );
        assert_eq!(c.token.as_deref(), Some("hf_env"));
        std::fs::write(dir.path().join("other"), "hf_path").unwrap();
        let other = dir.path().join("other");
        let c = cfg(
            &[
                ("HF_HOME", home),
                ("HF_TOKEN_PATH", other.to_str().unwrap()),
            ],
            "/h",
        );
        assert_eq!(c.token.as_deref(), Some("hf_path"));
    }
}

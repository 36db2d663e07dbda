//! A fake Hugging Face Hub on 127.0.0.1, enough for hf-hub 0.5's blocking client and the
//! Python client's HEAD requests: repository info at a revision, and file downloads with the
//! headers the client reads (ETag, X-Repo-Commit, Content-Range) and byte ranges (hf-hub
//! probes a file with `Range: bytes=0-0` and resumes with `Range: bytes=N-`).
//!
//! Every request is logged, so tests can count downloads; a file can be set to drop its
//! connection halfway once (a flaky network) or to be served with other bytes than its ETag
//! says (a damaged transfer); the listing can be cut halfway or trickled in pieces (a slow
//! link), and the listing or a transfer can go silent with the connection left open (a stalled
//! server). One thread per connection, `Connection: close` on every answer.

mod repos;
pub use repos::*;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// Percent-decoded path.
    pub path: String,
    pub range: Option<String>,
}

#[derive(Clone)]
struct File {
    bytes: Vec<u8>,
    etag: String,
}

struct Repo {
    commit: String,
    files: BTreeMap<String, File>,
}

#[derive(Default)]
struct State {
    /// Keyed by `models/<id>` or `datasets/<id>`.
    repos: HashMap<String, Repo>,
    log: Vec<Request>,
    /// Files (repository paths) whose next full download is cut halfway.
    drop_once: HashSet<String>,
    /// Files whose every body transfer is cut halfway.
    drop_always: HashSet<String>,
    /// Files served with one byte flipped.
    corrupt: HashSet<String>,
    /// Repository-info requests go unanswered (the connection held open, silent).
    silent_listing: bool,
    /// Repository-info answers cut off halfway (the connection closed mid-answer).
    cut_listing: bool,
    /// Repository-info answers sent in 12 pieces with this pause between them (a slow link).
    trickle_listing: Option<std::time::Duration>,
    /// Files whose body transfers send half and then go silent, the connection held open.
    silent_body: HashSet<String>,
}

/// How long a silent answer holds its connection before hanging up: far longer than any
/// client time-out a test sets.
const SILENCE: std::time::Duration = std::time::Duration::from_secs(60);

pub struct FakeHub {
    pub url: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

/// A 40-hex commit id made from a label.
pub fn commit(label: &str) -> String {
    sha256_hex(label.as_bytes())[..40].to_string()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    collapse_lab::fsutil::sha256_hex(bytes)
}

impl FakeHub {
    pub fn start() -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    let s = s.clone();
                    std::thread::spawn(move || serve(conn, &s));
                }
            }
        });
        FakeHub {
            url: format!("http://{addr}"),
            state,
            stop,
            addr,
        }
    }

    /// Adds (or replaces) a repository: `kind` is `models` or `datasets`. Weights and data
    /// files get their sha256 as ETag, as LFS files do on the Hub; small text files a
    /// 40-hex id, as git blobs do.
    pub fn add(&self, kind: &str, id: &str, commit: &str, files: &[(&str, Vec<u8>)]) {
        let files = files
            .iter()
            .map(|(name, bytes)| {
                let lfs = [".bin", ".safetensors", ".parquet"]
                    .iter()
                    .any(|e| name.ends_with(e));
                let sha = sha256_hex(bytes);
                let etag = if lfs { sha } else { sha[..40].to_string() };
                (
                    name.to_string(),
                    File {
                        bytes: bytes.clone(),
                        etag,
                    },
                )
            })
            .collect();
        let repo = Repo {
            commit: commit.to_string(),
            files,
        };
        self.state
            .lock()
            .unwrap()
            .repos
            .insert(format!("{kind}/{id}"), repo);
    }

    pub fn drop_once(&self, file: &str) {
        self.state
            .lock()
            .unwrap()
            .drop_once
            .insert(file.to_string());
    }

    pub fn drop_always(&self, file: &str) {
        self.state
            .lock()
            .unwrap()
            .drop_always
            .insert(file.to_string());
    }

    /// Repository-info requests get no answer at all (a Hub or proxy gone silent).
    pub fn silent_listing(&self) {
        self.state.lock().unwrap().silent_listing = true;
    }

    /// Repository-info answers stop halfway, and the connection is closed.
    pub fn cut_listing(&self) {
        self.state.lock().unwrap().cut_listing = true;
    }

    /// Repository-info answers arrive in 12 pieces, `pause` apart.
    pub fn trickle_listing(&self, pause: std::time::Duration) {
        self.state.lock().unwrap().trickle_listing = Some(pause);
    }

    /// Body transfers of `file` stop halfway with the connection left open.
    pub fn silent_body(&self, file: &str) {
        self.state
            .lock()
            .unwrap()
            .silent_body
            .insert(file.to_string());
    }

    pub fn corrupt(&self, file: &str) {
        self.state.lock().unwrap().corrupt.insert(file.to_string());
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().log.clone()
    }

    /// GETs of a file's body (not the `bytes=0-0` probe) whose path ends with `file`.
    pub fn body_gets(&self, file: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with(&format!("/{file}")))
            .filter(|r| r.path.contains("/resolve/") && r.range.as_deref() != Some("bytes=0-0"))
            .count()
    }

    pub fn clear_log(&self) {
        self.state.lock().unwrap().log.clear();
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn serve(mut conn: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let raw_path = parts.next().unwrap_or("").to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    let path = percent_decode(raw_path.split('?').next().unwrap_or(""));
    let mut st = state.lock().unwrap();
    st.log.push(Request {
        method: method.clone(),
        path: path.clone(),
        range: range.clone(),
    });

    // /api/{models,datasets}/<owner>/<name>/revision/<rev>
    if let Some(rest) = path.strip_prefix("/api/") {
        if st.silent_listing {
            drop(st);
            std::thread::sleep(SILENCE);
            return;
        }
        let p: Vec<&str> = rest.splitn(5, '/').collect();
        if p.len() == 5 && p[3] == "revision" {
            let key = format!("{}/{}/{}", p[0], p[1], p[2]);
            if let Some(repo) = st
                .repos
                .get(&key)
                .filter(|r| p[4] == "main" || p[4] == r.commit)
            {
                let siblings: Vec<String> = repo
                    .files
                    .keys()
                    .map(|f| format!("{{\"rfilename\":\"{f}\"}}"))
                    .collect();
                let body = format!(
                    "{{\"id\":\"{}/{}\",\"sha\":\"{}\",\"siblings\":[{}]}}",
                    p[1],
                    p[2],
                    repo.commit,
                    siblings.join(",")
                );
                let (trickle, cut) = (st.trickle_listing, st.cut_listing);
                drop(st);
                let headers = [("Content-Type", "application/json".to_string())];
                match trickle {
                    None if cut => {
                        write_head(&mut conn, "200 OK", &headers, body.len());
                        let _ = conn.write_all(&body.as_bytes()[..body.len() / 2]);
                        let _ = conn.shutdown(Shutdown::Both);
                    }
                    None => respond(&mut conn, "200 OK", &headers, body.as_bytes()),
                    Some(pause) => {
                        write_head(&mut conn, "200 OK", &headers, body.len());
                        for piece in body.as_bytes().chunks(body.len().div_ceil(12)) {
                            std::thread::sleep(pause);
                            let _ = conn.write_all(piece);
                            let _ = conn.flush();
                        }
                    }
                }
                return;
            }
        }
        drop(st);
        return not_found(&mut conn);
    }

    // /<owner>/<name>/resolve/<rev>/<file> or /datasets/<owner>/<name>/resolve/<rev>/<file>
    let (kind, rest) = match path.strip_prefix("/datasets/") {
        Some(r) => ("datasets", r),
        None => ("models", path.trim_start_matches('/')),
    };
    let p: Vec<&str> = rest.splitn(5, '/').collect();
    let found = (p.len() == 5 && p[2] == "resolve")
        .then(|| st.repos.get(&format!("{kind}/{}/{}", p[0], p[1])))
        .flatten()
        .filter(|r| p[3] == "main" || p[3] == r.commit)
        .and_then(|r| r.files.get(p[4]).map(|f| (r.commit.clone(), f.clone())));
    let Some((commit, file)) = found else {
        drop(st);
        return not_found(&mut conn);
    };
    let name = p[4].to_string();
    let mut bytes = file.bytes.clone();
    if st.corrupt.contains(&name) && !bytes.is_empty() {
        bytes[0] ^= 0xff;
    }
    let total = bytes.len();
    let (start, end) = match range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
        Some(r) => {
            let (a, b) = r.split_once('-').unwrap_or((r, ""));
            let a: usize = a.parse().unwrap_or(0);
            let b: usize = b.parse().map(|b: usize| b + 1).unwrap_or(total).min(total);
            (a.min(total), b.max(a.min(total)))
        }
        None => (0, total),
    };
    let body_get = method == "GET" && end - start > 1;
    let cut = body_get
        && ((start == 0 && end == total && st.drop_once.remove(&name))
            || st.drop_always.contains(&name));
    let silent = body_get && st.silent_body.contains(&name);
    drop(st);
    let mut headers = vec![
        ("ETag", format!("\"{}\"", file.etag)),
        ("X-Repo-Commit", commit),
        ("Accept-Ranges", "bytes".into()),
        ("Content-Type", "application/octet-stream".into()),
    ];
    let status = if range.is_some() {
        headers.push((
            "Content-Range",
            format!("bytes {start}-{}/{total}", end.saturating_sub(1)),
        ));
        "206 Partial Content"
    } else {
        "200 OK"
    };
    let body = &bytes[start..end];
    if method == "HEAD" {
        write_head(&mut conn, status, &headers, body.len());
    } else if silent {
        write_head(&mut conn, status, &headers, body.len());
        let _ = conn.write_all(&body[..body.len() / 2]);
        let _ = conn.flush();
        std::thread::sleep(SILENCE);
    } else if cut {
        // Announces the whole body, sends half, and hangs up.
        write_head(&mut conn, status, &headers, body.len());
        let _ = conn.write_all(&body[..body.len() / 2]);
        let _ = conn.flush();
        let _ = conn.shutdown(Shutdown::Both);
    } else {
        respond(&mut conn, status, &headers, body);
    }
}

fn write_head(conn: &mut TcpStream, status: &str, headers: &[(&str, String)], len: usize) {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {len}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = conn.write_all(head.as_bytes());
}

fn respond(conn: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    write_head(conn, status, headers, body.len());
    let _ = conn.write_all(body);
    let _ = conn.flush();
}

fn not_found(conn: &mut TcpStream) {
    let body = br#"{"error":"Repository Not Found"}"#;
    respond(
        conn,
        "404 Not Found",
        &[("X-Error-Code", "RepoNotFound".into())],
        body,
    );
}

//! Memory estimates checked before a run allocates: a size that cannot fit ends in one line
//! with a hint, not in an allocator abort with a backtrace.

use crate::error::{Error, Result};

/// The memory the kernel reports as available to a new allocation (`MemAvailable`), if known.
pub fn available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Refuses `what` when its estimated `bytes` exceed the available memory (where known).
pub fn check(what: &str, bytes: f64, hint: &str) -> Result<()> {
    match available_bytes() {
        Some(avail) if bytes > avail as f64 => Err(Error::invalid(
            format!(
                "{what} needs about {} of memory, {} is available",
                gib(bytes),
                gib(avail as f64)
            ),
            hint,
        )),
        _ => Ok(()),
    }
}

fn gib(bytes: f64) -> String {
    format!("{:.1} GiB", bytes / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_impossible_size_is_refused_and_a_small_one_passes() {
        if available_bytes().is_none() {
            return; // not Linux: nothing to check against
        }
        let e = check("x", 1e18, "make it smaller").unwrap_err().to_string();
        assert!(
            e.starts_with("x needs about 931322574.6 GiB of memory"),
            "{e}"
        );
        assert!(check("x", 1e3, "").is_ok());
    }
}

//! The run report: what was run, on what, how long each stage took and how good the result is.

/// Peak resident set size of this process so far, in bytes (Linux `VmHWM`); `None` where the
/// platform does not tell.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn peak_rss_is_known_on_linux() {
        let rss = super::peak_rss_bytes().expect("VmHWM on Linux");
        assert!(rss > 1 << 20, "a test process uses more than 1 MiB: {rss}");
    }
}

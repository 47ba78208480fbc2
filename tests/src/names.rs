//! Per-test names for images and logs.
//!
//! libtest runs each test on a thread named after it, so the thread name
//! plus the test binary's name identifies the test; a counter keeps two
//! VMs of one test apart.

use std::collections::HashMap;
use std::sync::Mutex;

/// Letters, digits, `-`, `_` and `.`; everything else becomes `_`.
pub fn sanitize(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "vm".into()
    } else {
        s
    }
}

/// The test binary's name without cargo's hash (`shell-0123abcd` -> `shell`).
fn binary_name() -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe
        .as_deref()
        .and_then(|p| p.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            name.to_string()
        }
        _ => stem,
    }
}

/// `<binary>.<test>` (or `<binary>.<requested>`), unique in this process.
pub fn unique(requested: Option<&str>) -> String {
    let base = match requested {
        Some(name) => name.to_string(),
        None => {
            let thread = std::thread::current();
            let test = thread.name().unwrap_or("main").replace("::", ".");
            format!("{}.{}", binary_name(), test)
        }
    };
    let base = sanitize(&base);
    static SEEN: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let count = seen
        .get_or_insert_with(HashMap::new)
        .entry(base.clone())
        .or_insert(0);
    *count += 1;
    if *count == 1 {
        base
    } else {
        format!("{base}-{count}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_and_unique() {
        assert_eq!(sanitize("a b/c::d"), "a_b_c__d");
        assert_eq!(sanitize(""), "vm");
        let a = unique(Some("same"));
        let b = unique(Some("same"));
        assert_eq!(a, "same");
        assert_eq!(b, "same-2");
        assert!(unique(None).contains("names_are_safe_and_unique"));
    }
}

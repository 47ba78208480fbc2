//! Tests that cannot run here say so, and are counted as skipped.
//!
//! libtest has no "skipped" outcome for a test that finds at run time that
//! it lacks root or a tool: it returns early and counts as passed. So such
//! a test calls [`skip`] first: the reason goes to stderr, and, under
//! `cargo xtask test`, a line into the file named by [`SKIPS_ENV`], which
//! xtask reads to count the test as skipped (not passed) and to print the
//! reason in its summary.

use std::io::Write;

/// The environment variable naming the file skips are appended to.
pub const SKIPS_ENV: &str = "NETMAP_TEST_SKIPS";

/// Record that `test` did not run, and why (one line). The caller returns
/// right after.
pub fn skip(test: &str, reason: &str) {
    let reason = reason.replace(['\n', '\t'], " ");
    eprintln!("skipped: {test}: {reason}");
    if let Some(path) = std::env::var_os(SKIPS_ENV) {
        // One short append per line: whole lines even from parallel tests.
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(format!("{test}\t{reason}\n").as_bytes());
        }
    }
}

/// The path of `tool` on `PATH`, if it is there and executable.
pub fn find_tool(tool: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(tool))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Parse the skips file: `(test, reason)` per line.
pub fn parse(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(t, r)| (t.to_string(), r.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn skips_round_trip_through_the_file() {
        let path = std::env::temp_dir().join(format!("nm-skips-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        // SAFETY-free: set_var is unsafe only with other threads reading the
        // environment; this test passes the path explicitly instead.
        let write = |t: &str, r: &str| {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap();
            f.write_all(format!("{t}\t{}\n", r.replace(['\n', '\t'], " ")).as_bytes())
                .unwrap();
        };
        write("a", "no root");
        write("b", "no dpdk-testpmd\ton PATH");
        let got = super::parse(&std::fs::read_to_string(&path).unwrap());
        assert_eq!(
            got,
            vec![
                ("a".into(), "no root".into()),
                ("b".into(), "no dpdk-testpmd on PATH".into())
            ]
        );
        let _ = std::fs::remove_file(&path);
        assert!(super::find_tool("sh").is_some());
        assert!(super::find_tool("no-such-tool-here").is_none());
    }
}

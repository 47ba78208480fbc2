//! `GET /` is a live dashboard: a real browser engine (headless Chromium)
//! loads it from the kernel through QEMU's user networking (booted as
//! `cargo xtask run` does by default: `vale-ctl -h vale0:virtio0; dhcp
//! host0`, hostfwd to port 80), runs its script, which polls `/stats`, and
//! dumps the DOM. The DOM shows the NIC, host0, the switch with its ports
//! and MAC table, the rings, rates and a chart; after traffic, a second
//! dump shows the counters moved.
//!
//! Without `chromium` on PATH the test is a reported skip (`cargo xtask
//! test` installs it as root: xtask/src/setup.rs).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use integration::process::run_with_timeout;
use integration::skip::{find_tool, skip};
use integration::timeouts::{scaled, COMMAND, EXIT};
use integration::{lab, KernelExit, Vm};
use regex_lite::Regex;

/// `GET path`'s body, retried while the forward is not up yet.
fn get(port: u16, path: &str) -> String {
    let deadline = Instant::now() + scaled(Duration::from_secs(10));
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(scaled(Duration::from_secs(10))))?;
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        })();
        match attempt {
            Ok(r) if r.starts_with("HTTP/1.1 200 ") => {
                return r.split_once("\r\n\r\n").unwrap().1.to_string()
            }
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            other => panic!("GET {path} through 127.0.0.1:{port}: {other:?}"),
        }
    }
}

/// The page after its script ran for 4 s of (virtual) time, as Chromium
/// serialises the DOM. Virtual time stands still while a fetch is pending,
/// so each poll of /stats completes however slow the guest is.
fn dump_dom(browser: &Path, profile: &Path, port: u16) -> String {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--virtual-time-budget=4000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .arg("--dump-dom")
    .arg(format!("http://127.0.0.1:{port}/"));
    let out = run_with_timeout(cmd, scaled(Duration::from_secs(120))).unwrap();
    assert!(
        out.status.success(),
        "chromium: {}\n{}",
        out.status,
        out.stderr
    );
    out.stdout
}

/// The number the page shows in the cell `data-v="key"`.
fn shown(dom: &str, key: &str) -> f64 {
    let re = Regex::new(&format!(
        r#"data-v="{}">([0-9.]+)( [kMGT]?pps)?<"#,
        regex_lite::escape(key)
    ))
    .unwrap();
    re.captures(dom)
        .unwrap_or_else(|| panic!("no number for {key} in the page:\n{dom}"))[1]
        .parse()
        .unwrap()
}

fn chromium() -> Option<PathBuf> {
    find_tool("chromium").or_else(|| find_tool("chromium-browser"))
}

#[test]
fn live_page_in_a_browser_shows_nics_switch_rings_and_moving_counters() {
    let Some(browser) = chromium() else {
        skip(
            "dashboard::live_page_in_a_browser_shows_nics_switch_rings_and_moving_counters",
            "no chromium on PATH (apt-get install chromium)",
        );
        return;
    };
    let port = lab::free_port();
    let mut vm = Vm::boot_to_prompt(lab::xtask_run_defaults(port)).unwrap();
    assert!(
        vm.output().contains("host0: inet 10.0.2.15/24"),
        "{}",
        vm.output()
    );
    // The page is static and self-contained: no other origin, no assets.
    let page = get(port, "/");
    assert!(page.contains("fetch(\"/stats\""), "{page}");
    assert!(!page.contains("://"), "an external URL in the page: {page}");
    assert!(page.len() < 16 * 1024, "page of {} bytes", page.len());
    let json = get(port, "/stats");
    assert!(json.contains(r#""rings":{"rx":{"slots":"#), "{json}");

    let profile = std::env::temp_dir().join(format!("nm-dashboard-{}", std::process::id()));
    let dom = dump_dom(&browser, &profile, port);
    assert!(dom.contains("class=\"ok\">live "), "not live:\n{dom}");
    assert!(
        dom.contains("host0 02:6e:6d:00:00:01 10.0.2.15/24 gw 10.0.2.2"),
        "{dom}"
    );
    assert!(dom.contains("<h2>vale0 (learning)</h2>"), "{dom}");
    for key in ["virtio0", "vale0:virtio0", "vale0:host0"] {
        assert!(
            shown(&dom, &format!("{key}/rx/packets")) > 0.0,
            "{key}: {dom}"
        );
        // Rates need two polls: there were several, and the page's own
        // fetches are traffic.
        assert!(shown(&dom, &format!("{key}/tx/pps")) > 0.0, "{key}: {dom}");
    }
    // The MAC table learned host0 on its port.
    assert!(
        Regex::new(r#"02:6e:6d:00:00:01</td><td>vale0:host0<"#)
            .unwrap()
            .is_match(&dom),
        "{dom}"
    );
    // Ring state: the rx virtqueue holds buffers for the device.
    for dir in ["rx", "tx"] {
        let slots = shown(&dom, &format!("virtio0/{dir}/slots"));
        let in_flight = shown(&dom, &format!("virtio0/{dir}/in_flight"));
        assert!(slots > 0.0 && in_flight <= slots, "{dir}: {dom}");
        shown(&dom, &format!("virtio0/{dir}/hwtail"));
        shown(&dom, &format!("virtio0/{dir}/avail"));
    }
    assert!(shown(&dom, "virtio0/rx/in_flight") > 0.0, "{dom}");
    // The chart has lines once there are two rates.
    assert!(dom.contains("<polyline"), "no chart lines:\n{dom}");

    // Traffic: pings out of the NIC and a burst of GETs.
    let before = shown(&dom, "virtio0/tx/packets");
    let host_before = shown(&dom, "vale0:host0/rx/packets");
    let _ = vm
        .command("ping 10.0.2.2 5", COMMAND + Duration::from_secs(8))
        .unwrap();
    for _ in 0..20 {
        get(port, "/stats");
    }
    let dom = dump_dom(&browser, &profile, port);
    let after = shown(&dom, "virtio0/tx/packets");
    let host_after = shown(&dom, "vale0:host0/rx/packets");
    assert!(after >= before + 25.0, "virtio0 tx {before} -> {after}");
    assert!(
        host_after >= host_before + 20.0,
        "host0 rx {host_before} -> {host_after}"
    );
    let _ = std::fs::remove_dir_all(&profile);

    vm.send_line("shutdown 0").unwrap();
    assert_eq!(vm.wait_exit(EXIT).unwrap(), KernelExit::Code(0));
}

//! The `hearsay` binary as an operator uses it: checks that exit non-zero
//! with one line naming file and line, and a server that answers, reloads
//! on SIGHUP and exits cleanly on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::rr::RecordType;

const BIN: &str = env!("CARGO_BIN_EXE_hearsay");
const ZONE: &str = "$ORIGIN example.test.\n$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.1\n";

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run hearsay");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_zone_reports_a_typo_in_one_line_with_its_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.zone", ZONE);
    let (ok, stdout, _) = run(&["check-zone", "example.test", good.to_str().unwrap()]);
    assert!(ok);
    assert!(stdout.contains("serial 1"), "{stdout}");

    let bad = write(dir.path(), "bad.zone", &ZONE.replace("www A", "www AAA"));
    let (ok, _, stderr) = run(&["check-zone", "example.test", bad.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("bad.zone:6:"), "{stderr}");
}

#[test]
fn check_config_names_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "z.zone", ZONE);
    let good = write(
        dir.path(),
        "good.toml",
        "[[zone]]\norigin = \"example.test\"\nfile = \"z.zone\"\n",
    );
    let (ok, stdout, stderr) = run(&["check-config", good.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("1 zone"), "{stdout}");

    let bad = write(
        dir.path(),
        "bad.toml",
        "[server]\nthreads = 2\nlisten = [\"127.0.0.1\"]\n",
    );
    let (ok, _, stderr) = run(&["check-config", bad.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("bad.toml:3: server.listen[0]"), "{stderr}");

    let missing_zone = write(
        dir.path(),
        "missing.toml",
        "[[zone]]\norigin = \"example.test\"\nfile = \"nothere.zone\"\n",
    );
    let (ok, _, stderr) = run(&["check-config", missing_zone.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("nothere.zone"), "{stderr}");
}

#[test]
fn version_and_help() {
    let (ok, stdout, _) = run(&["--version"]);
    assert!(ok);
    assert!(stdout.starts_with("hearsay "), "{stdout}");
    let (ok, stdout, _) = run(&["--help"]);
    assert!(ok);
    for command in ["serve", "check-config", "check-zone"] {
        assert!(stdout.contains(command), "{stdout}");
    }
}

/// A `hearsay serve` process, killed if the test fails.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command` (hearsay serving, at info level), and returns it with
/// its log lines and the address its log says it listens on.
fn serve(mut command: Command) -> (Process, mpsc::Receiver<String>, SocketAddr) {
    let mut child = command
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hearsay");
    let stderr = child.stderr.take().unwrap();
    let process = Process(child);
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let listening = wait_for(&lines, "listening on UDP and TCP");
    let addr: SocketAddr = listening
        .rsplit("addr=")
        .next()
        .and_then(|a| a.trim().parse().ok())
        .expect("address in the log line");
    (process, lines, addr)
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Waits for a log line containing `needle`, returning it.
fn wait_for(lines: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + DEADLINE;
    while let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if line.contains(needle) {
            return line;
        }
    }
    panic!("no log line with {needle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_reloads_on_sighup_and_exits_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let zone = write(dir.path(), "z.zone", ZONE);
    let config = write(
        dir.path(),
        "h.toml",
        "[server]\nlisten = [\"127.0.0.1:0\"]\nthreads = 1\n[resolver]\nmode = \"off\"\n[[zone]]\norigin = \"example.test\"\nfile = \"z.zone\"\n",
    );
    let mut command = Command::new(BIN);
    command.args(["serve", "--config", config.to_str().unwrap()]);
    let (process, lines, addr) = serve(command);

    let reply = udp_query(addr, "www.example.test.", RecordType::A, None).await;
    assert_eq!(lines_of(&reply), ["www.example.test. 60 IN A 192.0.2.1"]);
    let reply = tcp_query(addr, "www.example.test.", RecordType::A).await;
    assert_eq!(lines_of(&reply), ["www.example.test. 60 IN A 192.0.2.1"]);

    std::fs::write(&zone, ZONE.replace("192.0.2.1", "192.0.2.2")).unwrap();
    signal(&process.0, "HUP");
    wait_for(&lines, "zone reloaded");
    let reply = udp_query(addr, "www.example.test.", RecordType::A, None).await;
    assert_eq!(lines_of(&reply), ["www.example.test. 60 IN A 192.0.2.2"]);

    std::fs::write(&zone, ZONE.replace("www A", "www AAA")).unwrap();
    signal(&process.0, "HUP");
    let failed = wait_for(&lines, "zone reload failed");
    assert!(failed.contains("z.zone:6"), "{failed}");
    let reply = udp_query(addr, "www.example.test.", RecordType::A, None).await;
    assert_eq!(
        lines_of(&reply),
        ["www.example.test. 60 IN A 192.0.2.2"],
        "old zone kept"
    );

    let mut process = process;
    signal(&process.0, "TERM");
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = process.0.try_wait().unwrap() {
            assert!(status.success(), "clean exit: {status}");
            break;
        }
        assert!(Instant::now() < deadline, "exits after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn lines_of(reply: &hickory_proto::op::Message) -> Vec<String> {
    lines(&reply.answers)
}

#[test]
fn every_shipped_config_passes_its_own_check() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config");
    let mut files: Vec<_> = ["", "/lab", "/siblings"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(format!("{config}{dir}")).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    for file in files {
        let (ok, _, stderr) = run(&["check-config", file.to_str().unwrap()]);
        assert!(ok, "{}: {stderr}", file.display());
    }
}

/// Issue 13: under `ulimit -n 64`, a forwarder whose upstream never
/// answers runs out of descriptors for its own queries. Its zone still
/// answers over UDP, the log says so once (not once per failure), and once
/// the queries time out TCP and resolution work again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_udp_still_answers_the_log_says_so_once_and_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "z.zone", ZONE);
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = write(
        dir.path(),
        "h.toml",
        &format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nthreads = 1\n[resolver]\nmode = \"forward\"\n\
             upstreams = [\"{}\"]\ntimeout = \"2s\"\ndnssec = false\n\
             [[zone]]\norigin = \"example.test\"\nfile = \"z.zone\"\n",
            silent.local_addr().unwrap()
        ),
    );
    let mut command = Command::new("sh");
    command.args([
        "-c",
        "ulimit -n 64 && exec \"$0\" serve --config \"$1\"",
        BIN,
        config.to_str().unwrap(),
    ]);
    let (_process, lines, addr) = serve(command);

    // 300 misses, each holding a socket towards the silent upstream.
    let flood = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..300 {
        let query = query_message(&format!("miss{i}.elsewhere.example."), RecordType::A, None);
        flood.send_to(&query.to_vec().unwrap(), addr).await.unwrap();
    }
    let said = wait_for(&lines, "out of file descriptors");
    assert!(said.contains("ulimit -n"), "{said}");
    for _ in 0..20 {
        let reply = udp_query(addr, "www.example.test.", RecordType::A, None).await;
        assert_eq!(lines_of(&reply), ["www.example.test. 60 IN A 192.0.2.1"]);
    }
    // The queries time out and give their sockets back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let reply = tcp_query(addr, "www.example.test.", RecordType::A).await;
    assert_eq!(lines_of(&reply), ["www.example.test. 60 IN A 192.0.2.1"]);
    let again = lines
        .try_iter()
        .filter(|l| l.contains("out of file descriptors"));
    assert_eq!(again.count(), 0, "logged once a minute, not per failure");
}

//! CI smoke test of the load generator: start the real `quicksilver` binary, run
//! `qs-bench smoke` (tiny S1 across three shard processes, S6, S5) and require every delivery to
//! have been made exactly once. It checks the tool, not performance: no timing is asserted.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "smoke-test-key-smoke-test-key-32b";

/// Kills the hub when the test ends, pass or fail.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `quicksilver` is built by cargo into the same directory as `qs-bench` when the workspace is
/// built or tested; this test does not build it.
fn quicksilver_binary() -> PathBuf {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_qs-bench"));
    let path = bench.with_file_name(format!("quicksilver{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: build the hub first (`cargo build -p quicksilver`, same profile), \
         or run the workspace's tests (`cargo test --workspace`)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding an ephemeral port");
    l.local_addr().expect("local address").port()
}

fn wait_listening(addr: SocketAddr, server: &mut Server) {
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("quicksilver exited at start-up: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "quicksilver did not listen on {addr} within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn smoke_against_quicksilver() {
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut server = Server(
        Command::new(quicksilver_binary())
            .arg("run")
            .env("SERVER_NAME", addr.to_string())
            .env("MERCURE_PUBLISHER_JWT_KEY", KEY)
            .env("MERCURE_SUBSCRIBER_JWT_KEY", KEY)
            .env("MERCURE_EXTRA_DIRECTIVES", "anonymous\ntransport local")
            .env("QUICKSILVER_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting quicksilver"),
    );
    wait_listening(addr, &mut server);
    let pid = server.0.id().to_string();

    let mut bench = Command::new(env!("CARGO_BIN_EXE_qs-bench"))
        .args([
            "--url",
            &format!("http://{addr}"),
            "--server-pid",
            &pid,
            "smoke",
        ])
        .env("MERCURE_PUBLISHER_JWT_KEY", KEY)
        .env("MERCURE_SUBSCRIBER_JWT_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting qs-bench");
    // A bound so a hang fails the test instead of the CI job's timeout.
    let start = Instant::now();
    let status = loop {
        if let Some(s) = bench.try_wait().expect("waiting for qs-bench") {
            break s;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = bench.kill();
            panic!("qs-bench smoke did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = bench.wait_with_output().expect("reading qs-bench output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        status.success(),
        "qs-bench smoke failed ({status}):\n{stdout}"
    );
    assert!(stdout.contains("smoke: ok"), "no `smoke: ok` in:\n{stdout}");
    assert!(
        stdout.contains(" 0 missing, 0 duplicate"),
        "unexpected delivery counts:\n{stdout}"
    );
    assert!(
        matches!(server.0.try_wait(), Ok(None)),
        "quicksilver exited during the smoke run"
    );
}

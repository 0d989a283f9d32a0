//! A PostgreSQL instance of our own, for tests that stop and start the server: `initdb` in a
//! temporary directory and `pg_ctl` on a port of our choice, run as the `postgres` user
//! (PostgreSQL refuses to run as root) through `runuser`. Stopped by `pg_ctl` on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PGBIN: &str = "/usr/lib/postgresql/15/bin";

pub struct OwnServer {
    pub port: u16,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

fn bin(name: &str) -> PathBuf {
    let dir = std::env::var("QS_PGBIN").unwrap_or_else(|_| PGBIN.to_owned());
    Path::new(&dir).join(name)
}

fn as_postgres(cmd: &Path) -> Command {
    let mut c = if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(cmd);
        c
    } else {
        Command::new(cmd)
    };
    c.stdin(Stdio::null());
    c
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn answers(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

impl OwnServer {
    /// `initdb` and start on `port`; `extra` are more `-c name=value` server settings.
    pub fn start(port: u16, extra: &[&str]) -> OwnServer {
        if answers(port) {
            panic!(
                "something already answers on 127.0.0.1:{port}; stop it or set QS_PG_OUTAGE_PORT (this test starts its own PostgreSQL there)"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("qs-pg-")
            .tempdir()
            .unwrap_or_else(|e| panic!("temporary directory: {e}"));
        if running_as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap_or_else(|e| panic!("chown: {e}"));
            assert!(status.success(), "chown of {} failed", dir.path().display());
        }
        let out = as_postgres(&bin("initdb"))
            .arg("-D")
            .arg(dir.path().join("data"))
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ])
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run initdb ({e}): install postgresql-15 (apt-get install postgresql-15) or set QS_PGBIN"
                )
            });
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let server = OwnServer {
            port,
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        server.resume();
        server
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Starts the server (again) on its data directory and waits until it accepts connections.
    pub fn resume(&self) {
        let mut opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        for e in &self.extra {
            opts.push_str(&format!(" -c {e}"));
        }
        let out = as_postgres(&bin("pg_ctl"))
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.dir.path().join("pg.log"))
            .args(["-w", "-t", "30", "-o", &opts, "start"])
            .output()
            .unwrap_or_else(|e| panic!("pg_ctl start: {e}"));
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(self.dir.path().join("pg.log")).unwrap_or_default()
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !answers(self.port) {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `pg_ctl stop -m immediate`: no checkpoint, every connection cut (a crash, as far as the
    /// clients can tell); committed transactions survive in the WAL.
    pub fn crash(&self) {
        let out = as_postgres(&bin("pg_ctl"))
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .output()
            .unwrap_or_else(|e| panic!("pg_ctl stop: {e}"));
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = as_postgres(&bin("pg_ctl"))
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

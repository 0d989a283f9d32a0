//! The server's CPU time and memory, read from `/proc`.
//!
//! CPU is utime + stime of each process (clock ticks, 10 ms each at the usual 100 Hz, so a
//! scenario must burn at least a few seconds of server CPU for a precise per-delivery figure).
//! Memory is VmRSS summed over the processes (nginx runs a master and workers), sampled; for
//! several processes the proportional set size (PSS) is also given, because shared memory that
//! two workers touch is counted twice by RSS.

use std::fs;
use std::io;

/// The processes that make up the server.
#[derive(Debug, Clone, Default)]
pub struct ServerProcs {
    pub pids: Vec<u32>,
}

impl ServerProcs {
    /// `pids`, plus `parent` and all its children (found through /proc).
    pub fn resolve(pids: &[u32], parent: Option<u32>) -> io::Result<ServerProcs> {
        let mut all = pids.to_vec();
        if let Some(p) = parent {
            all.push(p);
            all.extend(children_of(p)?);
        }
        all.sort_unstable();
        all.dedup();
        Ok(ServerProcs { pids: all })
    }

    pub fn is_empty(&self) -> bool {
        self.pids.is_empty()
    }

    /// utime + stime of all processes, in seconds. Processes that exited count as 0.
    pub fn cpu_seconds(&self) -> f64 {
        let tck = clock_ticks_per_second();
        self.pids
            .iter()
            .filter_map(|p| cpu_ticks(*p).ok())
            .sum::<u64>() as f64
            / tck
    }

    /// Sum of VmRSS, KiB.
    pub fn rss_kib(&self) -> u64 {
        self.pids
            .iter()
            .filter_map(|p| status_kib(*p, "VmRSS").ok())
            .sum()
    }

    /// Sum of VmHWM (peak RSS), KiB: exact for one process, an upper bound for several.
    pub fn hwm_kib(&self) -> u64 {
        self.pids
            .iter()
            .filter_map(|p| status_kib(*p, "VmHWM").ok())
            .sum()
    }

    /// Sum of PSS, KiB (0 where smaps_rollup is unreadable).
    pub fn pss_kib(&self) -> u64 {
        self.pids.iter().filter_map(|p| pss_kib(*p).ok()).sum()
    }
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions; it returns -1 on error, handled below.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// utime + stime of `pid`, in clock ticks.
pub fn cpu_ticks(pid: u32) -> io::Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| invalid("no ')' in /proc/PID/stat"))?;
    // After ')' come fields 3 (state) onwards; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| -> io::Result<u64> {
        fields
            .get(i - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| invalid("bad /proc/PID/stat"))
    };
    Ok(get(14)? + get(15)?)
}

/// A `kB` line of /proc/PID/status.
pub fn status_kib(pid: u32, key: &str) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    kib_line(&status, key).ok_or_else(|| invalid("field missing in /proc/PID/status"))
}

fn pss_kib(pid: u32) -> io::Result<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    kib_line(&s, "Pss").ok_or_else(|| invalid("no Pss in smaps_rollup"))
}

fn kib_line(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix(':')?;
        v.split_whitespace().next()?.parse().ok()
    })
}

/// Direct children of `parent`.
pub fn children_of(parent: u32) -> io::Result<Vec<u32>> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            out.push(pid);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        let p = ServerProcs::resolve(&[me], None).unwrap();
        assert!(p.rss_kib() > 0);
        assert!(p.hwm_kib() >= p.rss_kib());
        assert!(cpu_ticks(me).is_ok());
        assert_eq!(kib_line("VmRSS:\t  1234 kB\n", "VmRSS"), Some(1234));
    }
}

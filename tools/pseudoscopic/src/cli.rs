// SPDX-License-Identifier: GPL-2.0

//! What every tool shares on its command line: exit statuses, the errors users meet most (module
//! not loaded, no permission, no such process) spelled out, and small parsers.

use crate::abi::{self, Device};
use std::{fmt, io, os::fd::OwnedFd, process::ExitCode, time::Duration};

/// The exit statuses of every tool (README.md, "Tools").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Everything asked for was done.
    Ok = 0,
    /// The request ran and failed (a range not moved, a data check failed).
    Failed = 1,
    /// Bad command line.
    Usage = 2,
    /// The module is not loaded (no `/sys/module/pseudoscopic`, no `/dev/pseudoscopic`).
    NotLoaded = 3,
    /// No permission for the device node or the process.
    Permission = 4,
    /// No such process.
    NoProcess = 5,
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        ExitCode::from(status as u8)
    }
}

/// An error a tool reports with one line on stderr and its exit status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub status: Status,
    pub message: String,
}

impl Failure {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// A bad command line.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Status::Usage, message)
    }

    /// A request that ran and failed.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(Status::Failed, message)
    }

    /// Prints `tool: message` on stderr (and the usage text after a usage error) and gives the
    /// exit status.
    pub fn report(&self, tool: &str, usage: &str) -> ExitCode {
        if self.status == Status::Usage {
            eprintln!("{tool}: {}\n\n{usage}", self.message);
        } else {
            eprintln!("{tool}: {}", self.message);
        }
        self.status.into()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The failure for opening the device node at `path`.
pub fn device_open_failure(path: &str, err: &io::Error) -> Failure {
    match err.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO) => Failure::new(
            Status::NotLoaded,
            format!(
                "{path}: {err}: the pseudoscopic module is not loaded (sudo modprobe pseudoscopic)"
            ),
        ),
        Some(libc::EACCES) | Some(libc::EPERM) => Failure::new(
            Status::Permission,
            format!("{path}: {err}: run as root or as a member of the pseudoscopic group"),
        ),
        _ => Failure::failed(format!("{path}: {err}")),
    }
}

/// Opens the device node at `path`, with a clear failure when it cannot.
pub fn open_device(path: &str) -> Result<Device, Failure> {
    Device::open(path).map_err(|e| device_open_failure(path, &e))
}

/// The failure for naming process `pid`.
pub fn pid_failure(pid: i32, err: &io::Error) -> Failure {
    match err.raw_os_error() {
        Some(libc::ESRCH) => Failure::new(Status::NoProcess, format!("no process with pid {pid}")),
        Some(libc::EINVAL) => Failure::usage(format!("bad pid {pid}")),
        Some(libc::EACCES) | Some(libc::EPERM) => Failure::new(
            Status::Permission,
            format!("pid {pid}: {err}: moving another user's memory needs root"),
        ),
        _ => Failure::failed(format!("pid {pid}: {err}")),
    }
}

/// A pidfd for process `pid`.
pub fn open_pid(pid: i32) -> Result<OwnedFd, Failure> {
    if pid <= 0 {
        return Err(Failure::usage(format!("bad pid {pid}")));
    }
    abi::pidfd_open(pid).map_err(|e| pid_failure(pid, &e))
}

/// Parses a process ID: a positive decimal number.
pub fn parse_pid(text: &str) -> Result<i32, Failure> {
    match text.parse::<i32>() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(Failure::usage(format!("bad pid {text:?}"))),
    }
}

/// Parses a duration: seconds as a decimal number (`0.5`, `10`), or with an `s`, `m` or `h`
/// suffix (`90s`, `2m`, `1h`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let (number, unit) = match text.as_bytes().last()? {
        b's' => (&text[..text.len() - 1], 1.0),
        b'm' => (&text[..text.len() - 1], 60.0),
        b'h' => (&text[..text.len() - 1], 3600.0),
        _ => (text, 1.0),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let seconds: f64 = number.parse().ok()?;
    Duration::try_from_secs_f64(seconds * unit).ok()
}

/// A byte count in binary units for people: `512 B`, `4.0 KiB`, `1.5 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// One frame of a progress bar `width` characters wide: `[#####.....]  50% 1.0 GiB/2.0 GiB`.
pub fn progress_bar(done: u64, total: u64, width: usize) -> String {
    let fraction = if total == 0 {
        1.0
    } else {
        done.min(total) as f64 / total as f64
    };
    let filled = ((fraction * width as f64) as usize).min(width);
    format!(
        "[{}{}] {:>3}% {}/{}",
        "#".repeat(filled),
        ".".repeat(width - filled),
        (fraction * 100.0) as u32,
        human_bytes(done),
        human_bytes(total)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os_error(errno: i32) -> io::Error {
        io::Error::from_raw_os_error(errno)
    }

    #[test]
    fn device_failures_say_what_to_do() {
        let f = device_open_failure("/dev/pseudoscopic", &os_error(libc::ENOENT));
        assert_eq!(f.status, Status::NotLoaded);
        assert!(f.message.contains("not loaded"), "{f}");
        let f = device_open_failure("/dev/pseudoscopic", &os_error(libc::EACCES));
        assert_eq!(f.status, Status::Permission);
        assert!(f.message.contains("pseudoscopic group"), "{f}");
        let f = device_open_failure("/dev/pseudoscopic", &os_error(libc::EIO));
        assert_eq!(f.status, Status::Failed);
    }

    #[test]
    fn pid_failures() {
        assert_eq!(
            pid_failure(7, &os_error(libc::ESRCH)).status,
            Status::NoProcess
        );
        assert_eq!(
            pid_failure(7, &os_error(libc::EPERM)).status,
            Status::Permission
        );
        assert_eq!(open_pid(0).unwrap_err().status, Status::Usage);
        assert_eq!(parse_pid("42"), Ok(42));
        assert_eq!(parse_pid("0").unwrap_err().status, Status::Usage);
        assert_eq!(parse_pid("-3").unwrap_err().status, Status::Usage);
        assert_eq!(parse_pid("12x").unwrap_err().status, Status::Usage);
    }

    #[test]
    fn exit_statuses_are_stable() {
        let codes = [
            Status::Ok,
            Status::Failed,
            Status::Usage,
            Status::NotLoaded,
            Status::Permission,
            Status::NoProcess,
        ]
        .map(|s| s as u8);
        assert_eq!(codes, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("-1"), None);
        assert_eq!(parse_duration("1x"), None);
        assert_eq!(parse_duration("1e3"), None);
    }

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(4096), "4.0 KiB");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
        assert_eq!(human_bytes(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn progress_bars() {
        assert_eq!(
            progress_bar(0, 1 << 30, 10),
            "[..........]   0% 0 B/1.0 GiB"
        );
        assert_eq!(
            progress_bar(1 << 29, 1 << 30, 10),
            "[#####.....]  50% 512.0 MiB/1.0 GiB"
        );
        assert_eq!(
            progress_bar(1 << 30, 1 << 30, 10),
            "[##########] 100% 1.0 GiB/1.0 GiB"
        );
        assert_eq!(progress_bar(5, 0, 4), "[####] 100% 5 B/0 B");
        assert_eq!(progress_bar(9, 4, 4), "[####] 100% 9 B/4 B");
    }
}

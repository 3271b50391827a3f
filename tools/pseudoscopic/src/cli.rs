// SPDX-License-Identifier: GPL-2.0

//! What every tool shares on its command line: parsing with clap (help, usage errors, and the man
//! page and shell completions made from the same definitions), exit statuses, the errors users
//! meet most (module not loaded, no permission, no such process) spelled out, and small parsers.

use crate::abi::{self, Device};
use clap::{error::ErrorKind, Arg, Command, CommandFactory, Parser, ValueEnum};
use clap_complete::Shell;
use rustix::io::Errno;
use std::{
    ffi::OsString,
    fmt,
    io::{self, Write as _},
    os::fd::OwnedFd,
    process::{self, ExitCode},
    time::Duration,
};

/// Every tool's `--help`: the usage, what the tool does (`about`), the options and subcommands,
/// then the exit statuses (`after_help`).
pub const HELP_TEMPLATE: &str = "{usage-heading} {usage}\n\n{about}\n\n{all-args}{after-help}";

/// What `TOOL --generate KIND` prints, made from the tool's clap definitions: its man page or a
/// shell's completion script (`make tools` writes them to `out/tools/share`, `make install`
/// installs them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Generated {
    Man,
    Bash,
    Zsh,
    Fish,
}

/// The id and long name of the hidden `--generate` option every tool has.
const GENERATE: &str = "generate";

/// Tool `T`'s command: its clap definitions with the shared help layout and `--generate`.
pub fn command<T: CommandFactory>() -> Command {
    T::command().help_template(HELP_TEMPLATE).arg(
        Arg::new(GENERATE)
            .long(GENERATE)
            .value_name("KIND")
            .value_parser(clap::value_parser!(Generated))
            .help("Print the man page or a shell's completion script")
            .hide(true)
            .exclusive(true),
    )
}

/// What a command line asks of a tool.
#[derive(Debug)]
pub enum Invocation<T> {
    /// Its work, with these arguments.
    Run(T),
    /// `--generate KIND`.
    Generate(Generated),
}

/// Parses `args` (the tool's name first) for tool `T`.
pub fn try_parse_from<T, I, S>(args: I) -> Result<Invocation<T>, clap::Error>
where
    T: Parser,
    I: IntoIterator<Item = S>,
    S: Into<OsString> + Clone,
{
    let mut cmd = command::<T>();
    let matches = cmd.try_get_matches_from_mut(args)?;
    if let Some(kind) = matches.get_one::<Generated>(GENERATE) {
        return Ok(Invocation::Generate(*kind));
    }
    T::from_arg_matches(&matches)
        .map(Invocation::Run)
        .map_err(|e| e.format(&mut cmd))
}

/// The manual section of a tool's man page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManSection {
    /// 1: a command users run.
    User,
    /// 8: a daemon or administration command (ps-tierd).
    Admin,
}

impl ManSection {
    fn number(self) -> &'static str {
        match self {
            ManSection::User => "1",
            ManSection::Admin => "8",
        }
    }
}

/// Writes `kind` for command `cmd`, whose man page goes in `section`, to `out`.
pub fn generate(
    kind: Generated,
    mut cmd: Command,
    section: ManSection,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    let name = cmd.get_name().to_string();
    let shell = match kind {
        Generated::Man => {
            return clap_mangen::Man::new(cmd)
                .section(section.number())
                .render(out)
        }
        Generated::Bash => Shell::Bash,
        Generated::Zsh => Shell::Zsh,
        Generated::Fish => Shell::Fish,
    };
    clap_complete::generate(shell, &mut cmd, name, out);
    Ok(())
}

/// Tool `T`'s arguments from the process's command line. `--help` prints the help and exits 0,
/// `--generate KIND` prints KIND and exits 0, a bad command line exits with [`Status::Usage`]
/// after one line `TOOL: what is wrong`, the usage and a pointer to `--help`. Its man page is in
/// section 1.
pub fn parse<T: Parser>() -> T {
    parse_in::<T>(ManSection::User)
}

/// As [`parse`], for a tool whose man page is in `section`.
pub fn parse_in<T: Parser>(section: ManSection) -> T {
    match try_parse_from::<T, _, _>(std::env::args_os()) {
        Ok(Invocation::Run(args)) => args,
        Ok(Invocation::Generate(kind)) => {
            let tool = command::<T>().get_name().to_string();
            match generate(kind, command::<T>(), section, &mut io::stdout().lock()) {
                Ok(()) => exit(Status::Ok as i32),
                Err(e) => {
                    eprintln!("{tool}: {e}");
                    exit(Status::Failed as i32)
                }
            }
        }
        Err(e) => exit_with::<T>(e),
    }
}

/// Exits with a usage error of tool `T`: a check its clap definitions cannot express (such as
/// one value against another) failed.
pub fn usage_error<T: CommandFactory>(message: impl fmt::Display) -> ! {
    exit_with::<T>(command::<T>().error(ErrorKind::ValueValidation, message))
}

/// Prints what a clap error says (help on stdout; an error on stderr, `TOOL: ` in place of clap's
/// `error: `) and exits with its status: 0 for help, [`Status::Usage`] for a bad command line.
fn exit_with<T: CommandFactory>(e: clap::Error) -> ! {
    let text = e.render().to_string();
    if e.use_stderr() {
        let tool = command::<T>().get_name().to_string();
        let text = text.strip_prefix("error: ").unwrap_or(&text);
        eprint!("{tool}: {text}");
    } else {
        print!("{text}");
    }
    exit(e.exit_code())
}

/// Exits with `status` once what was printed is out (`process::exit` flushes nothing).
fn exit(status: i32) -> ! {
    let _ = io::stdout().lock().flush();
    let _ = io::stderr().lock().flush();
    process::exit(status)
}

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

    /// Prints `tool: message` on stderr (and where help is after a usage error) and gives the
    /// exit status.
    pub fn report(&self, tool: &str) -> ExitCode {
        if self.status == Status::Usage {
            eprintln!(
                "{tool}: {}\n\nFor more information, try '--help'.",
                self.message
            );
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
    match Errno::from_io_error(err) {
        Some(Errno::NOENT) | Some(Errno::NODEV) | Some(Errno::NXIO) => Failure::new(
            Status::NotLoaded,
            format!(
                "{path}: {err}: the pseudoscopic module is not loaded (sudo modprobe pseudoscopic)"
            ),
        ),
        Some(Errno::ACCESS) | Some(Errno::PERM) => Failure::new(
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
    match Errno::from_io_error(err) {
        Some(Errno::SRCH) => Failure::new(Status::NoProcess, format!("no process with pid {pid}")),
        Some(Errno::INVAL) => Failure::usage(format!("bad pid {pid}")),
        Some(Errno::ACCESS) | Some(Errno::PERM) => Failure::new(
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

/// Parses a process ID: a positive decimal number (a clap value parser, as the `*_arg`
/// functions below).
pub fn parse_pid(text: &str) -> Result<i32, String> {
    match text.parse::<i32>() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err("a process ID is a positive number".into()),
    }
}

/// A number above zero.
pub fn positive_arg<T: std::str::FromStr + Default + PartialOrd>(text: &str) -> Result<T, String> {
    match text.parse::<T>() {
        Ok(n) if n > T::default() => Ok(n),
        _ => Err("give a number above 0".into()),
    }
}

/// A duration as [`parse_duration`] reads it.
pub fn duration_arg(text: &str) -> Result<Duration, String> {
    parse_duration(text)
        .ok_or_else(|| "give seconds (0.5, 10) or a number with s, m or h (90s, 2m, 1h)".into())
}

/// A duration longer than zero.
pub fn positive_duration_arg(text: &str) -> Result<Duration, String> {
    match duration_arg(text)? {
        d if d.is_zero() => Err("give a duration longer than zero".into()),
        d => Ok(d),
    }
}

/// A number of bytes as [`crate::parse_size`] reads it.
pub fn size_arg(text: &str) -> Result<u64, String> {
    crate::parse_size(text)
        .ok_or_else(|| "give a number, decimal or 0x-hex, with an optional K, M or G".into())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn os_error(errno: i32) -> io::Error {
        io::Error::from_raw_os_error(errno)
    }

    #[test]
    fn device_failures_say_what_to_do() {
        let f = device_open_failure("/dev/pseudoscopic", &os_error(Errno::NOENT.raw_os_error()));
        assert_eq!(f.status, Status::NotLoaded);
        assert!(f.message.contains("not loaded"), "{f}");
        let f = device_open_failure("/dev/pseudoscopic", &os_error(Errno::ACCESS.raw_os_error()));
        assert_eq!(f.status, Status::Permission);
        assert!(f.message.contains("pseudoscopic group"), "{f}");
        let f = device_open_failure("/dev/pseudoscopic", &os_error(Errno::IO.raw_os_error()));
        assert_eq!(f.status, Status::Failed);
    }

    #[test]
    fn pid_failures() {
        assert_eq!(
            pid_failure(7, &os_error(Errno::SRCH.raw_os_error())).status,
            Status::NoProcess
        );
        assert_eq!(
            pid_failure(7, &os_error(Errno::PERM.raw_os_error())).status,
            Status::Permission
        );
        assert_eq!(open_pid(0).unwrap_err().status, Status::Usage);
        assert_eq!(parse_pid("42"), Ok(42));
        assert!(parse_pid("0").is_err());
        assert!(parse_pid("-3").is_err());
        assert!(parse_pid("12x").is_err());
    }

    #[test]
    fn argument_parsers() {
        assert_eq!(positive_arg::<usize>("3"), Ok(3));
        assert!(positive_arg::<u64>("0").is_err());
        assert!(positive_arg::<u32>("-1").is_err());
        assert!(positive_arg::<u32>("x").is_err());
        assert_eq!(duration_arg("0"), Ok(Duration::ZERO));
        assert_eq!(positive_duration_arg("2m"), Ok(Duration::from_secs(120)));
        assert!(positive_duration_arg("0").is_err());
        assert!(duration_arg("soon").is_err());
        assert_eq!(size_arg("2M"), Ok(2 << 20));
        assert!(size_arg("2Q").is_err());
    }

    /// A tool's command line as the tools define theirs.
    #[derive(Parser, Debug)]
    #[command(
        name = "ps-example",
        about = "Does an example.",
        after_help = "Exit status: 0."
    )]
    struct Example {
        /// The process
        #[arg(long, value_name = "PID", value_parser = parse_pid)]
        pid: i32,
        /// Print JSON
        #[arg(long)]
        json: bool,
    }

    fn example(args: &[&str]) -> Result<Invocation<Example>, clap::Error> {
        try_parse_from::<Example, _, _>(std::iter::once("ps-example").chain(args.iter().copied()))
    }

    #[test]
    fn command_lines_parse_with_clap() {
        command::<Example>().debug_assert();
        match example(&["--pid", "7", "--json"]) {
            Ok(Invocation::Run(e)) => assert!(e.pid == 7 && e.json),
            other => panic!("{other:?}"),
        }
        // Bad command lines are usage errors: exit status 2, the tools' Status::Usage.
        for bad in [&["--pid", "0"][..], &["--json"], &["--pid", "7", "--bogus"]] {
            let e = example(bad).unwrap_err();
            assert!(e.use_stderr(), "{bad:?}");
            assert_eq!(e.exit_code(), Status::Usage as i32, "{bad:?}");
        }
        // Help goes to stdout with status 0, in the shared layout.
        let e = example(&["--help"]).unwrap_err();
        assert!(!e.use_stderr());
        assert_eq!(e.exit_code(), 0);
        let help = e.render().to_string();
        assert!(
            help.starts_with(
                "Usage: ps-example [OPTIONS] --pid <PID>\n\nDoes an example.\n\nOptions:\n"
            ),
            "{help}"
        );
        assert!(help.ends_with("\nExit status: 0.\n"), "{help}");
        assert!(!help.contains("--generate"), "{help}");
    }

    #[test]
    fn generates_man_page_and_completions() {
        // --generate needs none of the tool's required options, and nothing else.
        for (name, kind) in [
            ("man", Generated::Man),
            ("bash", Generated::Bash),
            ("zsh", Generated::Zsh),
            ("fish", Generated::Fish),
        ] {
            match example(&["--generate", name]) {
                Ok(Invocation::Generate(k)) => assert_eq!(k, kind),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(example(&["--generate", "man", "--json"]).is_err());
        assert!(example(&["--generate", "troff"]).is_err());
        let text = |kind| {
            let mut out = Vec::new();
            generate(kind, command::<Example>(), ManSection::User, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        let man = text(Generated::Man);
        assert!(man.contains(".TH ps-example 1"), "{man}");
        let mut daemon = Vec::new();
        generate(
            Generated::Man,
            command::<Example>(),
            ManSection::Admin,
            &mut daemon,
        )
        .unwrap();
        let daemon = String::from_utf8(daemon).unwrap();
        assert!(daemon.contains(".TH ps-example 8"), "{daemon}");
        assert!(man.contains("Does an example."), "{man}");
        assert!(man.contains("\\-\\-pid"), "{man}");
        assert!(!man.contains("generate"), "{man}");
        let bash = text(Generated::Bash);
        assert!(bash.contains("-o default ps-example\n"), "{bash}");
        assert!(text(Generated::Zsh).starts_with("#compdef ps-example"));
        assert!(text(Generated::Fish).contains("complete -c ps-example -l pid"));
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
}

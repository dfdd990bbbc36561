//! A real ClamAV daemon for tests (issue 14), started from Debian's `clamav-daemon` package
//! with a signature database the test writes itself: there is no internet to download
//! ClamAV's, and one signature is all a test needs.
//!
//! [`Clamd::start`] makes a directory under [`std::env::temp_dir`] holding `test.ndb` (a body
//! signature: the [`EICAR`] string anywhere in a file, named `Eicar-Test-Signature`, as real
//! databases find it inside a PDF too), a
//! `clamd.conf` (a unix socket in that directory, the directory as the database and
//! temporary directory, in the foreground, no user switch, logging to `clamd.log` there),
//! runs `clamd -c clamd.conf` as a child and waits for its socket. Dropping the handle
//! kills the daemon and removes the directory; [`Clamd::stop`] kills it earlier, so a test
//! can see what an unreachable scanner does.
//!
//! A test never skips because clamd is missing: it panics naming the package to install.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The EICAR anti-virus test file: 68 bytes every scanner reports, harmless.
pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// How long clamd may take to load its one signature and listen.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running clamd, killed (and its directory removed) when dropped.
pub struct Clamd {
    dir: PathBuf,
    socket: PathBuf,
    child: Option<Child>,
}

impl Clamd {
    /// Starts clamd on a socket of its own; panics (naming the package to install) when the
    /// binary is missing, and with the daemon's log when it does not come up.
    pub fn start() -> Clamd {
        let binary = find_clamd().unwrap_or_else(|| {
            panic!(
                "clamd is not installed: the virus-scanning tests need a real ClamAV daemon. \
                 Install the Debian package clamav-daemon (apt-get install clamav-daemon); \
                 scripts/test does it"
            )
        });
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "prorata-clamd-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("clamd's directory");
        // The same string anywhere in a file (a body signature, as real databases carry),
        // so a PDF that embeds it is found too.
        let hex: String = EICAR.iter().map(|b| format!("{b:02x}")).collect();
        fs::write(
            dir.join("test.ndb"),
            format!("Eicar-Test-Signature:0:*:{hex}\n"),
        )
        .expect("test.ndb");
        let socket = dir.join("clamd.sock");
        let log = dir.join("clamd.log");
        let conf = dir.join("clamd.conf");
        fs::write(
            &conf,
            format!(
                "LocalSocket {socket}\nDatabaseDirectory {dir}\nTemporaryDirectory {dir}\n\
                 Foreground yes\nLogFile {log}\n",
                socket = socket.display(),
                dir = dir.display(),
                log = log.display(),
            ),
        )
        .expect("clamd.conf");
        let output = fs::File::create(dir.join("clamd.out")).expect("clamd.out");
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("clamd.out"))
            .stderr(output)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        let mut clamd = Clamd {
            dir,
            socket,
            child: Some(child),
        };
        clamd.wait_for_socket();
        clamd
    }

    /// The daemon's unix socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The socket's path as text, for `Scanner::new` or `--clamd`.
    pub fn address(&self) -> String {
        self.socket.display().to_string()
    }

    /// Kills the daemon now and waits for it: its socket no longer answers.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = fs::remove_file(&self.socket);
    }

    fn wait_for_socket(&mut self) {
        let started = Instant::now();
        loop {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || started.elapsed() > START_TIMEOUT {
                let why = match exited {
                    Some(status) => format!("clamd exited ({status})"),
                    None => format!("clamd did not listen within {START_TIMEOUT:?}"),
                };
                let out = fs::read_to_string(self.dir.join("clamd.out")).unwrap_or_default();
                let log = fs::read_to_string(self.dir.join("clamd.log")).unwrap_or_default();
                self.stop();
                panic!("{why}\n--- output:\n{out}\n--- log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `clamd` in `PATH`, else where Debian puts it (`/usr/sbin`, not in every user's `PATH`).
fn find_clamd() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("clamd"))
                .find(|p| p.is_file())
        })
        .or_else(|| Some(PathBuf::from("/usr/sbin/clamd")).filter(|p| p.is_file()))
}

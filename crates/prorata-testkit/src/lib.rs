//! Test support for the prorata workspace: a PostgreSQL server for tests,
//! one fresh database per test, and throwaway SQLite files; with the feature
//! `bulk`, the customers of the benchmarks and of the tests at scale
//! ([`bulk`]).
//!
//! # Where PostgreSQL comes from
//!
//! [`postgres_url`] returns `DATABASE_URL` when it is set and starts with
//! `postgres` (so `postgres://` and `postgresql://` both count). Otherwise it
//! starts, once per test process, a throwaway cluster with the server
//! binaries of the OS package (`initdb`, `postgres`), looked up first in
//! `PATH` and then in `/usr/lib/postgresql/<version>/bin`, highest version
//! first. A test never skips because no server is available: when the
//! binaries are missing it panics with a message naming the Debian package
//! to install (`postgresql`) and the `DATABASE_URL` alternative.
//!
//! # How the throwaway cluster is built
//!
//! * A directory `prorata-testkit-pg-<pid>-<millis>` under
//!   [`std::env::temp_dir`] holds the data directory (`data/`), the server
//!   log (`postgres.log`) and the unix socket. The server does not listen on
//!   TCP at all (`listen_addresses=''`), so parallel test processes and a
//!   system PostgreSQL on port 5432 never collide: each cluster has its own
//!   socket directory.
//! * `initdb -A trust -U postgres --no-sync -E UTF8 --locale=C`: trust
//!   authentication over a socket nobody else can guess, a superuser called
//!   `postgres` whatever the OS user is, and the C locale so that `initdb`
//!   works even when `LANG` names a locale that is not generated and text
//!   ordering is the same on every machine.
//! * The server runs with `fsync=off`, `synchronous_commit=off`,
//!   `full_page_writes=off` (the data is thrown away anyway) and
//!   `max_connections=200` (tests open many pools in parallel).
//! * `initdb` refuses to run as root. When the effective uid is 0 the
//!   directory is `chown`ed to an unprivileged user (`postgres`, created by
//!   the Debian package, or else `nobody`) and `initdb` and the server run as
//!   that user through `runuser -u <user> --` (or `setpriv` when `runuser` is
//!   missing).
//! * Startup is complete when `postmaster.pid` reports `ready` and the socket
//!   exists (what `pg_ctl -w` checks), polled every 20 ms for at most 60 s.
//!   If the server dies or the time runs out, the panic message includes the
//!   server log. Set `PRORATA_TESTKIT_VERBOSE=1` (and pass `--nocapture`) to
//!   print where the cluster lives and how long it took to start (about
//!   0.5-1.3 s on two cores).
//! * The cluster lives as long as the test process. `cargo test` runs one
//!   process per test binary, so each binary starts one cluster;
//!   `cargo nextest` runs one process per test, so there each test starts
//!   its own (set `DATABASE_URL` to a running server to avoid that).
//!
//! # Cleanup
//!
//! Statics are never dropped, so cleanup cannot hang off a destructor.
//! Instead the server is started by a small watchdog shell whose stdin is a
//! pipe; the write end stays open in the test process (it is deliberately
//! leaked) and is closed by the kernel when the process ends, however it
//! ends: normal exit, panic, `abort`, `SIGKILL`. The watchdog blocks on
//! `read` from that pipe, then stops the server with `SIGINT` (fast
//! shutdown), waits for it and removes the whole directory. A pipe is used
//! rather than polling `kill -0 <pid>` because, when the watchdog runs as
//! `postgres`, `kill -0` on a root process fails with `EPERM` and would look
//! like the test process had died; it also reacts at once and cannot be
//! fooled by pid reuse. The watchdog gets its own process group, so a Ctrl-C
//! in the terminal does not kill it before it has cleaned up, and its
//! stdout/stderr go to `/dev/null` so it never keeps a test harness's output
//! pipes open.
//!
//! # Fresh databases
//!
//! [`fresh_database`] connects to [`postgres_url`] with sqlx, runs
//! `CREATE DATABASE prorata_test_<pid>_<counter>_<nanos>` and returns the same
//! URL with the database name replaced, so every test works in its own
//! database. Databases created on a `DATABASE_URL` server are not dropped;
//! on the throwaway cluster they disappear with the cluster.
//!
//! # `DATABASE_URL` in this crate's own tests
//!
//! The tests of this crate exist to exercise the throwaway cluster, so they
//! remove `DATABASE_URL` from their own process environment before the first
//! call to [`postgres_url`]: a `DATABASE_URL` set by the developer is ignored
//! by `cargo test -p prorata-testkit` (and left untouched for every other
//! crate's tests).

pub mod browser;
#[cfg(feature = "bulk")]
pub mod bulk;
pub mod checks;
pub mod clamd;
#[cfg(feature = "fuzz")]
pub mod fuzz;
pub mod smtp;

use std::fmt::Write as _;
use std::fs;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::{Connection, PgConnection};

/// The message of the panic raised when no PostgreSQL server binaries exist.
pub const MISSING_POSTGRES: &str = "PostgreSQL's server binaries (initdb, postgres) were not \
    found: install the Debian package `postgresql` (apt-get install -y postgresql) or set \
    DATABASE_URL";

/// Port of the throwaway cluster. It only names the socket file
/// (`.s.PGSQL.5432`) inside the cluster's private directory: no TCP port is
/// opened.
const PORT: u16 = 5432;

/// How long the throwaway server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Unprivileged users that run the cluster when the test process is root.
const UNPRIVILEGED_USERS: [&str; 2] = ["postgres", "nobody"];

/// Result of starting the cluster, shared by every caller in the process. An
/// error is kept too, so that all tests fail at once with the same message
/// instead of each retrying a slow start.
static CLUSTER: OnceLock<Result<String, String>> = OnceLock::new();

/// Counter that keeps database and directory names unique within a process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The URL of a PostgreSQL server to test against.
///
/// Returns `DATABASE_URL` if it is set and starts with `postgres`. Otherwise
/// starts a throwaway cluster (once per process; see the crate
/// documentation) and returns a URL for its `postgres` database over the
/// unix socket, like
/// `postgres://postgres@localhost:5432/postgres?host=/tmp/prorata-testkit-pg-1-2&sslmode=disable`.
///
/// This blocks for a second or two the first time. From async code prefer
/// [`fresh_database`], which runs it on tokio's blocking pool.
///
/// # Panics
///
/// If no server binaries are installed (with [`MISSING_POSTGRES`]), or if the
/// cluster cannot be created or started (with the reason and what to do).
pub fn postgres_url() -> String {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        if url.starts_with("postgres") {
            return url;
        }
    }
    throwaway_postgres_url()
}

/// Like [`postgres_url`] but always uses the throwaway cluster, ignoring
/// `DATABASE_URL`.
///
/// # Panics
///
/// As [`postgres_url`].
pub fn throwaway_postgres_url() -> String {
    match CLUSTER.get_or_init(start_cluster) {
        Ok(url) => url.clone(),
        Err(message) => panic!("{message}"),
    }
}

/// Creates an empty database with a unique name on [`postgres_url`]'s
/// server and returns its URL (same user, host and parameters).
///
/// # Panics
///
/// As [`postgres_url`], or if the server refuses the connection or the
/// `CREATE DATABASE`.
pub async fn fresh_database() -> String {
    let base = match tokio::task::spawn_blocking(postgres_url).await {
        Ok(url) => url,
        Err(err) => match err.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(err) => panic!("the task starting PostgreSQL was cancelled: {err}"),
        },
    };
    let name = format!(
        "prorata_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos()
    );
    let mut conn = PgConnection::connect(&base).await.unwrap_or_else(|err| {
        panic!(
            "cannot connect to PostgreSQL at {base}: {err}; check that the server is running \
             and accepts this URL, or unset DATABASE_URL to use a throwaway cluster"
        )
    });
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|err| {
            panic!(
                "cannot create test database {name} at {base}: {err}; the user in the URL \
                 needs the CREATEDB privilege (ALTER ROLE ... CREATEDB)"
            )
        });
    // Closing is best effort: the database exists either way.
    let _ = conn.close().await;
    with_database(&base, &name)
}

/// Returns `url` with its database name (the URL path) replaced by
/// `database`, keeping user, host, port and the `?query` part.
pub fn with_database(url: &str, database: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let path_start = authority_start + authority_len;
    let path_end = url[path_start..]
        .find(['?', '#'])
        .map_or(url.len(), |i| path_start + i);
    format!("{}/{}{}", &url[..path_start], database, &url[path_end..])
}

/// A temporary directory that is removed, with everything in it, on drop.
#[derive(Debug)]
pub struct TempDirGuard {
    path: PathBuf,
}

impl TempDirGuard {
    /// Creates a new empty directory with a unique name under
    /// [`std::env::temp_dir`]; `prefix` starts its name.
    ///
    /// # Panics
    ///
    /// If the directory cannot be created.
    pub fn new(prefix: &str) -> TempDirGuard {
        let path = unique_temp_path(prefix);
        fs::create_dir_all(&path).unwrap_or_else(|err| {
            panic!(
                "cannot create temporary directory {}: {err}; set TMPDIR to a writable directory",
                path.display()
            )
        });
        TempDirGuard { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDirGuard {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// The migrations in `folder` numbered below `version`, copied to a folder of their own
/// (removed when the guard drops): what a database of an earlier release has applied, for a
/// test that migrates it on to the latest.
///
/// # Panics
///
/// If `folder` cannot be read or a file copied.
pub fn migrations_before(folder: &Path, version: u32) -> TempDirGuard {
    let dir = TempDirGuard::new("prorata-migrations");
    for entry in fs::read_dir(folder).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let number: u32 = name
            .split('_')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(u32::MAX);
        if number < version {
            fs::copy(&path, dir.path().join(name)).expect("copy");
        }
    }
    dir
}

/// A URL for a new SQLite database file in a fresh temporary directory,
/// `sqlite://<dir>/test.sqlite3?mode=rwc` (sqlx creates the file on first
/// connection), and the guard that removes the directory when dropped. Keep
/// the guard alive as long as the database is used.
pub fn sqlite_url() -> (String, TempDirGuard) {
    let dir = TempDirGuard::new("prorata-testkit-sqlite");
    let file = dir.path().join("test.sqlite3");
    let url = format!("sqlite://{}?mode=rwc", url_encode_path(&file));
    (url, dir)
}

// ---------------------------------------------------------------------------
// The throwaway cluster.

/// Everything needed to run a PostgreSQL command, possibly as another user.
struct Runner {
    /// `Some(user)` when running as root: commands run as this user.
    user: Option<String>,
}

impl Runner {
    /// A command running `program args...`, switched to the unprivileged user
    /// if there is one.
    fn command(&self, program: &Path, dir: &Path) -> Command {
        let mut cmd = match &self.user {
            None => Command::new(program),
            Some(user) => {
                if let Some(runuser) = find_in_path("runuser") {
                    let mut cmd = Command::new(runuser);
                    cmd.args(["-u", user, "--"]).arg(program);
                    cmd
                } else {
                    let mut cmd = Command::new(find_in_path("setpriv").unwrap_or("setpriv".into()));
                    cmd.arg(format!("--reuid={user}"))
                        .arg(format!("--regid={user}"))
                        .arg("--init-groups")
                        .arg(program);
                    cmd
                }
            }
        };
        // A cwd the unprivileged user can enter, and none of the libpq
        // variables that would change what the server or initdb do.
        cmd.current_dir(dir);
        for var in ["PGDATA", "PGPORT", "PGHOST", "PGUSER", "PGOPTIONS", "PGTZ"] {
            cmd.env_remove(var);
        }
        cmd
    }
}

/// The server binaries: `initdb` and `postgres` from the same directory.
struct Binaries {
    initdb: PathBuf,
    postgres: PathBuf,
}

fn start_cluster() -> Result<String, String> {
    let started = Instant::now();
    let bins = find_binaries().ok_or_else(|| MISSING_POSTGRES.to_string())?;
    let runner = Runner {
        user: if effective_uid_is_root() {
            Some(unprivileged_user()?)
        } else {
            None
        },
    };

    let dir = std::env::temp_dir().join(format!(
        "prorata-testkit-pg-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    ));
    let socket = dir.join(format!(".s.PGSQL.{PORT}"));
    // sockaddr_un.sun_path holds 108 bytes including the final NUL.
    if socket.as_os_str().len() > 107 {
        return Err(format!(
            "the PostgreSQL socket path {} is longer than the 107 bytes a unix socket allows: \
             set TMPDIR to a shorter directory (e.g. TMPDIR=/tmp) or set DATABASE_URL",
            socket.display()
        ));
    }
    fs::create_dir(&dir).map_err(|err| {
        format!(
            "cannot create {} for the throwaway PostgreSQL cluster: {err}; set TMPDIR to a \
             writable directory or set DATABASE_URL",
            dir.display()
        )
    })?;
    match prepare_and_start(&bins, &runner, &dir, &socket) {
        Ok(url) => {
            if std::env::var_os("PRORATA_TESTKIT_VERBOSE").is_some() {
                eprintln!(
                    "prorata-testkit: PostgreSQL cluster in {} ready after {:?}",
                    dir.display(),
                    started.elapsed()
                );
            }
            Ok(url)
        }
        Err(message) => {
            // If the watchdog was started it removes the directory itself
            // once its pipe is closed; doing it here too is harmless.
            let _ = fs::remove_dir_all(&dir);
            Err(message)
        }
    }
}

fn prepare_and_start(
    bins: &Binaries,
    runner: &Runner,
    dir: &Path,
    socket: &Path,
) -> Result<String, String> {
    if let Some(user) = &runner.user {
        let (uid, gid) = user_ids(user)?;
        std::os::unix::fs::chown(dir, Some(uid), Some(gid))
            .map_err(|err| format!("cannot chown {} to {user}: {err}", dir.display()))?;
        // The user must be able to reach the directory: TMPDIR could be
        // somewhere like /root/tmp.
        let reachable = runner
            .command(Path::new("test"), dir)
            .args(["-w"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !reachable {
            return Err(format!(
                "the throwaway PostgreSQL cluster runs as the user `{user}` because the tests \
                 run as root (initdb refuses root), but `{user}` cannot write to {}: set TMPDIR \
                 to a directory every user can enter (e.g. TMPDIR=/tmp) or set DATABASE_URL",
                dir.display()
            ));
        }
    }

    let data = dir.join("data");
    let output = runner
        .command(&bins.initdb, dir)
        .arg("-D")
        .arg(&data)
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|err| {
            format!(
                "cannot run {}: {err}; reinstall the Debian package `postgresql` or set \
                 DATABASE_URL",
                bins.initdb.display()
            )
        })?;
    if !output.status.success() {
        return Err(format!(
            "initdb failed ({}) for the throwaway PostgreSQL cluster in {}; fix the cause below \
             or set DATABASE_URL.\n--- stdout ---\n{}\n--- stderr ---\n{}",
            output.status,
            dir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }

    let log = dir.join("postgres.log");
    let server_pid_file = dir.join("postgres.pid");
    // The watchdog: start the server in the background, block until stdin
    // (a pipe from this process) reaches end of file, that is until this
    // process has exited, then stop the server and remove everything.
    let script = format!(
        "{postgres} -D {data} -p {PORT} -c listen_addresses= -c unix_socket_directories={dir} \
         -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
         -c max_connections=200 </dev/null >{log} 2>&1 &\n\
         p=$!\n\
         echo $p >{pidfile}\n\
         read _ignored\n\
         kill -INT $p 2>/dev/null\n\
         wait $p\n\
         rm -rf {dir}\n",
        postgres = sh_quote(&bins.postgres),
        data = sh_quote(&data),
        dir = sh_quote(dir),
        log = sh_quote(&log),
        pidfile = sh_quote(&server_pid_file),
    );
    let mut watchdog = runner.command(Path::new("/bin/sh"), dir);
    watchdog
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut watchdog, 0);
    let mut child = watchdog
        .spawn()
        .map_err(|err| format!("cannot start the PostgreSQL watchdog shell /bin/sh: {err}"))?;
    let pipe = child.stdin.take().expect("stdin was piped");

    match wait_until_ready(&mut child, dir, &data, socket, &server_pid_file) {
        Ok(()) => {
            // Keep the write end open until the process ends; the kernel
            // closes it then and the watchdog cleans up.
            std::mem::forget(pipe);
            Ok(format!(
                "postgres://postgres@localhost:{PORT}/postgres?host={}&sslmode=disable",
                url_encode_path(dir)
            ))
        }
        Err(reason) => {
            let log_text = fs::read_to_string(&log).unwrap_or_default();
            // Closing the pipe makes the watchdog stop the server (if it is
            // running at all) and remove the directory.
            drop(pipe);
            let _ = wait_with_timeout(&mut child, Duration::from_secs(10));
            Err(format!(
                "the throwaway PostgreSQL server in {} {reason}; fix the cause in its log \
                 below or set DATABASE_URL.\n--- postgres.log ---\n{log_text}",
                dir.display()
            ))
        }
    }
}

/// Polls until the server accepts connections, the way `pg_ctl -w` does: the
/// last line of `postmaster.pid` says `ready` and the socket exists.
fn wait_until_ready(
    watchdog: &mut Child,
    dir: &Path,
    data: &Path,
    socket: &Path,
    server_pid_file: &Path,
) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let ready = fs::read_to_string(data.join("postmaster.pid"))
            .map(|text| text.lines().nth(7).map(str::trim) == Some("ready"))
            .unwrap_or(false);
        if ready && socket.exists() {
            return Ok(());
        }
        if let Ok(Some(status)) = watchdog.try_wait() {
            return Err(format!(
                "could not be started: its watchdog shell exited early ({status}); if this \
                 runs as root, check that `runuser` (package util-linux) works in {}",
                dir.display()
            ));
        }
        if let Ok(text) = fs::read_to_string(server_pid_file) {
            if let Ok(pid) = text.trim().parse::<u32>() {
                if !process_alive(pid) {
                    return Err("exited during startup".to_string());
                }
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "did not accept connections within {}s",
                START_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    while child.try_wait()?.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Whether a process exists and is not a zombie (Linux `/proc`). Without
/// `/proc` this says `true` and the start timeout catches a dead server.
fn process_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state != "Z" && state != "X"),
        Err(err) if err.kind() == ErrorKind::NotFound => !Path::new("/proc/self").exists(),
        Err(_) => true,
    }
}

/// `initdb` and `postgres` from the first directory that has both: `PATH`
/// first (following symlinks, so that a `/usr/local/bin/initdb` link finds
/// the `postgres` of the same version), then `/usr/lib/postgresql/*/bin`,
/// highest version first.
fn find_binaries() -> Option<Binaries> {
    find_binaries_in(
        std::env::var_os("PATH").as_deref(),
        Path::new("/usr/lib/postgresql"),
    )
}

fn find_binaries_in(path_var: Option<&std::ffi::OsStr>, debian_root: &Path) -> Option<Binaries> {
    let mut candidates = Vec::new();
    if let Some(initdb) = path_var.and_then(|path| find_in(path, "initdb")) {
        if let Ok(real) = fs::canonicalize(&initdb) {
            candidates.extend(real.parent().map(Path::to_path_buf));
        }
        candidates.extend(initdb.parent().map(Path::to_path_buf));
    }
    candidates.extend(debian_bin_dirs(debian_root));
    candidates.into_iter().find_map(|bin| {
        let initdb = bin.join("initdb");
        let postgres = bin.join("postgres");
        (is_executable(&initdb) && is_executable(&postgres))
            .then_some(Binaries { initdb, postgres })
    })
}

/// `<root>/<version>/bin` for every version directory, highest first.
fn debian_bin_dirs(root: &Path) -> Vec<PathBuf> {
    let mut versions: Vec<(Vec<u64>, PathBuf)> = fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let key = version_key(&name)?;
            Some((key, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, path)| path).collect()
}

/// `"15"` -> `[15]`, `"9.6"` -> `[9, 6]`; `None` for anything else.
fn version_key(name: &str) -> Option<Vec<u64>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    find_in(&std::env::var_os("PATH")?, program)
}

fn find_in(path_var: &std::ffi::OsStr, program: &str) -> Option<PathBuf> {
    std::env::split_paths(path_var)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Whether the effective uid is 0, read from `/proc/self/status` (the crate
/// has no libc dependency and forbids `unsafe`), falling back to `id -u`.
fn effective_uid_is_root() -> bool {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        if let Some(line) = status.lines().find(|line| line.starts_with("Uid:")) {
            // Uid: real effective saved filesystem
            if let Some(euid) = line.split_whitespace().nth(2) {
                return euid == "0";
            }
        }
    }
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

fn unprivileged_user() -> Result<String, String> {
    if find_in_path("runuser").is_none() && find_in_path("setpriv").is_none() {
        return Err(
            "the tests run as root, where initdb refuses to work, and neither `runuser` nor \
             `setpriv` is available to switch to an unprivileged user: install the Debian \
             package `util-linux`, run the tests as a normal user, or set DATABASE_URL"
                .to_string(),
        );
    }
    UNPRIVILEGED_USERS
        .iter()
        .find(|user| user_ids(user).is_ok())
        .map(|user| user.to_string())
        .ok_or_else(|| {
            "the tests run as root, where initdb refuses to work, and there is no `postgres` \
             (or `nobody`) user to run the cluster as: install the Debian package `postgresql` \
             (it creates the `postgres` user), run the tests as a normal user, or set \
             DATABASE_URL"
                .to_string()
        })
}

/// Uid and gid of a user, through `id` so that NSS sources count too.
fn user_ids(user: &str) -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").arg(flag).arg(user).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    match (id("-u"), id("-g")) {
        (Some(uid), Some(gid)) => Ok((uid, gid)),
        _ => Err(format!("no user `{user}` on this machine")),
    }
}

/// Single-quotes a path for `sh`.
fn sh_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

/// Percent-encodes a path for use in a URL (query value or sqlite path):
/// everything but unreserved characters and `/`.
fn url_encode_path(path: &Path) -> String {
    let mut out = String::new();
    for byte in path.as_os_str().as_encoded_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(*byte));
            }
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

fn unique_temp_path(prefix: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos()
    ))
}

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// `on_both_stores!(a, b, …)`: for each `name`, a test `sqlite::name` and a test
/// `postgres::name`, both running the async body `name(url)` defined beside the call.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (url, _guard) = $crate::sqlite_url();
                    super::$name(&url).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let url = $crate::fresh_database().await;
                    super::$name(&url).await;
                }
            )*
        }
    };
}

/// `both_stores!(name, body)`: a module `name` with two tests, `on_sqlite` and `on_postgres`,
/// each running the async test body `body(url)` (defined beside the call) on a fresh SQLite
/// file or a fresh PostgreSQL database.
#[macro_export]
macro_rules! both_stores {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test]
            async fn on_sqlite() {
                let (url, _guard) = $crate::sqlite_url();
                super::$body(&url).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                let url = $crate::fresh_database().await;
                super::$body(&url).await;
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_the_path() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/old", "new"),
            "postgres://u:p@h:5432/new"
        );
        assert_eq!(
            with_database("postgres://u@h/old?sslmode=disable&x=1", "new"),
            "postgres://u@h/new?sslmode=disable&x=1"
        );
        assert_eq!(with_database("postgres://u@h", "new"), "postgres://u@h/new");
        assert_eq!(
            with_database("postgresql://u@h?host=/tmp/x", "new"),
            "postgresql://u@h/new?host=/tmp/x"
        );
        assert_eq!(
            with_database(
                "postgres://postgres@localhost:5432/postgres?host=/tmp/a/b",
                "db"
            ),
            "postgres://postgres@localhost:5432/db?host=/tmp/a/b"
        );
    }

    #[test]
    fn versions_sort_numerically() {
        let root = TempDirGuard::new("prorata-testkit-unit");
        for v in ["9.6", "15", "16", "main", "10"] {
            fs::create_dir(root.path().join(v)).unwrap();
        }
        let dirs = debian_bin_dirs(root.path());
        let names: Vec<_> = dirs
            .iter()
            .map(|d| d.parent().unwrap().file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["16", "15", "10", "9.6"]);
    }

    fn fake_bin_dir(dir: &Path, programs: &[&str]) {
        use std::os::unix::fs::PermissionsExt;
        fs::create_dir_all(dir).unwrap();
        for program in programs {
            let file = dir.join(program);
            fs::write(&file, "#!/bin/sh\n").unwrap();
            fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    #[test]
    fn binaries_come_from_path_first_then_the_highest_debian_version() {
        let root = TempDirGuard::new("prorata-testkit-unit");
        let debian = root.path().join("lib");
        fake_bin_dir(&debian.join("13/bin"), &["initdb", "postgres"]);
        fake_bin_dir(&debian.join("16/bin"), &["initdb", "postgres"]);
        // A version without the server package: skipped.
        fake_bin_dir(&debian.join("17/bin"), &["psql"]);
        let path_dir = root.path().join("path");
        fake_bin_dir(&path_dir, &["initdb", "postgres"]);

        let found = find_binaries_in(None, &debian).unwrap();
        assert_eq!(found.initdb, debian.join("16/bin/initdb"));
        assert_eq!(found.postgres, debian.join("16/bin/postgres"));

        let path_var = std::env::join_paths([root.path().join("empty"), path_dir.clone()]).unwrap();
        let found = find_binaries_in(Some(&path_var), &debian).unwrap();
        assert_eq!(found.initdb, path_dir.join("initdb"));
    }

    #[test]
    fn no_binaries_means_the_install_message() {
        let root = TempDirGuard::new("prorata-testkit-unit");
        let empty = std::ffi::OsString::new();
        assert!(find_binaries_in(Some(&empty), &root.path().join("none")).is_none());
        assert!(MISSING_POSTGRES.contains("apt-get install -y postgresql"));
        assert!(MISSING_POSTGRES.contains("DATABASE_URL"));
    }

    #[test]
    fn url_encoding_and_quoting() {
        assert_eq!(
            url_encode_path(Path::new("/tmp/a b?#%")),
            "/tmp/a%20b%3F%23%25"
        );
        assert_eq!(sh_quote(Path::new("/tmp/it's")), r"'/tmp/it'\''s'");
    }

    #[test]
    fn temp_dir_guard_removes_its_directory() {
        let (url, guard) = sqlite_url();
        let dir = guard.path().to_path_buf();
        assert!(dir.is_dir());
        assert!(url.starts_with("sqlite:///") && url.ends_with("/test.sqlite3?mode=rwc"));
        fs::write(dir.join("test.sqlite3"), b"x").unwrap();
        drop(guard);
        assert!(!dir.exists());
    }
}

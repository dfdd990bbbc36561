//! Virus scanning of uploaded files by a ClamAV daemon (issue 14): a small client of clamd's
//! `zINSTREAM` command, over a unix socket or TCP.
//!
//! The protocol: the command `zINSTREAM\0`, then the file as chunks each prefixed with its
//! length (4 bytes, big-endian), a zero-length chunk to end, and one reply ended by `\0`:
//! `stream: OK`, `stream: <signature> FOUND`, or `<why> ERROR` (the stream too long for the
//! daemon's `StreamMaxLength`, for one).
//!
//! The invariant the engine keeps with it: when a scanner is configured, no file is stored
//! unscanned. A daemon that cannot be reached, errs, answers something else or takes longer
//! than the time limit is a [`ScanError`], which refuses the upload (503) rather than
//! letting the file through. Scanning is network I/O, done before any transaction opens.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The time limit of one scan (connecting, sending, the daemon's verdict) unless
/// [`Scanner::with_timeout`] gives another.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes sent per chunk.
const CHUNK: usize = 64 * 1024;

/// The longest reply read: a signature name is short.
const MAX_REPLY: usize = 4096;

/// Where clamd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A unix socket (Debian's `/run/clamav/clamd.ctl`).
    Unix(PathBuf),
    /// `host:port` (clamd's `TCPSocket`).
    Tcp(String),
}

impl Address {
    /// `host:port` when it reads as one (no `/`, a port after the last colon), else a socket
    /// path.
    pub fn parse(s: &str) -> Address {
        let tcp = !s.contains('/')
            && s.rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if tcp {
            Address::Tcp(s.to_string())
        } else {
            Address::Unix(PathBuf::from(s))
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Unix(path) => write!(f, "{}", path.display()),
            Address::Tcp(addr) => f.write_str(addr),
        }
    }
}

/// What the daemon found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// The signature's name, as clamd reports it (e.g. `Eicar-Test-Signature`).
    Infected(String),
}

/// Why a file could not be scanned: the upload must be refused, never let through.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("the virus scanner at {0} cannot be reached: {1}")]
    Connect(Address, std::io::Error),
    #[error("the virus scanner at {0} failed: {1}")]
    Io(Address, std::io::Error),
    #[error("the virus scanner at {0} did not answer within {1:?}")]
    Timeout(Address, Duration),
    /// The daemon's own error (`... ERROR`), e.g. a stream over its size limit.
    #[error("the virus scanner at {0} could not scan the file: {1}")]
    Daemon(Address, String),
    #[error("the virus scanner at {0} gave an unexpected answer: {1:?}")]
    Reply(Address, String),
}

/// A clamd client: each scan opens its own connection.
#[derive(Debug, Clone)]
pub struct Scanner {
    address: Address,
    timeout: Duration,
}

impl Scanner {
    /// The daemon at `address`: a socket path or `host:port` ([`Address::parse`]).
    pub fn new(address: &str) -> Scanner {
        Scanner {
            address: Address::parse(address),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same scanner with another time limit per scan.
    pub fn with_timeout(self, timeout: Duration) -> Scanner {
        Scanner { timeout, ..self }
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Scans `bytes`: clean, or the signature found; an error when the daemon could not say.
    pub async fn scan(&self, bytes: &[u8]) -> Result<Verdict, ScanError> {
        let reply = self.exchange(|stream| instream(stream, bytes)).await?;
        let reply = reply.strip_prefix("stream: ").unwrap_or(&reply);
        if reply == "OK" {
            Ok(Verdict::Clean)
        } else if let Some(signature) = reply.strip_suffix(" FOUND") {
            Ok(Verdict::Infected(signature.trim().to_string()))
        } else if let Some(why) = reply.strip_suffix(" ERROR") {
            Err(ScanError::Daemon(self.address.clone(), why.trim().into()))
        } else {
            Err(ScanError::Reply(self.address.clone(), reply.into()))
        }
    }

    /// Whether the daemon answers (`zPING` → `PONG`): for a server to warn at start-up.
    pub async fn ping(&self) -> Result<(), ScanError> {
        let reply = self
            .exchange(|mut stream| async move {
                stream.write_all(b"zPING\0").await?;
                read_reply(&mut stream).await
            })
            .await?;
        if reply == "PONG" {
            Ok(())
        } else {
            Err(ScanError::Reply(self.address.clone(), reply))
        }
    }

    /// Connects and runs `talk` on the connection, all within the time limit.
    async fn exchange<F, Fut>(&self, talk: F) -> Result<String, ScanError>
    where
        F: FnOnce(Box<dyn Stream>) -> Fut,
        Fut: std::future::Future<Output = std::io::Result<String>>,
    {
        let address = self.address.clone();
        let work = async {
            let stream: Box<dyn Stream> = match &address {
                Address::Unix(path) => Box::new(
                    tokio::net::UnixStream::connect(path)
                        .await
                        .map_err(|e| ScanError::Connect(address.clone(), e))?,
                ),
                Address::Tcp(addr) => Box::new(
                    tokio::net::TcpStream::connect(addr.as_str())
                        .await
                        .map_err(|e| ScanError::Connect(address.clone(), e))?,
                ),
            };
            talk(stream)
                .await
                .map_err(|e| ScanError::Io(address.clone(), e))
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| ScanError::Timeout(self.address.clone(), self.timeout))?
    }
}

/// A connection to the daemon, whichever the transport.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Sends `bytes` with `zINSTREAM` and reads the reply.
async fn instream(mut stream: Box<dyn Stream>, bytes: &[u8]) -> std::io::Result<String> {
    stream.write_all(b"zINSTREAM\0").await?;
    for chunk in bytes.chunks(CHUNK) {
        let len = u32::try_from(chunk.len()).map_err(std::io::Error::other)?;
        stream.write_all(&len.to_be_bytes()).await?;
        stream.write_all(chunk).await?;
    }
    stream.write_all(&0u32.to_be_bytes()).await?;
    stream.flush().await?;
    read_reply(&mut stream).await
}

/// One reply, up to its `\0` (or the end of the connection), trimmed.
async fn read_reply(stream: &mut Box<dyn Stream>) -> std::io::Result<String> {
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        if let Some(end) = reply.iter().position(|&b| b == 0) {
            reply.truncate(end);
            break;
        }
        if reply.len() > MAX_REPLY {
            return Err(std::io::Error::other("reply too long"));
        }
    }
    Ok(String::from_utf8_lossy(&reply).trim().to_string())
}

/// The name of a signature as a person reads it: without the `.UNOFFICIAL` clamd adds to
/// signatures of a database it cannot verify (a local one), which says where the signature
/// came from, not what was found.
pub fn signature_name(signature: &str) -> &str {
    signature.strip_suffix(".UNOFFICIAL").unwrap_or(signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_a_socket_path_unless_it_reads_as_host_and_port() {
        assert_eq!(
            Address::parse("/run/clamav/clamd.ctl"),
            Address::Unix("/run/clamav/clamd.ctl".into())
        );
        assert_eq!(
            Address::parse("clamd.sock"),
            Address::Unix("clamd.sock".into())
        );
        assert_eq!(
            Address::parse("127.0.0.1:3310"),
            Address::Tcp("127.0.0.1:3310".into())
        );
        assert_eq!(
            Address::parse("clamav:3310"),
            Address::Tcp("clamav:3310".into())
        );
        assert_eq!(
            Address::parse("./run:3310/x"),
            Address::Unix("./run:3310/x".into())
        );
    }

    #[test]
    fn a_local_signature_is_named_without_its_unofficial_mark() {
        assert_eq!(
            signature_name("Eicar-Test-Signature.UNOFFICIAL"),
            "Eicar-Test-Signature"
        );
        assert_eq!(
            signature_name("Win.Test.EICAR_HDB-1"),
            "Win.Test.EICAR_HDB-1"
        );
    }

    /// A fake daemon on a unix socket answering `reply` after reading the whole stream,
    /// which it returns.
    async fn fake_daemon(
        dir: &std::path::Path,
        reply: &'static [u8],
    ) -> (PathBuf, tokio::task::JoinHandle<Vec<u8>>) {
        let path = dir.join("fake.sock");
        let listener = tokio::net::UnixListener::bind(&path).expect("bind");
        let task = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.expect("accept");
            let mut command = [0u8; 10];
            conn.read_exact(&mut command).await.expect("command");
            assert_eq!(&command, b"zINSTREAM\0");
            let mut file = Vec::new();
            loop {
                let len = conn.read_u32().await.expect("length") as usize;
                if len == 0 {
                    break;
                }
                let mut chunk = vec![0u8; len];
                conn.read_exact(&mut chunk).await.expect("chunk");
                file.extend(chunk);
            }
            conn.write_all(reply).await.expect("reply");
            file
        });
        (path, task)
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("prorata-scan-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[tokio::test]
    async fn the_file_goes_in_length_prefixed_chunks_and_the_reply_is_read() {
        let dir = temp_dir("chunks");
        let (path, daemon) = fake_daemon(&dir, b"stream: Some.Sig-1 FOUND\0").await;
        let file: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let verdict = Scanner::new(path.to_str().expect("utf-8"))
            .scan(&file)
            .await
            .expect("scanned");
        assert_eq!(verdict, Verdict::Infected("Some.Sig-1".into()));
        assert_eq!(daemon.await.expect("daemon"), file);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_daemon_error_or_an_odd_reply_is_an_error_not_a_clean_file() {
        for (reply, daemon_error) in [
            (&b"INSTREAM size limit exceeded. ERROR\0"[..], true),
            (&b"stream: maybe\0"[..], false),
            (&b""[..], false),
        ] {
            let dir = temp_dir("odd");
            let (path, daemon) = fake_daemon(&dir, reply).await;
            let got = Scanner::new(path.to_str().expect("utf-8"))
                .scan(b"%PDF-1.7")
                .await;
            match got {
                Err(ScanError::Daemon(..)) if daemon_error => {}
                Err(ScanError::Reply(..)) if !daemon_error => {}
                other => panic!("{reply:?}: {other:?}"),
            }
            daemon.await.expect("daemon");
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[tokio::test]
    async fn a_daemon_that_does_not_answer_in_time_is_an_error() {
        let dir = temp_dir("slow");
        let path = dir.join("slow.sock");
        // Bound, never accepted: the connection waits in the backlog.
        let _listener = tokio::net::UnixListener::bind(&path).expect("bind");
        let got = Scanner::new(path.to_str().expect("utf-8"))
            .with_timeout(Duration::from_millis(200))
            .scan(b"%PDF-1.7")
            .await;
        assert!(matches!(got, Err(ScanError::Timeout(..))), "{got:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

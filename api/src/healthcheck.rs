//! `healthcheck` subcommand: the image's HEALTHCHECK, so the image needs no curl.
//!
//! A minimal HTTP/1.1 GET over std's TcpStream: the probe only needs the status line.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(2);

/// GET http://127.0.0.1:{port}/health; Ok only for a 200 within [`TIMEOUT`].
pub fn check(port: u16) -> io::Result<()> {
    let deadline = Instant::now() + TIMEOUT;
    let mut stream =
        TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), TIMEOUT)?;
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;

    let mut head = Vec::new();
    let mut buf = [0; 512];
    while !head.contains(&b'\n') {
        stream.set_read_timeout(Some(remaining(deadline)?))?;
        match stream.read(&mut buf)? {
            0 => break,
            n => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let status_line = head.lines().next().unwrap_or_default();
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        _ => Err(io::Error::other(format!("unhealthy: {status_line:?}"))),
    }
}

fn remaining(deadline: Instant) -> io::Result<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|left| !left.is_zero())
        .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "health check timed out"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// Serves one connection on 127.0.0.1 with a canned `response`; returns the port.
    fn serve_once(response: &'static str) -> u16 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = [0; 1024];
            let n = conn.read(&mut request).unwrap();
            assert!(request[..n].starts_with(b"GET /health HTTP/1.1\r\n"));
            conn.write_all(response.as_bytes()).unwrap();
        });
        port
    }

    #[test]
    fn ok_on_200() {
        let port = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        check(port).unwrap();
    }

    #[test]
    fn fails_on_other_status() {
        let port = serve_once("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n");
        assert!(check(port).is_err());
    }

    #[test]
    fn fails_when_nothing_listens() {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(check(port).is_err());
    }

    #[test]
    fn times_out_on_a_silent_server() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let started = Instant::now();
        let err = check(port).unwrap_err();
        assert!(started.elapsed() < TIMEOUT + Duration::from_millis(500));
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            "{err}"
        );
        drop(listener);
    }
}

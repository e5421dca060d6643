//! A rate-limited HTTP/1.1 client (wrk cannot pace): keep-alive connections, each on its own
//! thread, each sending on a fixed schedule and reading the whole response before the next.
//! A connection that falls behind sends at once until it has caught up, so the total count
//! is the rate times the duration unless the server cannot keep up.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::net;

/// Requests per second one connection is asked to carry.
const PER_CONNECTION: f64 = 1000.0;

#[derive(Clone, Copy, Debug, Default)]
pub struct Paced {
    /// Requests answered with a complete response.
    pub completed: u64,
    pub errors: u64,
    pub elapsed: Duration,
}

impl Paced {
    pub fn rate(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64()
    }
}

/// `GET path` to 127.0.0.1:`port` at `rate` requests/s for `duration`.
pub fn run(port: u16, path: &str, rate: f64, duration: Duration) -> anyhow::Result<Paced> {
    let connections = ((rate / PER_CONNECTION).ceil() as usize).max(1);
    let interval = Duration::from_secs_f64(connections as f64 / rate);
    let start = Instant::now() + Duration::from_millis(50);
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let threads: Vec<_> = (0..connections)
        .map(|i| {
            let request = request.clone();
            // Staggered, so the connections do not send in bursts.
            let first = start + interval.mul_f64(i as f64 / connections as f64);
            std::thread::spawn(move || {
                connection(port, &request, first, interval, start + duration)
            })
        })
        .collect();
    let mut total = Paced::default();
    for t in threads {
        let r = t
            .join()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
        total.completed += r.completed;
        total.errors += r.errors;
    }
    total.elapsed = duration;
    Ok(total)
}

fn connection(
    port: u16,
    request: &str,
    first: Instant,
    interval: Duration,
    end: Instant,
) -> anyhow::Result<Paced> {
    let mut result = Paced::default();
    let mut stream: Option<BufReader<TcpStream>> = None;
    let mut due = first;
    while due < end {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        due += interval;
        if stream.is_none() {
            let s = TcpStream::connect(net::loopback(port)).context("connecting")?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            stream = Some(BufReader::new(s));
        }
        let s = stream.as_mut().expect("connected above");
        match exchange(s, request.as_bytes()) {
            Ok(()) => result.completed += 1,
            Err(_) => {
                result.errors += 1;
                stream = None;
            }
        }
    }
    Ok(result)
}

/// Writes the request and reads one response with a Content-Length body.
fn exchange(s: &mut BufReader<TcpStream>, request: &[u8]) -> anyhow::Result<()> {
    s.get_mut().write_all(request)?;
    let mut line = String::new();
    let mut length = 0usize;
    let mut first = true;
    loop {
        line.clear();
        if s.read_line(&mut line)? == 0 {
            anyhow::bail!("connection closed");
        }
        if first {
            anyhow::ensure!(line.contains(" 200 "), "status line {line:?}");
            first = false;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse()?;
        }
    }
    let mut body = vec![0; length];
    s.read_exact(&mut body)?;
    Ok(())
}

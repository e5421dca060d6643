//! The server fixtures on their own (no sonde): each starts, serves a request over plain
//! std TCP, and is gone after drop.
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use sonde_tests::servers::{Nginx, PythonChunked, PythonHttp, wait_for_port};

/// One HTTP response: status line, header block, body (as sent, not de-chunked).
struct Response {
    status_line: String,
    headers: String,
    body: Vec<u8>,
}

fn split_response(raw: &[u8]) -> Response {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete header block");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let (status_line, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
    Response {
        status_line: status_line.to_owned(),
        headers: headers.to_ascii_lowercase(),
        body: raw[end + 4..].to_vec(),
    }
}

/// Sends raw request bytes and reads until the server closes the connection.
fn exchange(port: u16, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(request).expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    raw
}

fn get(port: u16, path: &str) -> Response {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    split_response(&exchange(port, request.as_bytes()))
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = std::str::from_utf8(&body[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.trim(), 16).expect("hex chunk size");
        body = &body[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        assert_eq!(&body[size..size + 2], b"\r\n", "chunk ends with CRLF");
        body = &body[size + 2..];
    }
}

fn refuses(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_err()
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn nginx_serves_files_and_stops() {
    let nginx = Nginx::start(&[
        ("hello.txt", b"hello from nginx\n".to_vec()),
        ("nested/dir/data.json", br#"{"ok":true}"#.to_vec()),
    ])
    .expect("start nginx");
    let port = nginx.port();

    let resp = get(port, "/hello.txt");
    assert!(
        resp.status_line.starts_with("HTTP/1.1 200"),
        "{}",
        resp.status_line
    );
    assert_eq!(resp.body, b"hello from nginx\n");
    let resp = get(port, "/nested/dir/data.json");
    assert!(resp.status_line.starts_with("HTTP/1.1 200"));
    assert!(resp.headers.contains("content-type: application/json"));
    assert!(
        get(port, "/missing")
            .status_line
            .starts_with("HTTP/1.1 404")
    );

    let workers = nginx.worker_pids();
    assert_eq!(workers.len(), 1, "worker_processes 1: {workers:?}");
    assert!(workers.iter().all(|&w| w != nginx.pid()));

    drop(nginx);
    assert!(refuses(port), "port {port} still open after drop");
    assert!(
        !pid_alive(workers[0]),
        "worker {} outlived drop",
        workers[0]
    );
}

#[test]
fn python_http_server_http10() {
    let server = PythonHttp::start(&[("index.txt", b"python says hi".to_vec())])
        .expect("start python http.server");
    let resp = get(server.port(), "/index.txt");
    assert!(
        resp.status_line.starts_with("HTTP/1.0 200"),
        "{}",
        resp.status_line
    );
    assert_eq!(resp.body, b"python says hi");
    let (port, pid) = (server.port(), server.pid());
    drop(server);
    assert!(refuses(port));
    assert!(!pid_alive(pid));
}

#[test]
fn python_http_server_http11_keeps_alive() {
    let server = PythonHttp::start_with_protocol(&[("a.txt", b"aaaa".to_vec())], "HTTP/1.1")
        .expect("start python http.server (HTTP/1.1)");
    // Two requests on one connection: the first keeps it open, the second closes it.
    let raw = exchange(
        server.port(),
        b"GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n\
          GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{text}");
    assert_eq!(text.matches("aaaa").count(), 2, "{text}");
}

#[test]
fn python_chunked_and_big_responses() {
    let server = PythonChunked::start().expect("start chunked server");
    wait_for_port(server.port(), Duration::from_secs(1)).expect("already accepting");

    let resp = get(server.port(), "/chunked");
    assert!(
        resp.status_line.starts_with("HTTP/1.1 200"),
        "{}",
        resp.status_line
    );
    assert!(resp.headers.contains("transfer-encoding: chunked"));
    let body = dechunk(&resp.body);
    assert_eq!(
        body.len(),
        PythonChunked::CHUNKS * PythonChunked::CHUNK_SIZE
    );
    for (i, chunk) in body.chunks(PythonChunked::CHUNK_SIZE).enumerate() {
        let letter = b'a' + (i % 26) as u8;
        assert!(chunk.iter().all(|&b| b == letter), "chunk {i}");
    }

    let resp = get(server.port(), "/big");
    assert!(resp.status_line.starts_with("HTTP/1.1 200"));
    assert!(
        resp.headers
            .contains(&format!("content-length: {}", PythonChunked::BIG_SIZE))
    );
    assert_eq!(resp.body.len(), PythonChunked::BIG_SIZE);
    assert!(
        resp.body
            .iter()
            .enumerate()
            .all(|(i, &b)| b == b'a' + (i % 26) as u8)
    );

    assert!(
        get(server.port(), "/other")
            .status_line
            .starts_with("HTTP/1.1 404")
    );
}

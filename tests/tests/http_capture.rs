//! End to end: the real kernel programs, real servers on loopback, the real sonde binary, and
//! a real OTLP receiver. Counts are exact.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

use sonde_tests::{
    agent::{Sonde, curl_keepalive, privileged},
    otlp::{OtlpReceiver, ReceivedSpan},
    servers::{Nginx, PythonChunked, PythonHttp},
};

const WAIT: Duration = Duration::from_secs(20);

fn otlp_env(endpoint: String, protocol: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ]
}

fn port_args(port: u16) -> Vec<String> {
    vec!["--port".into(), port.to_string()]
}

fn servers_on(spans: &[ReceivedSpan], port: u16) -> Vec<ReceivedSpan> {
    spans
        .iter()
        .filter(|s| s.is_server() && s.attr("server.port") == Some(&port.to_string()))
        .cloned()
        .collect()
}

fn clients_to(spans: &[ReceivedSpan], port: u16) -> Vec<ReceivedSpan> {
    spans
        .iter()
        .filter(|s| s.is_client() && s.attr("server.port") == Some(&port.to_string()))
        .cloned()
        .collect()
}

fn describe(spans: &[ReceivedSpan]) -> String {
    spans
        .iter()
        .take(20)
        .map(|s| format!("{} kind={} {:?}\n", s.name, s.kind, s.attributes))
        .collect()
}

/// nginx on loopback, 200 requests over 4 keep-alive connections made by curl: exactly 200
/// SERVER spans named GET and exactly 200 CLIENT spans, over OTLP/gRPC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_keepalive_exact_counts_grpc() -> anyhow::Result<()> {
    if !privileged("nginx_keepalive_exact_counts_grpc") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let nginx = Nginx::start(&[("index.html", b"hello, sonde\n".to_vec())])?;
    let port = nginx.port();
    let sonde = Sonde::start(
        &port_args(port),
        &otlp_env(receiver.grpc_endpoint(), "grpc"),
    )?;

    let url = format!("http://127.0.0.1:{port}/index.html");
    let mut ok = 0;
    for _ in 0..4 {
        let urls = vec![url.clone(); 50];
        ok += tokio::task::spawn_blocking(move || curl_keepalive(&urls)).await??;
    }
    assert_eq!(ok, 200, "curl saw {ok} OK answers");

    receiver
        .wait_for_spans(
            |s| servers_on(s, port).len() >= 200 && clients_to(s, port).len() >= 200,
            WAIT,
        )
        .await;
    let status = sonde.stop()?;
    assert!(status.success(), "sonde exit: {status}");
    // After the flush at shutdown: nothing more, nothing less.
    let spans = receiver.spans();
    let servers = servers_on(&spans, port);
    let clients = clients_to(&spans, port);
    assert_eq!(servers.len(), 200, "server spans:\n{}", describe(&spans));
    assert_eq!(clients.len(), 200, "client spans:\n{}", describe(&spans));
    for s in &servers {
        assert_eq!(s.name, "GET");
        assert_eq!(s.attr("http.request.method"), Some("GET"));
        assert_eq!(s.attr("url.path"), Some("/index.html"));
        assert_eq!(s.attr("http.response.status_code"), Some("200"));
        assert_eq!(s.attr("network.peer.address"), Some("127.0.0.1"));
        assert!(s.attr("network.peer.port").is_some());
        assert_eq!(
            s.resource.get("service.name").map(String::as_str),
            Some("nginx")
        );
        assert!(s.end_ns >= s.start_ns);
    }
    for c in &clients {
        assert_eq!(c.name, "GET");
        assert_eq!(c.attr("url.full"), Some(url.as_str()));
        assert_eq!(c.attr("http.response.status_code"), Some("200"));
        assert_eq!(
            c.resource.get("service.name").map(String::as_str),
            Some("curl")
        );
    }
    Ok(())
}

/// The same over OTLP http/protobuf.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_exact_counts_http_protobuf() -> anyhow::Result<()> {
    if !privileged("nginx_exact_counts_http_protobuf") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let nginx = Nginx::start(&[("a.txt", b"a".to_vec())])?;
    let port = nginx.port();
    let sonde = Sonde::start(
        &port_args(port),
        &otlp_env(receiver.http_endpoint(), "http/protobuf"),
    )?;
    let urls = vec![format!("http://127.0.0.1:{port}/a.txt"); 25];
    let ok = tokio::task::spawn_blocking(move || curl_keepalive(&urls)).await??;
    assert_eq!(ok, 25);
    receiver
        .wait_for_spans(|s| servers_on(s, port).len() >= 25, WAIT)
        .await;
    assert!(sonde.stop()?.success());
    let spans = receiver.spans();
    assert_eq!(servers_on(&spans, port).len(), 25, "{}", describe(&spans));
    assert_eq!(clients_to(&spans, port).len(), 25, "{}", describe(&spans));
    Ok(())
}

/// Python's http.server reads with recvfrom and writes with sendto (HTTP/1.0, one connection
/// per request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_http_server_exact_counts() -> anyhow::Result<()> {
    if !privileged("python_http_server_exact_counts") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let server = PythonHttp::start(&[("data.txt", b"python data\n".to_vec())])?;
    let port = server.port();
    let sonde = Sonde::start(
        &port_args(port),
        &otlp_env(receiver.grpc_endpoint(), "grpc"),
    )?;
    let urls = vec![format!("http://127.0.0.1:{port}/data.txt"); 30];
    let ok = tokio::task::spawn_blocking(move || curl_keepalive(&urls)).await??;
    assert_eq!(ok, 30);
    receiver
        .wait_for_spans(
            |s| servers_on(s, port).len() >= 30 && clients_to(s, port).len() >= 30,
            WAIT,
        )
        .await;
    assert!(sonde.stop()?.success());
    let spans = receiver.spans();
    let servers = servers_on(&spans, port);
    assert_eq!(servers.len(), 30, "{}", describe(&spans));
    assert_eq!(clients_to(&spans, port).len(), 30, "{}", describe(&spans));
    for s in &servers {
        assert_eq!(s.attr("http.response.status_code"), Some("200"));
        assert_eq!(s.attr("url.path"), Some("/data.txt"));
        assert_eq!(
            s.resource.get("service.name").map(String::as_str),
            Some("http.server")
        );
    }
    Ok(())
}

/// A 1 MiB Content-Length body and a chunked body spread over many writes and reads: one
/// span each on each side, status 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_and_chunked_responses() -> anyhow::Result<()> {
    if !privileged("large_and_chunked_responses") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let server = PythonChunked::start()?;
    let port = server.port();
    let sonde = Sonde::start(
        &port_args(port),
        &otlp_env(receiver.grpc_endpoint(), "grpc"),
    )?;
    let urls = vec![
        format!("http://127.0.0.1:{port}/big"),
        format!("http://127.0.0.1:{port}/chunked"),
    ];
    let ok = tokio::task::spawn_blocking(move || curl_keepalive(&urls)).await??;
    assert_eq!(ok, 2);
    receiver
        .wait_for_spans(
            |s| servers_on(s, port).len() >= 2 && clients_to(s, port).len() >= 2,
            WAIT,
        )
        .await;
    assert!(sonde.stop()?.success());
    let spans = receiver.spans();
    for side in [servers_on(&spans, port), clients_to(&spans, port)] {
        assert_eq!(side.len(), 2, "{}", describe(&spans));
        assert!(
            side.iter()
                .all(|s| s.attr("http.response.status_code") == Some("200")),
            "{}",
            describe(&side)
        );
    }
    let paths: Vec<_> = servers_on(&spans, port)
        .iter()
        .map(|s| s.attr("url.path").unwrap_or("").to_owned())
        .collect();
    assert!(
        paths.contains(&"/big".to_owned()) && paths.contains(&"/chunked".to_owned()),
        "{paths:?}"
    );
    Ok(())
}

/// Reads exactly `n` Content-Length responses from `stream`.
fn read_responses(stream: &mut TcpStream, n: usize) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    while complete_responses(&buf) < n {
        let got = stream.read(&mut chunk)?;
        anyhow::ensure!(got > 0, "server closed early");
        buf.extend_from_slice(&chunk[..got]);
    }
    Ok(())
}

fn complete_responses(mut buf: &[u8]) -> usize {
    let mut count = 0;
    while let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if buf.len() < head_end + 4 + len {
            break;
        }
        buf = &buf[head_end + 4 + len..];
        count += 1;
    }
    count
}

/// A keep-alive connection opened (and used) before sonde starts: its later requests make
/// spans. Attaching to services that already run is the point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_open_before_sonde_is_captured() -> anyhow::Result<()> {
    if !privileged("connection_open_before_sonde_is_captured") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let nginx = Nginx::start(&[("x.txt", b"x".to_vec())])?;
    let port = nginx.port();
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    let request = format!("GET /x.txt HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    read_responses(&mut stream, 1)?;

    let sonde = Sonde::start(
        &port_args(port),
        &otlp_env(receiver.grpc_endpoint(), "grpc"),
    )?;
    for _ in 0..5 {
        stream.write_all(request.as_bytes())?;
        read_responses(&mut stream, 1)?;
    }
    receiver
        .wait_for_spans(|s| servers_on(s, port).len() >= 5, WAIT)
        .await;
    assert!(sonde.stop()?.success());
    let spans = receiver.spans();
    assert_eq!(servers_on(&spans, port).len(), 5, "{}", describe(&spans));
    Ok(())
}

/// Five requests written in one write on one connection: five server spans, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_one_span_each_in_order() -> anyhow::Result<()> {
    if !privileged("pipelined_requests_one_span_each_in_order") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let files: Vec<(String, Vec<u8>)> = (1..=5)
        .map(|i| (format!("p{i}.txt"), vec![b'p'; i]))
        .collect();
    let file_refs: Vec<(&str, Vec<u8>)> =
        files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let nginx = Nginx::start(&file_refs)?;
    let port = nginx.port();
    let sonde = Sonde::start(
        &port_args(port),
        &otlp_env(receiver.grpc_endpoint(), "grpc"),
    )?;
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    let batch: String = (1..=5)
        .map(|i| format!("GET /p{i}.txt HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"))
        .collect();
    stream.write_all(batch.as_bytes())?;
    read_responses(&mut stream, 5)?;
    receiver
        .wait_for_spans(|s| servers_on(s, port).len() >= 5, WAIT)
        .await;
    assert!(sonde.stop()?.success());
    let mut servers = servers_on(&receiver.spans(), port);
    assert_eq!(servers.len(), 5, "{}", describe(&servers));
    servers.sort_by_key(|s| (s.end_ns, s.start_ns));
    let paths: Vec<&str> = servers
        .iter()
        .map(|s| s.attr("url.path").unwrap_or(""))
        .collect();
    assert_eq!(
        paths,
        ["/p1.txt", "/p2.txt", "/p3.txt", "/p4.txt", "/p5.txt"]
    );
    Ok(())
}

//! Loopback ports for test servers.
use std::net::TcpListener;

/// A TCP port on 127.0.0.1 that was free a moment ago: binds port 0, reads the port the
/// kernel chose, and closes the socket. Another process could take it before the caller
/// binds it; the kernel hands out ephemeral ports in a rotating order, so in practice that
/// does not happen within one test run.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    listener
        .local_addr()
        .expect("local address of a bound socket")
        .port()
}

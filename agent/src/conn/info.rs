//! Addresses and origin of a connection, from the kernel's CONN_OPEN event.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use sonde_common::{ConnEvent, role};

use crate::protocol::Role;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    pub pid: u32,
    pub fd: u32,
    pub local: SocketAddr,
    pub peer: SocketAddr,
    /// From accept (server) or connect (client); None for connections open before sonde.
    pub role_hint: Option<Role>,
    /// The kernel's command name of the thread that opened (or first used) the connection.
    pub comm: String,
    /// `peer.ip()` as text, formatted once per connection instead of once per span (several
    /// span attributes carry it).
    pub peer_ip: compact_str::CompactString,
}

const AF_INET: u32 = 2;

fn addr(family: u32, bytes: [u8; 16]) -> IpAddr {
    if family == AF_INET {
        return IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]));
    }
    let v6 = Ipv6Addr::from(bytes);
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; show them as IPv4.
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

impl ConnInfo {
    /// A connection between `local` and `peer`, its derived fields filled in.
    pub fn new(
        pid: u32,
        fd: u32,
        local: SocketAddr,
        peer: SocketAddr,
        role_hint: Option<Role>,
        comm: String,
    ) -> ConnInfo {
        ConnInfo {
            pid,
            fd,
            local,
            peer,
            role_hint,
            comm,
            peer_ip: compact_str::format_compact!("{}", peer.ip()),
        }
    }

    pub fn from_event(ev: &ConnEvent) -> ConnInfo {
        ConnInfo::new(
            ev.header.pid,
            ev.header.fd,
            SocketAddr::new(addr(ev.family, ev.local_addr), ev.local_port as u16),
            SocketAddr::new(addr(ev.family, ev.peer_addr), ev.peer_port as u16),
            match ev.role {
                role::ACCEPTED => Some(Role::Server),
                role::CONNECTED => Some(Role::Client),
                _ => None,
            },
            {
                let end = ev
                    .comm
                    .iter()
                    .position(|b| *b == 0)
                    .unwrap_or(ev.comm.len());
                String::from_utf8_lossy(&ev.comm[..end]).into_owned()
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonde_common::EventHeader;

    #[test]
    fn v4_and_mapped_v6() {
        let mut ev = ConnEvent {
            header: EventHeader {
                pid: 5,
                fd: 9,
                ..Default::default()
            },
            family: 2,
            role: role::ACCEPTED,
            local_port: 80,
            peer_port: 5555,
            local_addr: [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            peer_addr: [10, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            comm: [0; 16],
        };
        let info = ConnInfo::from_event(&ev);
        assert_eq!(info.local, "127.0.0.1:80".parse().unwrap());
        assert_eq!(info.peer, "10.1.2.3:5555".parse().unwrap());
        assert_eq!(info.role_hint, Some(Role::Server));
        assert_eq!(info.peer_ip, "10.1.2.3");
        ev.family = 10;
        ev.peer_addr = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 2];
        let mapped = ConnInfo::from_event(&ev);
        assert_eq!(mapped.peer, "127.0.0.2:5555".parse().unwrap());
        assert_eq!(mapped.peer_ip, "127.0.0.2");
    }
}

//! Free loopback ports, found by binding port 0 and releasing it.

use std::net::{TcpListener, UdpSocket};

/// A TCP port free right now on 127.0.0.1.
pub fn free_tcp() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A UDP port free right now on 127.0.0.1.
pub fn free_udp() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

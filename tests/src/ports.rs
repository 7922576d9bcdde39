//! Free loopback ports for the servers tests start, taken below the kernel's ephemeral range.
//!
//! A port found by binding port 0 comes from the ephemeral range, where every outgoing
//! connection of every test also takes its source port: one of them could take it between its
//! release here and the server's bind ("Address already in use"). Below the range only other
//! picks like these compete, and they start at different random points.

use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The ports handed out: 20000..32000, under Linux's default ephemeral range (32768–60999).
const FIRST: u32 = 20_000;
const SPAN: u32 = 12_000;

/// Where this process's next probe starts: a point of its own, then sequential.
static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);

fn next_candidate() -> u16 {
    let seed = (std::process::id()
        ^ SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()))
        % SPAN;
    let _ = NEXT.compare_exchange(u32::MAX, seed, Ordering::Relaxed, Ordering::Relaxed);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % SPAN;
    u16::try_from(FIRST + n).unwrap_or(u16::MAX)
}

fn find(bindable: impl Fn(u16) -> bool) -> u16 {
    for _ in 0..SPAN {
        let port = next_candidate();
        if bindable(port) {
            return port;
        }
    }
    0
}

/// A TCP port free right now on 127.0.0.1.
pub fn free_tcp() -> u16 {
    find(|p| TcpListener::bind(("127.0.0.1", p)).is_ok())
}

/// A UDP port free right now on 127.0.0.1.
pub fn free_udp() -> u16 {
    find(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_bindable_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| free_tcp()).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len());
        assert!(ports.iter().all(|p| (20_000..32_000).contains(p)));
        let udp = free_udp();
        assert!(UdpSocket::bind(("127.0.0.1", udp)).is_ok());
    }
}

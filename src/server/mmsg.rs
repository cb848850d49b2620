//! Batched UDP I/O on Linux: one `recvmmsg` takes every query waiting on
//! the socket (up to a batch), one `sendmmsg` sends their answers. Under
//! load this halves the system calls per query, which is most of the cost
//! of a cached or authoritative answer.
//!
//! All memory the kernel writes to is owned here, and the headers that
//! point into it are rebuilt right before each call, so nothing depends on
//! these structures staying in place between calls.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Datagrams taken per system call.
pub const BATCH: usize = 32;
/// Room per datagram: the largest UDP payload there is, so the kernel never
/// has to cut one.
const SLOT: usize = 65535;

/// Received datagrams and where they came from.
pub struct Received {
    buffers: Box<[u8]>,
    lens: [usize; BATCH],
    peers: [libc::sockaddr_storage; BATCH],
    peer_lens: [libc::socklen_t; BATCH],
}

impl Received {
    pub fn new() -> Self {
        Self {
            buffers: vec![0u8; SLOT * BATCH].into_boxed_slice(),
            lens: [0; BATCH],
            // SAFETY: sockaddr_storage is plain data; all zeroes is valid.
            peers: unsafe { zeroed() },
            peer_lens: [0; BATCH],
        }
    }

    /// Receives up to `BATCH` datagrams without blocking.
    pub fn receive(&mut self, fd: RawFd) -> io::Result<usize> {
        // SAFETY: plain C structs, zero is a valid initial state.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        let whole = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        for i in 0..BATCH {
            let slot = &mut self.buffers[i * SLOT..(i + 1) * SLOT];
            point(
                &mut headers[i],
                &mut iovecs[i],
                slot,
                &mut self.peers[i],
                whole,
            );
        }
        // SAFETY: every header points at a live iovec over its own slot of
        // `buffers` and at its own `peers` entry, all of which outlive the
        // call; BATCH matches the array length.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for (i, header) in headers.iter().enumerate().take(n) {
            self.lens[i] = (header.msg_len as usize).min(SLOT);
            self.peer_lens[i] = header.msg_hdr.msg_namelen;
        }
        Ok(n)
    }

    /// Who sent the `i`th datagram.
    pub fn peer(&self, i: usize) -> Option<SocketAddr> {
        let storage = &self.peers[i];
        match i32::from(storage.ss_family) {
            libc::AF_INET => {
                // SAFETY: the kernel wrote a sockaddr_in here (family
                // AF_INET); sockaddr_storage is large and aligned enough.
                let sin = unsafe {
                    &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>()
                };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: as above, for sockaddr_in6.
                let sin6 = unsafe {
                    &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
                };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    /// The `i`th datagram of the last `receive`.
    pub fn packet(&self, i: usize) -> &[u8] {
        &self.buffers[i * SLOT..i * SLOT + self.lens[i]]
    }
}

/// Answers waiting to be sent, each with its destination.
pub struct Replies {
    buffers: Vec<Vec<u8>>,
    peers: [libc::sockaddr_storage; BATCH],
    peer_lens: [libc::socklen_t; BATCH],
    len: usize,
}

impl Replies {
    pub fn new(capacity: usize) -> Self {
        Self {
            buffers: (0..BATCH).map(|_| Vec::with_capacity(capacity)).collect(),
            // SAFETY: plain data, as above.
            peers: unsafe { zeroed() },
            peer_lens: [0; BATCH],
            len: 0,
        }
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The buffer for the next reply, to be kept with `commit`.
    pub fn next_buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buffers[self.len]
    }

    /// Keeps the reply just written, for the sender of received datagram
    /// `from`.
    pub fn commit(&mut self, received: &Received, from: usize) {
        self.peers[self.len] = received.peers[from];
        self.peer_lens[self.len] = received.peer_lens[from];
        self.len += 1;
    }

    /// Sends replies `start..len` without blocking; returns how many went.
    pub fn send(&mut self, fd: RawFd, start: usize) -> io::Result<usize> {
        let count = self.len - start;
        // SAFETY: plain C structs, zero is a valid initial state.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for j in 0..count {
            let i = start + j;
            let (buffer, peer) = (&mut self.buffers[i], &mut self.peers[i]);
            point(
                &mut headers[j],
                &mut iovecs[j],
                buffer,
                peer,
                self.peer_lens[i],
            );
        }
        // SAFETY: the first `count` headers point at live reply buffers and
        // addresses owned by `self`, which outlive the call.
        let sent = unsafe {
            libc::sendmmsg(
                fd,
                headers.as_mut_ptr(),
                count as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sent as usize)
    }
}

/// Points a message header at one buffer and one address.
fn point(
    header: &mut libc::mmsghdr,
    iovec: &mut libc::iovec,
    buffer: &mut [u8],
    peer: &mut libc::sockaddr_storage,
    peer_len: libc::socklen_t,
) {
    *iovec = libc::iovec {
        iov_base: buffer.as_mut_ptr().cast(),
        iov_len: buffer.len(),
    };
    header.msg_hdr.msg_name = (peer as *mut libc::sockaddr_storage).cast();
    header.msg_hdr.msg_namelen = peer_len;
    header.msg_hdr.msg_iov = iovec;
    header.msg_hdr.msg_iovlen = 1;
}

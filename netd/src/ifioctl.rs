//! Interface ioctls on a datagram socket: a name's index, a link brought up. Each is one
//! syscall, where netlink answers with the whole link, whose parse (a bridge's or a bridge
//! port's dozens of attributes) cost more than an attach's own requests. They act in the
//! network namespace the socket was made in.

use std::os::fd::{AsRawFd, OwnedFd};

/// A socket for interface ioctls in the calling thread's namespace.
pub(crate) fn socket() -> std::io::Result<OwnedFd> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(std::io::Error::from)
}

/// The index of the interface `name` in the namespace of `sock` (SIOCGIFINDEX); None when
/// there is no such interface.
pub(crate) fn index(sock: &OwnedFd, name: &str) -> std::io::Result<Option<u32>> {
    let Some(mut req) = request(name) else {
        return Ok(None);
    };
    // SAFETY: SIOCGIFINDEX reads the name and writes the index within `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFINDEX, &mut req) } != 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENODEV) => Ok(None),
            _ => Err(e),
        };
    }
    // SAFETY: the ioctl filled the union's index member.
    Ok(Some(unsafe { req.ifr_ifru.ifru_ifindex } as u32))
}

/// Brings up the loopback interface of the calling thread's namespace (a new namespace's
/// starts down).
pub(crate) fn loopback_up() -> std::io::Result<()> {
    let sock = socket()?;
    let mut req = request("lo").expect("a valid name");
    // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write the flags within `req`.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// An ifreq naming `name`; None for a name no interface can have (empty, or too long).
fn request(name: &str) -> Option<libc::ifreq> {
    // SAFETY: ifreq is plain data; an all-zero one is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.is_empty() || name.len() >= req.ifr_name.len() {
        return None;
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Some(req)
}

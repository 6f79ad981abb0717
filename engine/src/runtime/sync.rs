//! The shim <-> container-init channel: a SOCK_SEQPACKET socketpair (message boundaries kept,
//! close-on-exec, so a successful exec shows up as end-of-file on the shim's side).

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Messages, one byte of kind and an optional text.
pub(crate) const CGROUP_JOINED: u8 = b'C';
pub(crate) const READY: u8 = b'R';
pub(crate) const GO: u8 = b'G';
pub(crate) const ERROR: u8 = b'E';
pub(crate) const TTY_MASTER: u8 = b'T';

pub(crate) struct Channel(pub OwnedFd);

pub(crate) fn pair() -> nix::Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel(a), Channel(b)))
}

pub(crate) enum Message {
    Kind(u8, String),
    Fd(OwnedFd),
    Closed,
}

impl Channel {
    pub fn send(&self, kind: u8, text: &str) -> nix::Result<()> {
        let mut buf = vec![kind];
        buf.extend_from_slice(text.as_bytes());
        sendmsg::<()>(
            self.0.as_raw_fd(),
            &[IoSlice::new(&buf)],
            &[],
            MsgFlags::empty(),
            None,
        )
        .map(drop)
    }

    pub fn send_fd(&self, fd: RawFd) -> nix::Result<()> {
        let fds = [fd];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        sendmsg::<()>(
            self.0.as_raw_fd(),
            &[IoSlice::new(&[TTY_MASTER])],
            &cmsg,
            MsgFlags::empty(),
            None,
        )
        .map(drop)
    }

    /// The kind of a one-byte message carrying no descriptor, read with read(2) (what the
    /// init can still call under any container's seccomp filter); end-of-file is an error.
    pub fn recv_plain(&self) -> nix::Result<u8> {
        let mut byte = [0u8; 1];
        loop {
            match nix::unistd::read(self.0.as_raw_fd(), &mut byte) {
                Err(nix::errno::Errno::EINTR) => continue,
                Ok(0) => return Err(nix::errno::Errno::EPIPE),
                Ok(_) => return Ok(byte[0]),
                Err(e) => return Err(e),
            }
        }
    }

    pub fn recv(&self) -> nix::Result<Message> {
        let mut buf = vec![0u8; 4096];
        let mut cmsg_space = nix::cmsg_space!([RawFd; 1]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = loop {
            match recvmsg::<()>(
                self.0.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg_space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other?,
            }
        };
        let mut passed = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    // SAFETY: the kernel just installed these descriptors in our table for us;
                    // nothing else owns them.
                    passed = fds.first().map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
        let n = msg.bytes;
        if n == 0 {
            return Ok(Message::Closed);
        }
        if let Some(fd) = passed {
            return Ok(Message::Fd(fd));
        }
        Ok(Message::Kind(
            buf[0],
            String::from_utf8_lossy(&buf[1..n]).into_owned(),
        ))
    }
}

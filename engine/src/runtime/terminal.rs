//! The caller's terminal during an interactive session: raw mode while attached, restored on
//! drop, and its size passed on to the container's terminal.

use nix::sys::termios::{self, SetArg, Termios};
use std::os::fd::BorrowedFd;

pub struct RawMode {
    fd: i32,
    saved: Termios,
}

impl RawMode {
    /// Puts `fd` in raw mode if it is a terminal; `None` otherwise.
    pub fn enable(fd: i32) -> Option<RawMode> {
        // SAFETY: fd 0/1 stay open for the whole process; the borrow ends within this call.
        let bfd = unsafe { BorrowedFd::borrow_raw(fd) };
        let saved = termios::tcgetattr(bfd).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(bfd, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: as in enable.
        let bfd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let _ = termios::tcsetattr(bfd, SetArg::TCSANOW, &self.saved);
    }
}

/// The window size of terminal `fd`, as (rows, cols).
pub fn size(fd: i32) -> Option<(u16, u16)> {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we own.
    (unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0).then_some((ws.ws_row, ws.ws_col))
}

/// Copies the window size of terminal `from` to terminal `to`.
pub fn copy_size(from: i32, to: i32) {
    if let Some((rows, cols)) = size(from) {
        set_size(to, rows, cols);
    }
}

/// Sets the window size of terminal `fd` (a pty's master or slave; tty_ioctl(4)
/// TIOCSWINSZ); its foreground process group gets SIGWINCH.
pub fn set_size(fd: i32, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads the struct we pass.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

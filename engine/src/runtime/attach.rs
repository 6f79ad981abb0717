//! The attach protocol between a shim and its clients (`run` without -d, `attach`, `start -a`).
//!
//! Frames are `[kind: u8][len: u32 big-endian][payload]`. Shim to client: STDOUT, STDERR, EXIT
//! (payload: the exit code as decimal text), ERROR (the start failed; payload "CODE message").
//! Client to shim: STDIN, RESIZE (rows u16, cols u16), CLOSE_STDIN.

use std::io::{self, Read, Write};

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const EXIT: u8 = 3;
pub const RESIZE: u8 = 4;
pub const CLOSE_STDIN: u8 = 5;
pub const ERROR: u8 = 6;

pub fn encode(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(5 + payload.len());
    v.push(kind);
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

pub fn write_frame(w: &mut impl Write, kind: u8, payload: &[u8]) -> io::Result<()> {
    w.write_all(&encode(kind, payload))
}

/// Reads one frame; `None` at a clean end of stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 5];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > 1 << 20 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "attach frame too large",
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((head[0], payload)))
}

/// Splits a byte buffer received from a client into complete frames, keeping the rest.
pub fn split_frames(buf: &mut Vec<u8>) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        if buf.len() < 5 {
            break;
        }
        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        if buf.len() < 5 + len {
            break;
        }
        let payload = buf[5..5 + len].to_vec();
        out.push((buf[0], payload));
        buf.drain(..5 + len);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_split() {
        let mut bytes = encode(STDOUT, b"hello");
        bytes.extend(encode(EXIT, b"3"));
        bytes.extend(&encode(STDERR, b"partial")[..4]);
        let mut cursor = io::Cursor::new(bytes.clone());
        assert_eq!(
            read_frame(&mut cursor).unwrap(),
            Some((STDOUT, b"hello".to_vec()))
        );
        let mut buf = bytes;
        let frames = split_frames(&mut buf);
        assert_eq!(
            frames,
            vec![(STDOUT, b"hello".to_vec()), (EXIT, b"3".to_vec())]
        );
        assert_eq!(buf.len(), 4);
    }
}

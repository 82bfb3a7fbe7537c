//! The WebSocket protocol (RFC 6455), server side, as far as the queue socket needs it: the
//! handshake's answer, frames in (masked, maybe fragmented, control frames in between) and
//! frames out, written straight from the shared message bytes.
//!
//! Why not a crate: actix's dispatcher keeps two 8 KB buffers for the life of every connection,
//! and the WebSocket crates keep their own read and write buffers too. A household's devices
//! each hold a socket open all day, and the queue's goal is under 20 KB per idle socket; here an
//! idle socket holds only the bytes it has not read yet.

use std::io::IoSlice;

use sha1::{Digest, Sha1};
use tokio::net::TcpStream;

/// Opcodes.
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;
const CONTINUATION: u8 = 0x0;

/// Close codes.
pub const NORMAL: u16 = 1000;
pub const PROTOCOL_ERROR: u16 = 1002;
pub const NOT_UTF8: u16 = 1007;
pub const POLICY: u16 = 1008;
pub const TOO_BIG: u16 = 1009;

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    use base64::Engine;
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// A whole message from the client.
#[derive(Debug, PartialEq)]
pub enum Message {
    Text(String),
    /// Binary data (only its length: the queue takes text).
    Binary(usize),
    Ping(Vec<u8>),
    Pong,
    /// The client closes, with its code if it gave one.
    Close(Option<u16>),
}

/// A client that broke the protocol: the socket closes with `code`.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{why}")]
pub struct Violation {
    pub code: u16,
    pub why: &'static str,
}

fn violation(code: u16, why: &'static str) -> Violation {
    Violation { code, why }
}

/// Frames in: bytes as they arrive, taken apart into messages.
pub struct Reader {
    buf: Vec<u8>,
    /// A fragmented message so far: its opcode and data.
    partial: Option<(u8, Vec<u8>)>,
    max: usize,
}

impl Reader {
    /// A reader for messages of at most `max` bytes, starting with bytes already read.
    pub fn new(max: usize, already: &[u8]) -> Reader {
        Reader {
            buf: already.to_vec(),
            partial: None,
            max,
        }
    }

    /// Takes what the socket has ready without waiting. `Ok(false)`: the client is gone.
    pub fn fill(&mut self, stream: &TcpStream) -> std::io::Result<bool> {
        // At most 64 KB a turn, so one busy socket does not hold up the others.
        for _ in 0..16 {
            if self.buf.capacity() - self.buf.len() < 1024 {
                self.buf.reserve(4096);
            }
            match stream.try_read_buf(&mut self.buf) {
                Ok(0) => return Ok(false),
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// The next whole message in what has been read, if there is one.
    pub fn message(&mut self) -> Result<Option<Message>, Violation> {
        loop {
            let Some((fin, opcode, payload, used)) = self.frame()? else {
                self.trim();
                return Ok(None);
            };
            self.buf.drain(..used);
            match opcode {
                PING => return Ok(Some(Message::Ping(payload))),
                PONG => return Ok(Some(Message::Pong)),
                CLOSE => {
                    return match payload.len() {
                        0 => Ok(Some(Message::Close(None))),
                        1 => Err(violation(PROTOCOL_ERROR, "a close frame of one byte")),
                        _ => Ok(Some(Message::Close(Some(u16::from_be_bytes([
                            payload[0], payload[1],
                        ]))))),
                    }
                }
                CONTINUATION => {
                    let Some((_, data)) = self.partial.as_mut() else {
                        return Err(violation(PROTOCOL_ERROR, "a continuation of nothing"));
                    };
                    if data.len() + payload.len() > self.max {
                        return Err(violation(TOO_BIG, "the message is too big"));
                    }
                    data.extend_from_slice(&payload);
                    if fin {
                        let (opcode, data) = self.partial.take().expect("checked above");
                        return whole(opcode, data).map(Some);
                    }
                }
                _ => {
                    if self.partial.is_some() {
                        return Err(violation(
                            PROTOCOL_ERROR,
                            "a new message inside a fragmented one",
                        ));
                    }
                    if fin {
                        return whole(opcode, payload).map(Some);
                    }
                    self.partial = Some((opcode, payload));
                }
            }
        }
    }

    /// One whole frame at the start of the buffer: (fin, opcode, unmasked payload, bytes used).
    #[allow(clippy::type_complexity)]
    fn frame(&self) -> Result<Option<(bool, u8, Vec<u8>, usize)>, Violation> {
        let b = &self.buf;
        if b.len() < 2 {
            return Ok(None);
        }
        let (fin, rsv, opcode) = (b[0] & 0x80 != 0, b[0] & 0x70, b[0] & 0x0F);
        let (masked, short) = (b[1] & 0x80 != 0, (b[1] & 0x7F) as usize);
        if rsv != 0 {
            return Err(violation(
                PROTOCOL_ERROR,
                "reserved bits set (no extension was agreed)",
            ));
        }
        if !matches!(opcode, CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG) {
            return Err(violation(PROTOCOL_ERROR, "an unknown opcode"));
        }
        if !masked {
            return Err(violation(PROTOCOL_ERROR, "a client frame without a mask"));
        }
        let control = opcode & 0x8 != 0;
        if control && (!fin || short > 125) {
            return Err(violation(
                PROTOCOL_ERROR,
                "a control frame fragmented or over 125 bytes",
            ));
        }
        let (len, mut at) = match short {
            126 => {
                if b.len() < 4 {
                    return Ok(None);
                }
                (u16::from_be_bytes([b[2], b[3]]) as u64, 4)
            }
            127 => {
                if b.len() < 10 {
                    return Ok(None);
                }
                (
                    u64::from_be_bytes(b[2..10].try_into().expect("8 bytes")),
                    10,
                )
            }
            n => (n as u64, 2),
        };
        if len > i64::MAX as u64 {
            return Err(violation(
                PROTOCOL_ERROR,
                "a 64-bit frame length with its top bit set",
            ));
        }
        let pending = self.partial.as_ref().map_or(0, |(_, d)| d.len() as u64);
        // Saturating: a length near 2^63 must not wrap past the limit (fuzzing found it).
        if len.saturating_add(pending) > self.max as u64 {
            return Err(violation(TOO_BIG, "the message is too big"));
        }
        let len = len as usize;
        if b.len() < at + 4 + len {
            return Ok(None);
        }
        let mask = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        at += 4;
        let payload = b[at..at + len]
            .iter()
            .enumerate()
            .map(|(i, x)| x ^ mask[i % 4])
            .collect();
        Ok(Some((fin, opcode, payload, at + len)))
    }

    /// Gives back the room a big message took, once it is handled.
    fn trim(&mut self) {
        if self.buf.capacity() > 16 * 1024 && self.buf.len() < 4096 {
            self.buf.shrink_to(4096);
        }
    }
}

fn whole(opcode: u8, data: Vec<u8>) -> Result<Message, Violation> {
    match opcode {
        TEXT => String::from_utf8(data)
            .map(Message::Text)
            .map_err(|_| violation(NOT_UTF8, "a text message that is not UTF-8")),
        _ => Ok(Message::Binary(data.len())),
    }
}

/// The header of an unmasked frame (the server's) with this opcode and payload length.
fn header(opcode: u8, len: usize) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    h[0] = 0x80 | opcode;
    if len < 126 {
        h[1] = len as u8;
        (h, 2)
    } else if len <= u16::MAX as usize {
        h[1] = 126;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        (h, 4)
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        (h, 10)
    }
}

/// Writes one frame. Waits while the client's receive window is full, so callers bound it with
/// a timeout.
pub async fn write(stream: &TcpStream, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
    let (h, n) = header(opcode, payload.len());
    write_all(stream, &h[..n], payload).await
}

/// Writes `head` then `body` (in one system call when it can), waiting as [`write`] does.
pub async fn write_all(stream: &TcpStream, head: &[u8], body: &[u8]) -> std::io::Result<()> {
    let n = head.len();
    let total = n + body.len();
    let mut sent = 0;
    while sent < total {
        stream.writable().await?;
        let result = if sent < n {
            stream.try_write_vectored(&[IoSlice::new(&head[sent..]), IoSlice::new(body)])
        } else {
            stream.try_write(&body[sent - n..])
        };
        match result {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(k) => sent += k,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A close frame's payload: the code.
pub fn close_payload(code: u16) -> [u8; 2] {
    code.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked, as clients must.
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let (h, n) = header(opcode, payload.len());
        let mut out = h[..n].to_vec();
        if !fin {
            out[0] &= 0x7F;
        }
        out[1] |= 0x80;
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn read_all(bytes: &[u8]) -> Vec<Result<Message, Violation>> {
        let mut r = Reader::new(1 << 20, &[]);
        let mut out = Vec::new();
        // Byte by byte: a frame split anywhere must come out whole.
        for b in bytes {
            r.buf.push(*b);
            loop {
                match r.message() {
                    Ok(Some(m)) => out.push(Ok(m)),
                    Ok(None) => break,
                    Err(e) => {
                        out.push(Err(e));
                        return out;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_handshake_key_is_the_rfc_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn messages_come_whole_from_fragments_with_control_frames_between() {
        let mut bytes = frame(false, TEXT, b"{\"op\":");
        bytes.extend(frame(true, PING, b"hi"));
        bytes.extend(frame(true, CONTINUATION, "\"pause\"}é".as_bytes()));
        bytes.extend(frame(true, TEXT, &vec![b'x'; 70_000]));
        bytes.extend(frame(true, CLOSE, &close_payload(NORMAL)));
        let got = read_all(&bytes);
        assert_eq!(got[0], Ok(Message::Ping(b"hi".to_vec())));
        assert_eq!(got[1], Ok(Message::Text("{\"op\":\"pause\"}é".into())));
        assert_eq!(got[2], Ok(Message::Text("x".repeat(70_000))));
        assert_eq!(got[3], Ok(Message::Close(Some(NORMAL))));
    }

    #[test]
    fn protocol_breaches_are_refused_with_their_close_code() {
        let code = |bytes: Vec<u8>| read_all(&bytes).pop().unwrap().unwrap_err().code;
        let mut unmasked = frame(true, TEXT, b"hi");
        unmasked[1] &= 0x7F;
        assert_eq!(code(unmasked[..2].to_vec()), PROTOCOL_ERROR);
        assert_eq!(code(frame(true, TEXT, &[0xFF, 0xFE])), NOT_UTF8);
        assert_eq!(code(frame(true, CONTINUATION, b"x")), PROTOCOL_ERROR);
        assert_eq!(code(frame(false, PING, b"x")), PROTOCOL_ERROR);
        assert_eq!(code(frame(true, 0x3, b"x")), PROTOCOL_ERROR);
        let mut rsv = frame(true, TEXT, b"x");
        rsv[0] |= 0x40;
        assert_eq!(code(rsv), PROTOCOL_ERROR);
        let mut two = frame(false, TEXT, b"a");
        two.extend(frame(true, TEXT, b"b"));
        assert_eq!(code(two), PROTOCOL_ERROR);
        // Too big is known from the header, before the bytes arrive.
        let mut r = Reader::new(100, &frame(true, TEXT, &[b'x'; 101])[..4]);
        assert_eq!(r.message().unwrap_err().code, TOO_BIG);
        // 64-bit lengths that would wrap (found by fuzzing): refused, no overflow.
        let huge = |first: u8| {
            let mut h = vec![0x80, 0xFF, first, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
            h.extend([0x12, 0x34, 0x56, 0x78]);
            h
        };
        assert_eq!(code(huge(0x80)), PROTOCOL_ERROR);
        let mut after_a_fragment = frame(false, TEXT, b"a");
        after_a_fragment.extend(huge(0x7F));
        assert_eq!(code(after_a_fragment), TOO_BIG);
    }
}

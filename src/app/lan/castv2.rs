//! The Google Cast wire (CASTV2): TLS to port 8009, then messages framed as a 4-byte big-endian
//! length and a protobuf `CastMessage` (source, destination, namespace, a UTF-8 JSON payload).
//!
//! Cast devices present self-signed certificates that no public root vouches for, so the
//! certificate is not checked (the handshake's signatures still are): the link is encrypted,
//! not authenticated, the trade-off every Cast sender makes. The device is on the LAN, which is
//! not trusted, so frames are size-limited and parsed strictly.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

/// Cast devices refuse messages over 64 KiB; nothing larger is read from them either.
pub const MAX_FRAME: usize = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a write may block before the device counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);

/// One message on the wire, with a UTF-8 payload (binary payloads are for device
/// authentication, which a sender need not use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub source: String,
    pub destination: String,
    pub namespace: String,
    pub payload: String,
}

/// `message` as a frame: length, then the protobuf fields in order.
pub fn encode(message: &Message) -> Vec<u8> {
    let mut body = Vec::with_capacity(64 + message.payload.len());
    varint_field(&mut body, 1, 0); // protocol_version: CASTV2_1_0
    bytes_field(&mut body, 2, message.source.as_bytes());
    bytes_field(&mut body, 3, message.destination.as_bytes());
    bytes_field(&mut body, 4, message.namespace.as_bytes());
    varint_field(&mut body, 5, 0); // payload_type: STRING
    bytes_field(&mut body, 6, message.payload.as_bytes());
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

/// Reads one message from the start of `buf`: the message and the bytes it took, or None when
/// the frame is not complete yet.
pub fn decode(buf: &[u8]) -> Result<Option<(Message, usize)>> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_FRAME {
        bail!("a Cast message of {len} bytes (the most is {MAX_FRAME})");
    }
    let Some(body) = buf.get(4..4 + len) else {
        return Ok(None);
    };
    let mut m = Message {
        source: String::new(),
        destination: String::new(),
        namespace: String::new(),
        payload: String::new(),
    };
    let mut at = 0;
    while at < body.len() {
        let key = varint(body, &mut at)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                let v = varint(body, &mut at)?;
                if field == 1 && v != 0 {
                    bail!("a Cast message of protocol version {v}, not CASTV2_1_0");
                }
            }
            2 => {
                let n = usize::try_from(varint(body, &mut at)?)?;
                let value = at
                    .checked_add(n)
                    .and_then(|end| body.get(at..end))
                    .ok_or_else(|| anyhow!("a Cast message field runs past its end"))?;
                at += n;
                let text = || {
                    String::from_utf8(value.to_vec())
                        .map_err(|_| anyhow!("a Cast message field that is not UTF-8"))
                };
                match field {
                    2 => m.source = text()?,
                    3 => m.destination = text()?,
                    4 => m.namespace = text()?,
                    6 => m.payload = text()?,
                    _ => {} // a binary payload or a field from a newer protocol
                }
            }
            1 => at += 8,
            5 => at += 4,
            _ => bail!("a Cast message with a field of wire type {wire}"),
        }
    }
    if at != body.len() {
        bail!("a Cast message field runs past its end");
    }
    Ok(Some((m, 4 + len)))
}

fn varint_field(out: &mut Vec<u8>, field: u64, value: u64) {
    put_varint(out, field << 3);
    put_varint(out, value);
}

fn bytes_field(out: &mut Vec<u8>, field: u64, value: &[u8]) {
    put_varint(out, field << 3 | 2);
    put_varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint(buf: &[u8], at: &mut usize) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf
            .get(*at)
            .ok_or_else(|| anyhow!("a Cast message cut short"))?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    bail!("a Cast message with an overlong number")
}

/// A TLS connection to a Cast device. Each call reads the socket at most once, so a device
/// that trickles bytes cannot hold a caller past its own deadline.
pub struct Connection {
    tls: ClientConnection,
    sock: TcpStream,
    /// Plain text received and not yet read as messages.
    buf: Vec<u8>,
}

impl Connection {
    pub fn open(address: SocketAddr) -> Result<Connection> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        // Devices are reached by address; the name only has to be well-formed.
        let name = ServerName::IpAddress(address.ip().into());
        let tls = ClientConnection::new(Arc::new(config), name)?;
        let sock = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT)
            .with_context(|| format!("cannot reach the Cast device at {address}"))?;
        sock.set_nodelay(true)?;
        sock.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let mut c = Connection {
            tls,
            sock,
            buf: Vec::new(),
        };
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        while c.tls.is_handshaking() {
            let step = c.flush().and_then(|_| {
                if c.tls.wants_read() {
                    c.read_once(deadline.saturating_duration_since(Instant::now()))
                } else {
                    Ok(true)
                }
            });
            match step {
                Ok(true) => {}
                Ok(false) => bail!(
                    "{address} took the connection but did not finish the TLS handshake within {}s: is it a Cast device?",
                    CONNECT_TIMEOUT.as_secs()
                ),
                Err(e) => return Err(e.context(format!("the TLS handshake with {address} failed"))),
            }
        }
        c.flush()?;
        Ok(c)
    }

    /// Writes out what TLS has to send.
    fn flush(&mut self) -> Result<()> {
        while self.tls.wants_write() {
            self.tls
                .write_tls(&mut self.sock)
                .context("the Cast device stopped listening")?;
        }
        Ok(())
    }

    /// One read from the socket, waiting at most `wait`, and TLS's processing of it: false if
    /// nothing came in time.
    fn read_once(&mut self, wait: Duration) -> Result<bool> {
        if wait.is_zero() {
            return Ok(false);
        }
        self.sock.set_read_timeout(Some(wait))?;
        match self.tls.read_tls(&mut self.sock) {
            Ok(0) => bail!("the Cast device closed the connection"),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(false)
            }
            Err(e) => return Err(e).context("the Cast connection broke"),
        }
        self.tls
            .process_new_packets()
            .context("the Cast device sent something that is not TLS")?;
        Ok(true)
    }

    pub fn send(&mut self, message: &Message) -> Result<()> {
        self.tls
            .writer()
            .write_all(&encode(message))
            .context("the Cast connection is closed")?;
        self.flush()
    }

    /// The next message, waiting at most `wait`; None if none came.
    pub fn receive(&mut self, wait: Duration) -> Result<Option<Message>> {
        // Messages already read come first: one read may bring several.
        self.take_plain()?;
        if let Some(m) = self.message()? {
            return Ok(Some(m));
        }
        if !self.read_once(wait.max(Duration::from_millis(1)))? {
            return Ok(None);
        }
        self.take_plain()?;
        self.message()
    }

    /// Moves what TLS has decrypted into `buf`; whether there was any.
    fn take_plain(&mut self) -> Result<bool> {
        let mut chunk = [0u8; 8192];
        let mut any = false;
        loop {
            match self.tls.reader().read(&mut chunk) {
                Ok(0) => bail!("the Cast device closed the connection"),
                Ok(n) => {
                    any = true;
                    self.buf.extend_from_slice(&chunk[..n]);
                    if self.buf.len() > 4 + MAX_FRAME {
                        bail!("the Cast device sent more than one message can hold");
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(any),
                Err(e) => return Err(e).context("the Cast connection broke"),
            }
        }
    }

    fn message(&mut self) -> Result<Option<Message>> {
        Ok(decode(&self.buf)?.map(|(m, used)| {
            self.buf.drain(..used);
            m
        }))
    }
}

/// Accepts any certificate (see the module's note), but checks that the handshake was signed
/// by the key in it.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload: &str) -> Message {
        Message {
            source: "sender-0".into(),
            destination: "receiver-0".into(),
            namespace: "urn:x-cast:com.google.cast.tp.heartbeat".into(),
            payload: payload.into(),
        }
    }

    #[test]
    fn messages_read_back_as_written_even_in_pieces() {
        let m = message(&format!(r#"{{"type":"PING","pad":"{}"}}"#, "é".repeat(200)));
        let frame = encode(&m);
        for cut in 0..frame.len() {
            assert_eq!(decode(&frame[..cut]).unwrap(), None, "cut at {cut}");
        }
        let mut two = frame.clone();
        two.extend_from_slice(&encode(&message("{}")));
        let (first, used) = decode(&two).unwrap().unwrap();
        assert_eq!((first, used), (m, frame.len()));
        assert_eq!(decode(&two[used..]).unwrap().unwrap().0, message("{}"));
    }

    #[test]
    fn hostile_frames_are_refused_not_trusted() {
        // Larger than any device may send.
        assert!(decode(&(MAX_FRAME as u32 + 1).to_be_bytes()).is_err());
        // A field longer than its frame, a number that never ends, a wrong version, bad UTF-8.
        for body in [
            vec![0x12, 0x7f, b'a'],
            vec![
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
            vec![0x08, 0x05],
            vec![0x32, 0x02, 0xc3, 0x28],
            vec![0x0b],
        ] {
            let mut frame = (body.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(&body);
            assert!(decode(&frame).is_err(), "{body:?}");
        }
        // Unknown fields from a newer protocol are skipped.
        let mut body = vec![0x3a, 0x01, 0x00, 0x45, 1, 2, 3, 4];
        body.extend_from_slice(&encode(&message("{}"))[4..]);
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        assert_eq!(decode(&frame).unwrap().unwrap().0, message("{}"));
    }
}

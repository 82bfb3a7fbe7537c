//! AirPlay 1 (RAOP) as a sender speaks it, the wire parts only: the RTSP session (OPTIONS,
//! ANNOUNCE with the stream's format, SETUP of the UDP ports, RECORD, SET_PARAMETER, FLUSH,
//! TEARDOWN), the RTP packets (audio, sync, timing answers, resends), uncompressed ALAC frames,
//! and the DMAP metadata receivers show. What to send and when is [`super::airplay`]'s job.
//!
//! The stream is 44.1 kHz 16-bit stereo in ALAC frames of 352 samples, sent unencrypted: every
//! AirPlay 1 receiver decodes ALAC, and those that take unencrypted streams say so with `et=0`
//! in their mDNS record (the others are listed as unsupported).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};

pub const RATE: u32 = 44_100;
pub const FRAMES_PER_PACKET: usize = 352;
/// How far behind the sender's clock the receiver plays (2 s, as iTunes asks): room for a LAN's
/// hiccups.
pub const LATENCY_FRAMES: u32 = 88_200;
const PAYLOAD_TYPE: u8 = 0x60;
const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// The most of an answer read (a hostile receiver could send without end).
const MAX_ANSWER: usize = 64 * 1024;

/// An RTSP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The UDP ports the receiver gave in SETUP.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub audio: u16,
    pub control: u16,
    pub timing: u16,
}

/// The RTSP connection to a receiver.
pub struct Rtsp {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    cseq: u32,
    url: String,
    session: Option<String>,
    instance: String,
    pub local_ip: IpAddr,
    pub remote_ip: IpAddr,
}

impl Rtsp {
    pub fn connect(address: SocketAddr) -> Result<Rtsp> {
        let stream = TcpStream::connect_timeout(&address, ANSWER_WITHIN)
            .with_context(|| format!("cannot connect to the AirPlay receiver at {address}"))?;
        stream.set_read_timeout(Some(ANSWER_WITHIN))?;
        stream.set_write_timeout(Some(ANSWER_WITHIN))?;
        stream.set_nodelay(true)?;
        let local_ip = stream.local_addr()?.ip();
        let id: u64 = rand::random();
        Ok(Rtsp {
            reader: BufReader::new(stream.try_clone()?),
            stream,
            cseq: 0,
            url: format!("rtsp://{local_ip}/{}", id % 1_000_000_000),
            session: None,
            instance: format!("{:016X}", rand::random::<u64>()),
            local_ip,
            remote_ip: address.ip(),
        })
    }

    /// Sends a request and reads its answer; an answer other than 200 is an error that says
    /// what the receiver refused.
    pub fn ask(
        &mut self,
        method: &str,
        headers: &[(&str, String)],
        body: Option<(&str, &[u8])>,
    ) -> Result<Answer> {
        self.cseq += 1;
        let target = if method == "OPTIONS" { "*" } else { &self.url };
        let mut head = format!(
            "{method} {target} RTSP/1.0\r\nCSeq: {}\r\nUser-Agent: Houseband/{}\r\nClient-Instance: {}\r\nDACP-ID: {}\r\n",
            self.cseq,
            env!("CARGO_PKG_VERSION"),
            self.instance,
            self.instance,
        );
        if let Some(s) = &self.session {
            head.push_str(&format!("Session: {s}\r\n"));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some((kind, bytes)) = body {
            head.push_str(&format!(
                "Content-Type: {kind}\r\nContent-Length: {}\r\n",
                bytes.len()
            ));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        if let Some((_, bytes)) = body {
            out.extend_from_slice(bytes);
        }
        self.stream
            .write_all(&out)
            .with_context(|| format!("the AirPlay receiver did not take {method}"))?;
        let answer = read_answer(&mut self.reader)
            .with_context(|| format!("the AirPlay receiver did not answer {method}"))?;
        match answer.status {
            200 => Ok(answer),
            401 => bail!("the AirPlay receiver asks for a password, which Houseband cannot give"),
            453 => bail!("the AirPlay receiver is busy playing from another sender"),
            s => bail!(
                "the AirPlay receiver refused {method}: {s} {}",
                answer.reason
            ),
        }
    }

    /// OPTIONS, ANNOUNCE, SETUP: the session, with our `control` and `timing` ports. The
    /// receiver's ports.
    pub fn setup(&mut self, control: u16, timing: u16) -> Result<Ports> {
        self.ask("OPTIONS", &[], None)?;
        let sdp = format!(
            "v=0\r\no=iTunes {id} 0 IN IP4 {local}\r\ns=iTunes\r\nc=IN IP4 {remote}\r\nt=0 0\r\n\
             m=audio 0 RTP/AVP 96\r\na=rtpmap:96 AppleLossless\r\n\
             a=fmtp:96 {FRAMES_PER_PACKET} 0 16 40 10 14 2 255 0 0 {RATE}\r\n",
            id = self.url.rsplit('/').next().unwrap_or("1"),
            local = self.local_ip,
            remote = self.remote_ip,
        );
        self.ask("ANNOUNCE", &[], Some(("application/sdp", sdp.as_bytes())))?;
        let answer = self.ask(
            "SETUP",
            &[(
                "Transport",
                format!("RTP/AVP/UDP;unicast;interleaved=0-1;mode=record;control_port={control};timing_port={timing}"),
            )],
            None,
        )?;
        let (session, ports) = session_and_ports(&answer)?;
        self.session = Some(session);
        Ok(ports)
    }

    pub fn record(&mut self, seq: u16, rtptime: u32) -> Result<()> {
        self.ask(
            "RECORD",
            &[
                ("Range", "npt=0-".into()),
                ("RTP-Info", format!("seq={seq};rtptime={rtptime}")),
            ],
            None,
        )
        .map(drop)
    }

    /// Drops what the receiver holds: packets from `seq`/`rtptime` on come next.
    pub fn flush(&mut self, seq: u16, rtptime: u32) -> Result<()> {
        self.ask(
            "FLUSH",
            &[("RTP-Info", format!("seq={seq};rtptime={rtptime}"))],
            None,
        )
        .map(drop)
    }

    /// 0 to 100; 0 is silent.
    pub fn volume(&mut self, volume: u8) -> Result<()> {
        let text = format!("volume: {:.6}\r\n", decibels(volume));
        self.ask(
            "SET_PARAMETER",
            &[],
            Some(("text/parameters", text.as_bytes())),
        )
        .map(drop)
    }

    /// What plays from `rtptime`: title, artist, album.
    pub fn metadata(&mut self, rtptime: u32, title: &str, artist: &str, album: &str) -> Result<()> {
        let body = dmap_item(&[("minm", title), ("asar", artist), ("asal", album)]);
        self.ask(
            "SET_PARAMETER",
            &[("RTP-Info", format!("rtptime={rtptime}"))],
            Some(("application/x-dmap-tagged", &body)),
        )
        .map(drop)
    }

    pub fn artwork(&mut self, rtptime: u32, mime: &str, picture: &[u8]) -> Result<()> {
        self.ask(
            "SET_PARAMETER",
            &[("RTP-Info", format!("rtptime={rtptime}"))],
            Some((mime, picture)),
        )
        .map(drop)
    }

    /// Where the song is: its start, now, and its end, as RTP times.
    pub fn progress(&mut self, start: u32, now: u32, end: u32) -> Result<()> {
        let text = format!("progress: {start}/{now}/{end}\r\n");
        self.ask(
            "SET_PARAMETER",
            &[],
            Some(("text/parameters", text.as_bytes())),
        )
        .map(drop)
    }

    /// A keep-alive.
    pub fn ping(&mut self) -> Result<()> {
        self.ask("OPTIONS", &[], None).map(drop)
    }

    pub fn teardown(&mut self) -> Result<()> {
        let done = self.ask("TEARDOWN", &[], None).map(drop);
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        done
    }
}

/// Reads one RTSP answer (status line, headers, body) from a receiver, at most [`MAX_ANSWER`]
/// bytes of it: a receiver is a device on the LAN, which may send anything.
pub(crate) fn read_answer(reader: &mut impl BufRead) -> Result<Answer> {
    let mut read = 0usize;
    let mut line = String::new();
    let mut next_line = |reader: &mut dyn BufRead, line: &mut String| -> Result<()> {
        line.clear();
        let n = Read::take(&mut *reader, (MAX_ANSWER - read.min(MAX_ANSWER)) as u64)
            .read_line(line)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                    anyhow!("no answer within {} s", ANSWER_WITHIN.as_secs())
                }
                _ => e.into(),
            })?;
        if n == 0 {
            bail!("the connection closed");
        }
        read += n;
        if read >= MAX_ANSWER {
            bail!("the answer is too long");
        }
        Ok(())
    };
    next_line(reader, &mut line)?;
    let mut parts = line.trim_end().splitn(3, ' ');
    let (proto, status, reason) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("").to_string(),
    );
    if !proto.starts_with("RTSP/") {
        bail!("not an RTSP answer: {:?}", line.trim_end());
    }
    let status: u16 = status
        .parse()
        .map_err(|_| anyhow!("a bad RTSP status line: {:?}", line.trim_end()))?;
    let mut headers = Vec::new();
    loop {
        next_line(reader, &mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let answer = Answer {
        status,
        reason,
        headers,
    };
    let length: usize = answer
        .header("Content-Length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if length > MAX_ANSWER {
        bail!("the answer's body is too long ({length} bytes)");
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(answer)
}

/// The session and the receiver's UDP ports from its answer to SETUP.
pub(crate) fn session_and_ports(answer: &Answer) -> Result<(String, Ports)> {
    let session = answer
        .header("Session")
        .map(|s| s.split(';').next().unwrap_or(s).trim().to_string())
        .filter(|s| !s.is_empty() && s.len() < 128)
        .ok_or_else(|| anyhow!("the AirPlay receiver gave no session"))?;
    let transport = answer
        .header("Transport")
        .ok_or_else(|| anyhow!("the AirPlay receiver gave no transport"))?;
    let port = |name: &str| -> Result<u16> {
        transport
            .split(';')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim() == name)
            .and_then(|(_, v)| v.trim().parse().ok())
            .filter(|p| *p != 0)
            .ok_or_else(|| anyhow!("the AirPlay receiver gave no {name}: {transport:?}"))
    };
    let ports = Ports {
        audio: port("server_port")?,
        control: port("control_port")?,
        timing: port("timing_port")?,
    };
    Ok((session, ports))
}

/// AirPlay's volume, in dB: -30 (quiet) to 0 (full), and -144 for silent.
pub fn decibels(volume: u8) -> f64 {
    match volume.min(100) {
        0 => -144.0,
        v => -30.0 + 30.0 * v as f64 / 100.0,
    }
}

/// A DMAP listing item (`mlit`) of string fields.
fn dmap_item(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut inner = Vec::new();
    for (tag, value) in fields {
        // Receivers show a line or two: a hostile tag cannot make a huge packet.
        let value: String = value.chars().take(256).collect();
        inner.extend_from_slice(tag.as_bytes());
        inner.extend_from_slice(&(value.len() as u32).to_be_bytes());
        inner.extend_from_slice(value.as_bytes());
    }
    let mut out = b"mlit".to_vec();
    out.extend_from_slice(&(inner.len() as u32).to_be_bytes());
    out.extend(inner);
    out
}

/// One packet of audio as an uncompressed ALAC frame: interleaved stereo samples, exactly
/// [`FRAMES_PER_PACKET`] frames (the caller pads the last one with silence).
pub fn alac_frame(samples: &[i16]) -> Vec<u8> {
    debug_assert_eq!(samples.len(), FRAMES_PER_PACKET * 2);
    let mut w = Bits::default();
    w.put(1, 3); // a channel pair element
    w.put(0, 4); // element instance
    w.put(0, 12); // unused
    w.put(0, 1); // no sample count: a full frame
    w.put(0, 2); // no shifted-off bytes
    w.put(1, 1); // not compressed
    for s in samples {
        w.put(*s as u16 as u32, 16);
    }
    w.put(7, 3); // the end element
    w.finish()
}

#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, bits: u32) {
        self.acc = (self.acc << bits) | (value as u64 & ((1u64 << bits) - 1));
        self.n += bits;
        while self.n >= 8 {
            self.n -= 8;
            self.out.push((self.acc >> self.n) as u8);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push((self.acc << (8 - self.n)) as u8);
        }
        self.out
    }
}

/// An RTP audio packet; `marker` on the first after a start or a flush.
pub fn audio_packet(seq: u16, rtptime: u32, ssrc: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + payload.len());
    p.push(0x80);
    p.push(PAYLOAD_TYPE | if marker { 0x80 } else { 0 });
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&rtptime.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// A sync packet: RTP time `now` is being sent at NTP time `ntp`; the receiver plays it
/// [`LATENCY_FRAMES`] later. `first` after a start or a flush.
pub fn sync_packet(now: u32, ntp: u64, first: bool) -> Vec<u8> {
    let mut p = vec![if first { 0x90 } else { 0x80 }, 0xd4, 0x00, 0x07];
    p.extend_from_slice(&now.wrapping_sub(LATENCY_FRAMES).to_be_bytes());
    p.extend_from_slice(&ntp.to_be_bytes());
    p.extend_from_slice(&now.to_be_bytes());
    p
}

/// The answer to a receiver's timing request (`None` for anything else): its send time back,
/// with ours.
pub fn timing_answer(request: &[u8], ntp_now: u64) -> Option<Vec<u8>> {
    if request.len() < 32 || request[1] & 0x7f != 0x52 {
        return None;
    }
    let mut p = vec![0x80, 0xd3, 0x00, 0x07, 0, 0, 0, 0];
    p.extend_from_slice(&request[24..32]);
    p.extend_from_slice(&ntp_now.to_be_bytes());
    p.extend_from_slice(&ntp_now.to_be_bytes());
    Some(p)
}

/// The packets a receiver asks to be sent again (a resend request): first seq and count.
pub fn resend_request(request: &[u8]) -> Option<(u16, u16)> {
    if request.len() < 8 || request[1] & 0x7f != 0x55 {
        return None;
    }
    let first = u16::from_be_bytes([request[4], request[5]]);
    let count = u16::from_be_bytes([request[6], request[7]]);
    Some((first, count.min(512)))
}

/// A packet sent again, as an answer to a resend request.
pub fn resent(packet: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0xd6, 0x00, 0x01];
    p.extend_from_slice(packet);
    p
}

/// A clock in NTP format (seconds since 1900 in the high half), steady: it follows the
/// machine's monotonic clock from the wall time it started at.
#[derive(Clone, Copy)]
pub struct NtpClock {
    started: Instant,
    at: Duration,
}

impl NtpClock {
    pub fn new() -> NtpClock {
        NtpClock {
            started: Instant::now(),
            at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                + Duration::from_secs(2_208_988_800),
        }
    }

    pub fn at(&self, instant: Instant) -> u64 {
        let t = self.at + instant.saturating_duration_since(self.started);
        (t.as_secs() << 32) | (((t.subsec_nanos() as u64) << 32) / 1_000_000_000)
    }
}

impl Default for NtpClock {
    fn default() -> Self {
        NtpClock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alac_frame_holds_its_samples_after_a_23_bit_header() {
        let mut samples = vec![0i16; FRAMES_PER_PACKET * 2];
        samples[0] = -1;
        samples[1] = 0x1234;
        let f = alac_frame(&samples);
        // 23 header bits, 352 * 2 * 16 sample bits, 3 end bits.
        assert_eq!(f.len(), (23 + FRAMES_PER_PACKET * 32 + 3).div_ceil(8));
        let bit = |i: usize| (f[i / 8] >> (7 - i % 8)) & 1;
        let read =
            |from: usize, n: usize| (from..from + n).fold(0u32, |v, i| (v << 1) | bit(i) as u32);
        assert_eq!(read(0, 3), 1, "a channel pair");
        assert_eq!(read(3, 19), 0);
        assert_eq!(read(22, 1), 1, "not compressed");
        assert_eq!(read(23, 16), 0xffff);
        assert_eq!(read(39, 16), 0x1234);
        assert_eq!(read(23 + FRAMES_PER_PACKET * 32, 3), 7, "the end element");
    }

    #[test]
    fn timing_requests_get_their_send_time_back() {
        let mut request = vec![0x80, 0xd2, 0, 7];
        request.extend([0u8; 20]);
        request.extend(42u64.to_be_bytes());
        let answer = timing_answer(&request, 7).unwrap();
        assert_eq!(answer.len(), 32);
        assert_eq!(answer[1], 0xd3);
        assert_eq!(&answer[8..16], &42u64.to_be_bytes());
        assert!(timing_answer(&request[..20], 7).is_none());
        assert!(timing_answer(&[0x80, 0xd4, 0, 0], 7).is_none());
    }

    #[test]
    fn volume_maps_to_decibels() {
        assert_eq!(decibels(0), -144.0);
        assert_eq!(decibels(100), 0.0);
        assert_eq!(decibels(50), -15.0);
        assert_eq!(decibels(255), 0.0);
    }
}

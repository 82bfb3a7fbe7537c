//! A sound card for tests of the server's own output (`local`): test machines have none.

use std::path::Path;
use std::time::Duration;

/// A sound card for the server to play on, since test machines have none: ALSA's default device
/// is pointed (through `$HOME/.asoundrc`) at its `file` plugin over the `null` device, writing
/// 16-bit 44.1 kHz stereo into a named pipe. ALSA's null device takes samples as fast as they
/// come, so this side reads the pipe at the pace of real playback, as a sound card would.
pub struct SoundCard {
    home: std::path::PathBuf,
    captured: std::sync::Arc<std::sync::Mutex<Vec<i16>>>,
}

pub const CARD_RATE: usize = 44_100;

impl SoundCard {
    /// A sound card whose files (the ALSA config, the pipe) live in `home`, the server's
    /// `$HOME`.
    pub fn new(home: &Path) -> SoundCard {
        let home = home.to_path_buf();
        let pipe = home.join("card.raw");
        let c = std::ffi::CString::new(pipe.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        std::fs::write(
            home.join(".asoundrc"),
            format!(
                r#"pcm.!default {{
    type plug
    slave {{ pcm "card" format S16_LE rate {CARD_RATE} channels 2 }}
}}
pcm.card {{
    type file
    slave.pcm "null"
    file "{}"
    format "raw"
}}
"#,
                pipe.display()
            ),
        )
        .unwrap();
        let captured = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let into = captured.clone();
        std::thread::spawn(move || loop {
            use std::io::Read;
            use std::os::fd::AsRawFd;
            // Each time the server opens the device, ALSA opens the pipe anew.
            let Ok(mut f) = std::fs::File::open(&pipe) else {
                return;
            };
            // A small pipe: what the server has handed over is what has been heard.
            unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
            let (start, mut got) = (std::time::Instant::now(), 0usize);
            let mut odd: Option<u8> = None;
            loop {
                let due = (start.elapsed().as_secs_f64() * (CARD_RATE * 4) as f64) as usize + 4096;
                if due <= got {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                let mut buf = vec![0u8; (due - got).min(16384)];
                let n = match f.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                got += n;
                let mut bytes: Vec<u8> = odd.take().into_iter().collect();
                bytes.extend_from_slice(&buf[..n]);
                if bytes.len() % 2 == 1 {
                    odd = bytes.pop();
                }
                let mut c = into.lock().unwrap();
                c.extend(
                    bytes
                        .chunks_exact(2)
                        .map(|b| i16::from_le_bytes([b[0], b[1]])),
                );
            }
        });
        SoundCard { home, captured }
    }

    /// The server's environment for playing on this card.
    pub fn env(&self) -> Vec<(&str, &str)> {
        vec![
            ("HOME", self.home.to_str().unwrap()),
            ("HOUSEBAND_LOCAL_OUTPUT", "true"),
        ]
    }

    /// Everything heard until the card has heard nothing but silence (or nothing at all) for
    /// `quiet`, at most `limit`: what a device still had buffered when the server stopped comes
    /// out at playing pace, and slower on a busy machine.
    pub fn take_when_quiet(&self, quiet: Duration, limit: Duration) -> Vec<i16> {
        let start = std::time::Instant::now();
        let quiet_samples = (quiet.as_secs_f64() * CARD_RATE as f64) as usize * 2;
        let (mut seen, mut since) = (0, std::time::Instant::now());
        while start.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(20));
            let heard = self.captured.lock().unwrap();
            let tail_silent = heard.len() >= quiet_samples
                && heard[heard.len() - quiet_samples..]
                    .iter()
                    .all(|s| s.abs() <= 100);
            if tail_silent {
                break;
            }
            // Nothing written at all (the device closed) counts as silence too.
            if heard.len() != seen {
                (seen, since) = (heard.len(), std::time::Instant::now());
            } else if since.elapsed() >= quiet {
                break;
            }
        }
        self.take()
    }

    /// Everything heard since the last `take`, without taking it.
    pub fn peek(&self) -> Vec<i16> {
        self.captured.lock().unwrap().clone()
    }

    /// Everything heard since the last call, as interleaved stereo.
    pub fn take(&self) -> Vec<i16> {
        std::mem::take(&mut *self.captured.lock().unwrap())
    }
}

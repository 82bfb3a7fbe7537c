//! One transcode: decode, fit the channels and rate to the target, apply ReplayGain, encode,
//! and hand the bytes to a sink as they come. The sink says when to stop (a client that went
//! away), and the work ends at once.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use rubato::{FftFixedIn, Resampler};

use super::decode::Source;
use super::encode::{self, Encoder};
use super::Format;

/// What to make of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub format: Format,
    /// kbit/s for the lossy formats.
    pub bitrate: u32,
    /// Where to start, in seconds.
    pub offset: f64,
    /// ReplayGain to apply, in dB (and the peak that limits it).
    pub gain: Option<(f32, Option<f32>)>,
}

/// How a transcode ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Every sample was encoded.
    Complete,
    /// The sink asked to stop (the client went away).
    Stopped,
}

/// Samples per channel in each resampler call.
const RESAMPLE_CHUNK: usize = 1024;

/// Whether files with `suffix` can be decoded here: every format the library scans can, given
/// the system libraries some of them need (libopus, libwavpack, libmpcdec, libspeex).
pub fn decodable(suffix: &str) -> bool {
    let suffix = suffix.to_ascii_lowercase();
    match suffix.as_str() {
        "opus" => super::opus::available(),
        "wv" | "mpc" | "spx" | "ape" => super::native::available(&suffix),
        _ => true,
    }
}

/// Opens `path` for `job` and moves to its start: everything that can fail before the first
/// byte goes out fails here, so the client gets an error instead of an empty stream.
pub fn open(path: &Path, job: &Job) -> Result<Source> {
    let mut source = Source::open(path)?;
    // Make (and drop) the encoder now: a setting it refuses is an error before any byte is sent.
    let (rate, channels) = target_shape(&source, job.format);
    encode::encoder(job.format, rate, channels, job.bitrate)?;
    if job.offset > 0.0 {
        if source.duration.is_some_and(|d| job.offset >= d) {
            bail!("timeOffset {} s is beyond the end of the song", job.offset);
        }
        source.seek(job.offset)?;
    }
    Ok(source)
}

/// Runs `job` on an opened source, calling `sink` with each piece of output; `sink` returns
/// false to stop. A file that breaks mid-way returns an error after everything before the break
/// was sent.
pub fn run(mut source: Source, job: &Job, mut sink: impl FnMut(Vec<u8>) -> bool) -> Result<Ended> {
    let (out_rate, out_channels) = target_shape(&source, job.format);
    let mut encoder = encode::encoder(job.format, out_rate, out_channels, job.bitrate)?;
    let mut resampler = if out_rate != source.rate {
        Some(Resample::new(source.rate, out_rate, out_channels)?)
    } else {
        None
    };
    let scale = gain_factor(job.gain);
    let mut block = Vec::new();
    let mut fitted = Vec::new();
    let mut failure = None;
    loop {
        block.clear();
        match source.next_block(&mut block) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
        // The decoder learns the channel count from the first packet for some formats.
        let channels = source.channels.max(1);
        fit_channels(&block, channels, out_channels, &mut fitted);
        if scale != 1.0 {
            fitted.iter_mut().for_each(|s| *s *= scale);
        }
        match &mut resampler {
            Some(r) => r.push(&fitted, encoder.as_mut())?,
            None => encoder.push(&fitted)?,
        }
        let out = encoder.take();
        if !out.is_empty() && !sink(out) {
            return Ok(Ended::Stopped);
        }
    }
    if let Some(r) = &mut resampler {
        r.finish(encoder.as_mut())?;
    }
    encoder.finish()?;
    let out = encoder.take();
    if !out.is_empty() && !sink(out) {
        return Ok(Ended::Stopped);
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(Ended::Complete),
    }
}

/// The factor that applies a ReplayGain (dB, and the peak that limits it).
pub fn gain_factor(gain: Option<(f32, Option<f32>)>) -> f32 {
    gain.map_or(1.0, |(db, peak)| {
        let factor = 10f32.powf(db / 20.0);
        // Never push the loudest sample past full scale.
        match peak {
            Some(p) if p > 0.0 => factor.min(1.0 / p),
            _ => factor,
        }
    })
}

/// The rate and channel count `format` is encoded at from `source`.
fn target_shape(source: &Source, format: Format) -> (u32, usize) {
    let channels = source.channels.max(1);
    let channels = match format {
        Format::Mp3 | Format::Opus => channels.min(2),
        Format::Flac => channels.min(8),
        _ => channels,
    };
    let rate = match format {
        Format::Opus => 48_000,
        _ => source.rate,
    };
    (rate, channels)
}

/// Interleaved `from`-channel samples as `to` channels: extra channels are folded into the
/// first two, mono is copied to both sides.
fn fit_channels(input: &[f32], from: usize, to: usize, out: &mut Vec<f32>) {
    out.clear();
    if from == to {
        out.extend_from_slice(input);
        return;
    }
    out.reserve(input.len() / from * to);
    for frame in input.chunks_exact(from) {
        match (from, to) {
            (1, _) => out.extend(std::iter::repeat_n(frame[0], to)),
            (_, 1) => out.push(frame.iter().sum::<f32>() / from as f32),
            _ => {
                // Left takes the even channels, right the odd ones (L, R, C, LFE, Ls, Rs...).
                let (mut l, mut r) = (0.0, 0.0);
                for (i, s) in frame.iter().enumerate() {
                    if i % 2 == 0 {
                        l += s;
                    } else {
                        r += s;
                    }
                }
                let n = from.div_ceil(2) as f32;
                out.push(l / n);
                out.push(r / n);
                for _ in 2..to {
                    out.push(0.0);
                }
            }
        }
    }
}

/// Sample-rate conversion (FFT based) over a running stream of interleaved samples.
struct Resample {
    inner: FftFixedIn<f32>,
    channels: usize,
    planes: Vec<Vec<f32>>,
    interleaved: Vec<f32>,
}

impl Resample {
    fn new(from: u32, to: u32, channels: usize) -> Result<Resample> {
        let inner = FftFixedIn::new(from as usize, to as usize, RESAMPLE_CHUNK, 2, channels)
            .map_err(|e| anyhow!("cannot resample {from} Hz to {to} Hz: {e}"))?;
        Ok(Resample {
            inner,
            channels,
            planes: vec![Vec::new(); channels],
            interleaved: Vec::new(),
        })
    }

    fn push(&mut self, pcm: &[f32], encoder: &mut dyn Encoder) -> Result<()> {
        for (c, plane) in self.planes.iter_mut().enumerate() {
            plane.extend(pcm.iter().skip(c).step_by(self.channels));
        }
        while self.planes[0].len() >= self.inner.input_frames_next() {
            let n = self.inner.input_frames_next();
            let chunk: Vec<&[f32]> = self.planes.iter().map(|p| &p[..n]).collect();
            let out = self
                .inner
                .process(&chunk, None)
                .map_err(|e| anyhow!("resampling failed: {e}"))?;
            self.planes.iter_mut().for_each(|p| {
                p.drain(..n);
            });
            self.emit(&out, encoder)?;
        }
        Ok(())
    }

    fn finish(&mut self, encoder: &mut dyn Encoder) -> Result<()> {
        if !self.planes[0].is_empty() {
            let out = self
                .inner
                .process_partial(Some(&self.planes), None)
                .map_err(|e| anyhow!("resampling failed: {e}"))?;
            self.planes.iter_mut().for_each(Vec::clear);
            self.emit(&out, encoder)?;
        }
        Ok(())
    }

    fn emit(&mut self, planes: &[Vec<f32>], encoder: &mut dyn Encoder) -> Result<()> {
        let frames = planes.first().map_or(0, Vec::len);
        self.interleaved.clear();
        for i in 0..frames {
            for p in planes {
                self.interleaved.push(p[i]);
            }
        }
        encoder.push(&self.interleaved)
    }
}

/// Decoded audio fitted to one shape (rate and channel count) with a gain applied, pulled block
/// by block: for outputs fed samples as they play (AirPlay) rather than a file.
pub struct Fitted {
    source: Source,
    channels: usize,
    resampler: Option<Resample>,
    scale: f32,
    block: Vec<f32>,
    fitted: Vec<f32>,
    collected: Collect,
    ended: bool,
}

impl Fitted {
    pub fn new(source: Source, rate: u32, channels: usize, gain: f32) -> Result<Fitted> {
        let resampler = if source.rate != rate {
            Some(Resample::new(source.rate, rate, channels)?)
        } else {
            None
        };
        Ok(Fitted {
            source,
            channels,
            resampler,
            scale: gain,
            block: Vec::new(),
            fitted: Vec::new(),
            collected: Collect(Vec::new()),
            ended: false,
        })
    }

    /// Appends the next samples (interleaved, whole frames) to `out`; `Ok(false)` at the end.
    /// A file that breaks mid-way ends with an error after the audio that could be read.
    pub fn next_block(&mut self, out: &mut Vec<f32>) -> Result<bool> {
        loop {
            if self.ended {
                return Ok(false);
            }
            self.block.clear();
            let more = self.source.next_block(&mut self.block)?;
            if !more {
                self.ended = true;
                if let Some(r) = &mut self.resampler {
                    r.finish(&mut self.collected)?;
                }
            } else {
                let channels = self.source.channels.max(1);
                fit_channels(&self.block, channels, self.channels, &mut self.fitted);
                if self.scale != 1.0 {
                    let scale = self.scale;
                    self.fitted.iter_mut().for_each(|s| *s *= scale);
                }
                match &mut self.resampler {
                    Some(r) => r.push(&self.fitted, &mut self.collected)?,
                    None => self.collected.0.extend_from_slice(&self.fitted),
                }
            }
            if !self.collected.0.is_empty() {
                out.append(&mut self.collected.0);
                return Ok(true);
            }
        }
    }
}

/// An "encoder" that keeps the samples it is given, for [`Fitted`].
struct Collect(Vec<f32>);

impl Encoder for Collect {
    fn push(&mut self, pcm: &[f32]) -> Result<()> {
        self.0.extend_from_slice(pcm);
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }

    fn take(&mut self) -> Vec<u8> {
        Vec::new()
    }
}

//! Audio files to PCM: symphonia for every format it decodes, libopus for Opus (symphonia reads
//! the Ogg pages but has no Opus decoder), and system libraries for WavPack and Musepack
//! (`native`). Output is interleaved `f32` in blocks, at the file's own rate and channel count.

use std::fs::File;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL, CODEC_TYPE_OPUS};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use symphonia::core::units::Time;

use super::native::{self, Native};
use super::opus;

/// Packets in a row that may fail to decode before the file counts as broken.
const MAX_BAD_PACKETS: usize = 20;

enum Codec {
    Symphonia(Box<dyn symphonia::core::codecs::Decoder>),
    Opus {
        decoder: opus::Decoder,
        pre_skip: usize,
    },
    /// A decoder that reads the file itself (no symphonia demuxer).
    Native(Box<dyn Native>),
}

/// An open audio file, read block by block.
pub struct Source {
    /// Symphonia's demuxer, for every codec but the native ones.
    format: Option<Box<dyn FormatReader>>,
    codec: Codec,
    track: u32,
    pub rate: u32,
    pub channels: usize,
    /// Length in seconds, when the container says.
    pub duration: Option<f64>,
    buffer: Option<SampleBuffer<f32>>,
    bad_in_a_row: usize,
    /// The track's time base (seconds per timestamp unit), for seeking.
    time_base: Option<symphonia::core::units::TimeBase>,
    /// Frames still to drop after a seek, which lands on a packet at or before the time asked.
    skip_frames: usize,
}

impl Source {
    pub fn open(path: &Path) -> Result<Source> {
        let suffix = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if let Some(decoder) = native::open(path, &suffix) {
            let decoder = decoder.with_context(|| format!("cannot decode {}", path.display()))?;
            return Ok(Source {
                format: None,
                rate: decoder.rate(),
                channels: decoder.channels(),
                codec: Codec::Native(decoder),
                track: 0,
                duration: None,
                buffer: None,
                bad_in_a_row: 0,
                time_base: None,
                skip_frames: 0,
            });
        }
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let stream = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let probed = symphonia::default::get_probe()
            .format(
                &hint,
                stream,
                &FormatOptions {
                    enable_gapless: true,
                    ..Default::default()
                },
                &MetadataOptions::default(),
            )
            .map_err(|e| anyhow!("cannot read {} as audio: {e}", path.display()))?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| anyhow!("{} has no audio track", path.display()))?;
        let params = track.codec_params.clone();
        let track_id = track.id;
        let time_base = params.time_base;
        let duration = params
            .n_frames
            .zip(params.time_base)
            .map(|(n, tb)| {
                let t = tb.calc_time(n);
                t.seconds as f64 + t.frac
            })
            .or_else(|| {
                params
                    .n_frames
                    .zip(params.sample_rate)
                    .map(|(n, r)| n as f64 / r as f64)
            });
        let (codec, rate, channels) = if params.codec == CODEC_TYPE_OPUS {
            let channels = params.channels.map_or(2, |c| c.count()).clamp(1, 2);
            // OpusHead: the pre-skip (samples at 48 kHz to drop at the start) is at bytes 10-11.
            let pre_skip = params
                .extra_data
                .as_deref()
                .filter(|h| h.len() >= 12 && h.starts_with(b"OpusHead"))
                .map_or(0, |h| u16::from_le_bytes([h[10], h[11]]) as usize);
            let decoder = opus::Decoder::new(channels)
                .with_context(|| format!("cannot decode the Opus file {}", path.display()))?;
            (Codec::Opus { decoder, pre_skip }, 48_000, channels)
        } else {
            let decoder = symphonia::default::get_codecs()
                .make(&params, &DecoderOptions::default())
                .map_err(|e| anyhow!("cannot decode {}: {e}", path.display()))?;
            let rate = params
                .sample_rate
                .ok_or_else(|| anyhow!("{} does not say its sample rate", path.display()))?;
            let channels = params.channels.map_or(0, |c| c.count());
            (Codec::Symphonia(decoder), rate, channels)
        };
        Ok(Source {
            format: Some(format),
            codec,
            track: track_id,
            rate,
            channels,
            duration,
            buffer: None,
            bad_in_a_row: 0,
            time_base,
            skip_frames: 0,
        })
    }

    /// Moves to `seconds` from the start (to the packet before it, as players do).
    pub fn seek(&mut self, seconds: f64) -> Result<()> {
        let format = match (&mut self.format, &mut self.codec) {
            (_, Codec::Native(decoder)) => return decoder.seek(seconds),
            (Some(format), _) => format,
            (None, _) => bail!("no demuxer to seek with"),
        };
        let time = Time::new(seconds.trunc() as u64, seconds.fract());
        let landed = format
            .seek(
                SeekMode::Accurate,
                SeekTo::Time {
                    time,
                    track_id: Some(self.track),
                },
            )
            .map_err(|e| anyhow!("cannot seek to {seconds} s: {e}"))?;
        // The packet found starts at or before the time asked: the difference is dropped.
        let early = landed.required_ts.saturating_sub(landed.actual_ts);
        self.skip_frames = match self.time_base {
            Some(tb) => {
                let t = tb.calc_time(early);
                ((t.seconds as f64 + t.frac) * self.rate as f64).round() as usize
            }
            None => early as usize,
        };
        match &mut self.codec {
            Codec::Symphonia(d) => d.reset(),
            Codec::Opus { pre_skip, .. } => *pre_skip = 0,
            Codec::Native(_) => {}
        }
        Ok(())
    }

    /// Appends the next block of interleaved samples to `out`. `Ok(false)` at the end. A file
    /// that breaks mid-way ends with an error after the audio that could be read.
    pub fn next_block(&mut self, out: &mut Vec<f32>) -> Result<bool> {
        let format = match (&mut self.format, &mut self.codec) {
            (_, Codec::Native(decoder)) => return decoder.next_block(out),
            (Some(format), _) => format,
            (None, _) => bail!("no demuxer to read with"),
        };
        loop {
            let packet = match format.next_packet() {
                Ok(p) => p,
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(false)
                }
                Err(SymError::ResetRequired) => return Ok(false),
                Err(e) => bail!("the file is damaged: {e}"),
            };
            if packet.track_id() != self.track {
                continue;
            }
            let start = out.len();
            let decoded = match &mut self.codec {
                Codec::Symphonia(decoder) => match decoder.decode(&packet) {
                    Ok(audio) => {
                        if self.channels == 0 {
                            self.channels = audio.spec().channels.count();
                        }
                        let buffer = self.buffer.get_or_insert_with(|| {
                            SampleBuffer::new(audio.capacity() as u64, *audio.spec())
                        });
                        if buffer.capacity() < audio.capacity() * audio.spec().channels.count() {
                            *buffer = SampleBuffer::new(audio.capacity() as u64, *audio.spec());
                        }
                        buffer.copy_interleaved_ref(audio);
                        out.extend_from_slice(buffer.samples());
                        Ok(())
                    }
                    Err(SymError::DecodeError(e)) => Err(anyhow!("{e}")),
                    Err(e) => bail!("the file is damaged: {e}"),
                },
                Codec::Opus { decoder, pre_skip } => {
                    let r = decoder.decode(&packet.data, out);
                    if r.is_ok() && *pre_skip > 0 {
                        let frames = (out.len() - start) / self.channels;
                        let skip = (*pre_skip).min(frames);
                        out.drain(start..start + skip * self.channels);
                        *pre_skip -= skip;
                    }
                    r
                }
                Codec::Native(_) => unreachable!("native decoders return above"),
            };
            match decoded {
                Ok(()) => {
                    self.bad_in_a_row = 0;
                    if self.skip_frames > 0 {
                        let channels = self.channels.max(1);
                        let frames = (out.len() - start) / channels;
                        let drop = self.skip_frames.min(frames);
                        out.drain(start..start + drop * channels);
                        self.skip_frames -= drop;
                    }
                    return Ok(true);
                }
                Err(e) => {
                    // One bad packet is skipped (players do the same); many mean a broken file.
                    self.bad_in_a_row += 1;
                    if self.bad_in_a_row > MAX_BAD_PACKETS {
                        bail!("the file is damaged: {e}");
                    }
                }
            }
        }
    }
}

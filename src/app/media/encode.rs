//! PCM to the formats clients and speakers ask for: MP3 (LAME), Opus in Ogg (libopus), Vorbis
//! in Ogg (libvorbis, aoTuV), FLAC (flacenc) and WAV. Each encoder takes interleaved `f32`
//! blocks and leaves its output in [`Encoder::take`], so the caller can stream it as it comes.

use std::io::Write;
use std::num::{NonZeroU32, NonZeroU8};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Result};

use super::opus;
use super::Format;

pub trait Encoder {
    /// Encodes interleaved samples (the channel count and rate given when it was made).
    fn push(&mut self, pcm: &[f32]) -> Result<()>;
    /// Ends the stream: flushes what the encoder holds back.
    fn finish(&mut self) -> Result<()>;
    /// The bytes produced so far that were not taken yet.
    fn take(&mut self) -> Vec<u8>;
}

/// Makes the encoder for `format` (`bitrate` in kbit/s, ignored by the lossless formats). Opus
/// must be given 48 kHz and at most 2 channels, MP3 at most 2 channels.
pub fn encoder(
    format: Format,
    rate: u32,
    channels: usize,
    bitrate: u32,
) -> Result<Box<dyn Encoder>> {
    Ok(match format {
        Format::Mp3 => Box::new(Mp3::new(rate, channels, bitrate)?),
        Format::Opus => Box::new(OggOpus::new(rate, channels, bitrate)?),
        Format::Vorbis => Box::new(OggVorbis::new(rate, channels, bitrate)?),
        Format::Flac => Box::new(Flac::new(rate, channels)?),
        Format::Wav => Box::new(Wav::new(rate, channels)),
    })
}

/// A `Write` whose bytes the encoder's owner can take while the encoder keeps writing.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Shared {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Mp3 {
    lame: mp3lame_encoder::Encoder,
    channels: usize,
    out: Vec<u8>,
    stereo: Vec<f32>,
}

impl Mp3 {
    fn new(rate: u32, channels: usize, bitrate: u32) -> Result<Mp3> {
        use mp3lame_encoder::{Bitrate, Builder, Quality};
        let brate = match bitrate {
            0..=40 => Bitrate::Kbps32,
            41..=56 => Bitrate::Kbps48,
            57..=72 => Bitrate::Kbps64,
            73..=88 => Bitrate::Kbps80,
            89..=104 => Bitrate::Kbps96,
            105..=120 => Bitrate::Kbps112,
            121..=144 => Bitrate::Kbps128,
            145..=176 => Bitrate::Kbps160,
            177..=208 => Bitrate::Kbps192,
            209..=240 => Bitrate::Kbps224,
            241..=288 => Bitrate::Kbps256,
            _ => Bitrate::Kbps320,
        };
        let mut b = Builder::new().ok_or_else(|| anyhow!("LAME could not start"))?;
        let lame_err = |e: mp3lame_encoder::BuildError| anyhow!("LAME refused a setting: {e:?}");
        b.set_num_channels(2).map_err(lame_err)?;
        b.set_sample_rate(rate).map_err(lame_err)?;
        b.set_brate(brate).map_err(lame_err)?;
        // LAME's quality 5 ("good") is its speed/quality middle, the one ffmpeg uses by default.
        b.set_quality(Quality::Good).map_err(lame_err)?;
        b.set_to_write_vbr_tag(false).map_err(lame_err)?;
        let lame = b.build().map_err(lame_err)?;
        Ok(Mp3 {
            lame,
            channels,
            out: Vec::new(),
            stereo: Vec::new(),
        })
    }
}

impl Encoder for Mp3 {
    fn push(&mut self, pcm: &[f32]) -> Result<()> {
        // LAME is fed stereo; a mono source is doubled (it codes identical channels cheaply).
        let input: &[f32] = if self.channels == 1 {
            self.stereo.clear();
            self.stereo.extend(pcm.iter().flat_map(|s| [*s, *s]));
            &self.stereo
        } else {
            pcm
        };
        self.out
            .reserve(mp3lame_encoder::max_required_buffer_size(input.len() / 2));
        self.lame
            .encode_to_vec(mp3lame_encoder::InterleavedPcm(input), &mut self.out)
            .map_err(|e| anyhow!("LAME could not encode: {e:?}"))?;
        Ok(())
    }
    fn finish(&mut self) -> Result<()> {
        self.out.reserve(7200);
        self.lame
            .flush_to_vec::<mp3lame_encoder::FlushNoGap>(&mut self.out)
            .map_err(|e| anyhow!("LAME could not finish: {e:?}"))?;
        Ok(())
    }
    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}

/// Opus packets of 20 ms in Ogg pages (RFC 7845).
struct OggOpus {
    opus: opus::Encoder,
    writer: ogg::writing::PacketWriter<'static, Shared>,
    sink: Shared,
    channels: usize,
    serial: u32,
    pending: Vec<f32>,
    packet: Vec<u8>,
    pre_skip: u64,
    /// Samples per channel given so far (the granule position counts them).
    samples_in: u64,
    samples_out: u64,
}

const OPUS_FRAME: usize = 960;

impl OggOpus {
    fn new(rate: u32, channels: usize, bitrate: u32) -> Result<OggOpus> {
        if rate != 48_000 || !(1..=2).contains(&channels) {
            return Err(anyhow!("Opus is encoded from 48 kHz mono or stereo"));
        }
        let opus = opus::Encoder::new(channels, bitrate.clamp(6, 510) * 1000)?;
        let sink = Shared::default();
        let mut writer = ogg::writing::PacketWriter::new(sink.clone());
        let serial: u32 = rand::random();
        let pre_skip = opus.lookahead();
        let mut head = Vec::with_capacity(19);
        head.extend_from_slice(b"OpusHead");
        head.push(1);
        head.push(channels as u8);
        head.extend_from_slice(&pre_skip.to_le_bytes());
        head.extend_from_slice(&48_000u32.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes());
        head.push(0);
        let vendor = b"houseband";
        let mut tags = Vec::new();
        tags.extend_from_slice(b"OpusTags");
        tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        tags.extend_from_slice(vendor);
        tags.extend_from_slice(&0u32.to_le_bytes());
        use ogg::writing::PacketWriteEndInfo::EndPage;
        writer.write_packet(head, serial, EndPage, 0)?;
        writer.write_packet(tags, serial, EndPage, 0)?;
        Ok(OggOpus {
            opus,
            writer,
            sink,
            channels,
            serial,
            pending: Vec::new(),
            packet: Vec::new(),
            pre_skip: pre_skip as u64,
            samples_in: 0,
            samples_out: 0,
        })
    }

    fn write_frame(&mut self, frame: &[f32], last: bool) -> Result<()> {
        use ogg::writing::PacketWriteEndInfo::{EndStream, NormalPacket};
        self.opus.encode(frame, &mut self.packet)?;
        self.samples_out += OPUS_FRAME as u64;
        // The last page's granule position trims the padding of the final frame.
        let granule = if last {
            self.pre_skip + self.samples_in
        } else {
            self.pre_skip + self.samples_out
        };
        let end = if last { EndStream } else { NormalPacket };
        self.writer
            .write_packet(std::mem::take(&mut self.packet), self.serial, end, granule)?;
        Ok(())
    }
}

impl Encoder for OggOpus {
    fn push(&mut self, pcm: &[f32]) -> Result<()> {
        self.samples_in += (pcm.len() / self.channels) as u64;
        self.pending.extend_from_slice(pcm);
        let step = OPUS_FRAME * self.channels;
        let mut at = 0;
        while self.pending.len() - at >= step {
            let frame: Vec<f32> = self.pending[at..at + step].to_vec();
            self.write_frame(&frame, false)?;
            at += step;
        }
        self.pending.drain(..at);
        Ok(())
    }
    fn finish(&mut self) -> Result<()> {
        // The encoder's lookahead plus what is pending must come out: pad with silence.
        let step = OPUS_FRAME * self.channels;
        let mut rest = std::mem::take(&mut self.pending);
        let needed = rest.len() + self.pre_skip as usize * self.channels;
        let frames = needed.div_ceil(step).max(1);
        rest.resize(frames * step, 0.0);
        for (i, frame) in rest.chunks(step).enumerate() {
            self.write_frame(frame, i + 1 == frames)?;
        }
        Ok(())
    }
    fn take(&mut self) -> Vec<u8> {
        self.sink.take()
    }
}

struct OggVorbis {
    encoder: Option<vorbis_rs::VorbisEncoder<Shared>>,
    sink: Shared,
    channels: usize,
    planar: Vec<Vec<f32>>,
}

impl OggVorbis {
    fn new(rate: u32, channels: usize, bitrate: u32) -> Result<OggVorbis> {
        let sink = Shared::default();
        let rate = NonZeroU32::new(rate).ok_or_else(|| anyhow!("no sample rate"))?;
        let ch = NonZeroU8::new(channels.min(255) as u8).ok_or_else(|| anyhow!("no channels"))?;
        let mut builder = vorbis_rs::VorbisEncoderBuilder::new_with_serial(
            rate,
            ch,
            sink.clone(),
            rand::random(),
        );
        // A quality, not a bit rate: libvorbis's managed mode refuses rates that do not suit a
        // low sample rate or mono, while every quality works for every stream.
        builder.bitrate_management_strategy(
            vorbis_rs::VorbisBitrateManagementStrategy::QualityVbr {
                target_quality: vorbis_quality(bitrate),
            },
        );
        let encoder = builder
            .build()
            .map_err(|e| anyhow!("libvorbis refused the stream: {e}"))?;
        Ok(OggVorbis {
            encoder: Some(encoder),
            sink,
            channels,
            planar: vec![Vec::new(); channels],
        })
    }
}

/// The Vorbis quality (-0.1 to 1.0) that gives about `kbps` for 44.1 kHz stereo music, from
/// libvorbis's published nominal rates (q0 64k, q3 112k, q5 160k, q6 192k, q8 256k, q10 500k).
fn vorbis_quality(kbps: u32) -> f32 {
    const POINTS: [(f32, f32); 7] = [
        (45.0, -0.1),
        (64.0, 0.0),
        (112.0, 0.3),
        (160.0, 0.5),
        (192.0, 0.6),
        (256.0, 0.8),
        (500.0, 1.0),
    ];
    let k = kbps as f32;
    if k <= POINTS[0].0 {
        return POINTS[0].1;
    }
    for pair in POINTS.windows(2) {
        let ((k0, q0), (k1, q1)) = (pair[0], pair[1]);
        if k <= k1 {
            return q0 + (q1 - q0) * (k - k0) / (k1 - k0);
        }
    }
    1.0
}

impl Encoder for OggVorbis {
    fn push(&mut self, pcm: &[f32]) -> Result<()> {
        for (c, plane) in self.planar.iter_mut().enumerate() {
            plane.clear();
            plane.extend(pcm.iter().skip(c).step_by(self.channels));
        }
        if let Some(e) = &mut self.encoder {
            e.encode_audio_block(&self.planar)
                .map_err(|e| anyhow!("libvorbis could not encode: {e}"))?;
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<()> {
        if let Some(e) = self.encoder.take() {
            e.finish()
                .map_err(|e| anyhow!("libvorbis could not finish: {e}"))?;
        }
        Ok(())
    }
    fn take(&mut self) -> Vec<u8> {
        self.sink.take()
    }
}

const FLAC_BLOCK: usize = 4096;

/// 16-bit FLAC, written frame by frame with a STREAMINFO that leaves the length unknown.
struct Flac {
    config: flacenc::error::Verified<flacenc::config::Encoder>,
    info: flacenc::component::StreamInfo,
    channels: usize,
    pending: Vec<i32>,
    frame_number: usize,
    out: Vec<u8>,
}

impl Flac {
    fn new(rate: u32, channels: usize) -> Result<Flac> {
        use flacenc::error::Verify;
        if !(1..=8).contains(&channels) {
            return Err(anyhow!("FLAC holds 1 to 8 channels, not {channels}"));
        }
        let config = flacenc::config::Encoder::default()
            .into_verified()
            .map_err(|e| anyhow!("flacenc configuration: {e:?}"))?;
        let info = flacenc::component::StreamInfo::new(rate as usize, channels, 16)
            .map_err(|e| anyhow!("flacenc refused the stream: {e:?}"))?;
        // "fLaC", then the only metadata block, STREAMINFO (34 bytes), flagged as the last.
        let mut out = b"fLaC".to_vec();
        out.push(0x80);
        out.extend_from_slice(&[0, 0, 34]);
        // Block sizes (16 bits each), frame sizes unknown (24 bits each, 0), then rate (20
        // bits), channels - 1 (3), bits per sample - 1 (5), total samples unknown (36, 0), MD5 0.
        let block = (FLAC_BLOCK as u16).to_be_bytes();
        out.extend_from_slice(&block);
        out.extend_from_slice(&block);
        out.extend_from_slice(&[0u8; 6]);
        let packed: u64 = ((rate as u64) << 44) | ((channels as u64 - 1) << 41) | (15 << 36);
        out.extend_from_slice(&packed.to_be_bytes());
        out.extend_from_slice(&[0u8; 16]);
        Ok(Flac {
            config,
            info,
            channels,
            pending: Vec::new(),
            frame_number: 0,
            out,
        })
    }

    fn frame(&mut self, samples: &[i32]) -> Result<()> {
        use flacenc::component::BitRepr;
        use flacenc::source::Fill;
        let frames = samples.len() / self.channels;
        let mut fb = flacenc::source::FrameBuf::with_size(self.channels, frames)
            .map_err(|e| anyhow!("flacenc: {e:?}"))?;
        fb.fill_interleaved(samples)
            .map_err(|e| anyhow!("flacenc: {e:?}"))?;
        let frame =
            flacenc::encode_fixed_size_frame(&self.config, &fb, self.frame_number, &self.info)
                .map_err(|e| anyhow!("flacenc could not encode: {e:?}"))?;
        self.frame_number += 1;
        let mut sink = flacenc::bitsink::ByteSink::new();
        frame
            .write(&mut sink)
            .map_err(|e| anyhow!("flacenc could not write: {e:?}"))?;
        self.out.extend_from_slice(sink.as_slice());
        Ok(())
    }
}

fn to_i16(s: f32) -> i32 {
    (s.clamp(-1.0, 1.0) * 32767.0).round() as i32
}

impl Encoder for Flac {
    fn push(&mut self, pcm: &[f32]) -> Result<()> {
        self.pending.extend(pcm.iter().map(|s| to_i16(*s)));
        let step = FLAC_BLOCK * self.channels;
        let mut at = 0;
        while self.pending.len() - at >= step {
            let block: Vec<i32> = self.pending[at..at + step].to_vec();
            self.frame(&block)?;
            at += step;
        }
        self.pending.drain(..at);
        Ok(())
    }
    fn finish(&mut self) -> Result<()> {
        let rest = std::mem::take(&mut self.pending);
        // FLAC frames hold at least 16 samples: a shorter tail is padded with silence.
        if !rest.is_empty() {
            let mut rest = rest;
            let min = 16 * self.channels;
            if rest.len() < min {
                rest.resize(min, 0);
            }
            self.frame(&rest)?;
        }
        Ok(())
    }
    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}

/// 16-bit PCM WAV. The length is not known while streaming, so the sizes say "as long as it
/// goes" (0xFFFFFFFF), as streaming encoders do.
struct Wav {
    out: Vec<u8>,
}

impl Wav {
    fn new(rate: u32, channels: usize) -> Wav {
        let mut out = Vec::with_capacity(44);
        let block_align = (channels * 2) as u16;
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&u32::MAX.to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&(channels as u16).to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * block_align as u32).to_le_bytes());
        out.extend_from_slice(&block_align.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(u32::MAX - 36).to_le_bytes());
        Wav { out }
    }
}

impl Encoder for Wav {
    fn push(&mut self, pcm: &[f32]) -> Result<()> {
        self.out.reserve(pcm.len() * 2);
        for s in pcm {
            self.out
                .extend_from_slice(&(to_i16(*s) as i16).to_le_bytes());
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}

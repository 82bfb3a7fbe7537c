//! What a song sounds like, as a few numbers: tempo, loudness and its spread, brightness
//! (spectral centroid and roll-off), noisiness (flatness, zero crossings) and the share of
//! energy in eight bands, a rough timbre. Songs that sound alike have close vectors; the
//! recommendations use them for "sounds like".
//!
//! Written here rather than taken from a crate: bliss-audio, the one Rust crate for this, is
//! GPL-3.0-only, which would make Houseband GPL too. The method is the textbook one: a short-time
//! Fourier transform of a mono, downsampled excerpt, and the autocorrelation of its onsets for
//! the tempo.

use std::path::Path;

use anyhow::{Context, Result};
use realfft::RealFftPlanner;

use crate::app::media::decode::Source;

/// The rate the excerpt is analysed at (about; an integer fraction of the file's rate).
const ANALYSIS_RATE: u32 = 11_025;
const FRAME: usize = 1024;
const HOP: usize = 128;
/// The part of a song analysed: after its intro, a minute at most.
const SKIP_SECONDS: f64 = 15.0;
const EXCERPT_SECONDS: f64 = 60.0;
/// Tempos looked for.
const SLOWEST_BPM: f32 = 60.0;
const FASTEST_BPM: f32 = 180.0;
/// Frames quieter than this (dBFS) are silence: they count for nothing but the loudness.
const SILENCE_DB: f32 = -60.0;
pub const BANDS: usize = 8;

/// A song's sound, summed up.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// Beats per minute; 0 when no beat stands out (silence, a held tone).
    pub tempo_bpm: f32,
    /// Mean power of the excerpt, dBFS.
    pub loudness_db: f32,
    /// The spread of the frames' loudness, dB: quiet and loud passages, or one level.
    pub dynamics_db: f32,
    pub centroid_hz: f32,
    /// Below this frequency lies 85% of the energy.
    pub rolloff_hz: f32,
    /// 0 for a pure tone, towards 1 for noise.
    pub flatness: f32,
    /// Zero crossings per second.
    pub zero_crossings: f32,
    /// The share of energy in each of [`BANDS`] bands, log-spaced from 60 Hz up; sums to 1
    /// (all 0 for silence).
    pub bands: [f32; BANDS],
}

impl Features {
    /// The numbers as one vector, in a fixed order.
    pub fn to_vec(&self) -> Vec<f32> {
        let mut v = vec![
            self.tempo_bpm,
            self.loudness_db,
            self.dynamics_db,
            self.centroid_hz,
            self.rolloff_hz,
            self.flatness,
            self.zero_crossings,
        ];
        v.extend_from_slice(&self.bands);
        v
    }
}

/// Decodes the excerpt of the file at `path` and analyses it.
pub fn analyse_file(path: &Path) -> Result<Features> {
    let (samples, rate, channels) = match excerpt(path, true)? {
        // Shorter than its intro said: what there is, from the start.
        (s, ..) if s.is_empty() => excerpt(path, false)?,
        whole => whole,
    };
    Ok(analyse(&samples, rate, channels))
}

/// A minute of the file at `path`, after its intro when `skip_intro`: interleaved samples,
/// rate and channels.
fn excerpt(path: &Path, skip_intro: bool) -> Result<(Vec<f32>, u32, usize)> {
    let mut source = Source::open(path)?;
    let (rate, channels) = (source.rate.max(1), source.channels.max(1));
    let skip = match source.duration {
        Some(d) if skip_intro => SKIP_SECONDS.min(d * 0.2),
        _ => 0.0,
    };
    let first = (skip * rate as f64) as usize * channels;
    let wanted = ((skip + EXCERPT_SECONDS) * rate as f64) as usize * channels;
    let (mut samples, mut block, mut read) = (Vec::new(), Vec::new(), 0usize);
    // Decoded from the start (a seek in some formats lands far from where asked), and no
    // further than the excerpt: a long track costs no more than a minute and a bit.
    while read < wanted {
        block.clear();
        if !source
            .next_block(&mut block)
            .with_context(|| format!("cannot analyse {}", path.display()))?
        {
            break;
        }
        let (from, to) = (
            first.saturating_sub(read).min(block.len()),
            (wanted - read).min(block.len()),
        );
        if from < to {
            samples.extend_from_slice(&block[from..to]);
        }
        read += block.len();
    }
    Ok((samples, rate, channels))
}

/// Analyses interleaved samples at `rate` with `channels` channels.
pub fn analyse(interleaved: &[f32], rate: u32, channels: usize) -> Features {
    let channels = channels.max(1);
    // Mono, then down to about the analysis rate by averaging (a crude low-pass, enough for
    // these summaries).
    let step = (rate / ANALYSIS_RATE).max(1) as usize;
    let fs = rate as f32 / step as f32;
    let mono: Vec<f32> = interleaved
        .chunks(channels * step)
        .map(|c| c.iter().sum::<f32>() / c.len() as f32)
        .collect();
    let mut f = Features {
        tempo_bpm: 0.0,
        loudness_db: SILENCE_DB * 2.0,
        dynamics_db: 0.0,
        centroid_hz: 0.0,
        rolloff_hz: 0.0,
        flatness: 0.0,
        zero_crossings: 0.0,
        bands: [0.0; BANDS],
    };
    if mono.len() < FRAME {
        return f;
    }
    let window: Vec<f32> = (0..FRAME)
        .map(|i| 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / FRAME as f32).cos())
        .collect();
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FRAME);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let bin_hz = fs / FRAME as f32;
    let band_edges = band_edges(fs);
    let mut previous: Vec<f32> = vec![0.0; spectrum.len()];
    let mut onsets = Vec::new();
    let (mut frame_db, mut power_sum, mut frames) = (Vec::new(), 0.0f64, 0usize);
    let (mut centroid, mut rolloff, mut flatness, mut voiced) = (0.0f64, 0.0f64, 0.0f64, 0usize);
    let mut bands = [0.0f64; BANDS];
    let mut crossings = 0usize;
    for w in mono.windows(2) {
        if (w[0] < 0.0) != (w[1] < 0.0) {
            crossings += 1;
        }
    }
    let mut at = 0;
    while at + FRAME <= mono.len() {
        let frame = &mono[at..at + FRAME];
        at += HOP;
        let power = frame.iter().map(|s| s * s).sum::<f32>() / FRAME as f32;
        power_sum += f64::from(power);
        frames += 1;
        let db = 10.0 * power.max(1e-12).log10();
        for (x, (s, w)) in input.iter_mut().zip(frame.iter().zip(&window)) {
            *x = s * w;
        }
        if fft.process(&mut input, &mut spectrum).is_err() {
            continue;
        }
        let magnitudes: Vec<f32> = spectrum.iter().map(|c| c.norm()).collect();
        // Onset strength: how much louder each bin got, on a log scale.
        let flux: f32 = magnitudes
            .iter()
            .zip(&previous)
            .map(|(m, p)| ((1.0 + 100.0 * m).ln() - (1.0 + 100.0 * p).ln()).max(0.0))
            .sum();
        onsets.push(flux);
        previous.clone_from(&magnitudes);
        if db < SILENCE_DB {
            continue;
        }
        frame_db.push(db);
        voiced += 1;
        let total: f32 = magnitudes.iter().sum::<f32>().max(1e-12);
        centroid += f64::from(
            magnitudes
                .iter()
                .enumerate()
                .map(|(i, m)| i as f32 * bin_hz * m)
                .sum::<f32>()
                / total,
        );
        let mut running = 0.0;
        let mut roll = magnitudes.len() - 1;
        for (i, m) in magnitudes.iter().enumerate() {
            running += m;
            if running >= 0.85 * total {
                roll = i;
                break;
            }
        }
        rolloff += f64::from(roll as f32 * bin_hz);
        let powers: Vec<f32> = magnitudes.iter().skip(1).map(|m| m * m + 1e-12).collect();
        let log_mean = powers.iter().map(|p| p.ln()).sum::<f32>() / powers.len() as f32;
        let mean = powers.iter().sum::<f32>() / powers.len() as f32;
        flatness += f64::from((log_mean.exp() / mean).clamp(0.0, 1.0));
        let mut frame_bands = [0.0f32; BANDS];
        for (i, p) in powers.iter().enumerate() {
            let hz = (i + 1) as f32 * bin_hz;
            if let Some(b) = band_edges.iter().position(|&(lo, hi)| hz >= lo && hz < hi) {
                frame_bands[b] += p;
            }
        }
        let band_total: f32 = frame_bands.iter().sum::<f32>().max(1e-12);
        for (sum, b) in bands.iter_mut().zip(frame_bands) {
            *sum += f64::from(b / band_total);
        }
    }
    f.loudness_db = (10.0 * (power_sum / frames.max(1) as f64).max(1e-12).log10()) as f32;
    f.zero_crossings = crossings as f32 / (mono.len() as f32 / fs);
    if voiced > 0 {
        let n = voiced as f64;
        f.centroid_hz = (centroid / n) as f32;
        f.rolloff_hz = (rolloff / n) as f32;
        f.flatness = (flatness / n) as f32;
        for (out, sum) in f.bands.iter_mut().zip(bands) {
            *out = (sum / n) as f32;
        }
        let mean = frame_db.iter().sum::<f32>() / frame_db.len() as f32;
        f.dynamics_db = (frame_db.iter().map(|d| (d - mean).powi(2)).sum::<f32>()
            / frame_db.len() as f32)
            .sqrt();
        f.tempo_bpm = tempo(&onsets, fs / HOP as f32);
    }
    f
}

/// Eight log-spaced bands from 60 Hz to the Nyquist frequency.
fn band_edges(fs: f32) -> [(f32, f32); BANDS] {
    let (low, high) = (60.0f32, fs / 2.0);
    let ratio = (high / low).powf(1.0 / BANDS as f32);
    let mut edges = [(0.0, 0.0); BANDS];
    let mut lo = low;
    for e in edges.iter_mut() {
        *e = (lo, lo * ratio);
        lo *= ratio;
    }
    edges[BANDS - 1].1 = f32::INFINITY;
    edges
}

/// The tempo in an onset envelope sampled at `rate` per second: the lag between 60 and 180
/// beats per minute at which the envelope best matches itself, leaning towards 120 (the
/// usual octave confusion), refined between frames. 0 if no beat stands out.
fn tempo(onsets: &[f32], rate: f32) -> f32 {
    if onsets.len() < 4 {
        return 0.0;
    }
    let mean = onsets.iter().sum::<f32>() / onsets.len() as f32;
    let centred: Vec<f32> = onsets.iter().map(|o| o - mean).collect();
    let energy: f32 = centred.iter().map(|c| c * c).sum();
    if energy <= 1e-6 * onsets.len() as f32 {
        return 0.0;
    }
    let shortest = (60.0 * rate / FASTEST_BPM).floor().max(1.0) as usize;
    let longest = ((60.0 * rate / SLOWEST_BPM).ceil() as usize).min(centred.len() - 2);
    if shortest + 1 >= longest {
        return 0.0;
    }
    let correlation = |lag: usize| -> f32 {
        centred
            .iter()
            .zip(&centred[lag..])
            .map(|(a, b)| a * b)
            .sum::<f32>()
            / (centred.len() - lag) as f32
    };
    let values: Vec<f32> = (shortest - 1..=longest + 1).map(correlation).collect();
    let weight = |lag: f32| {
        let bpm = 60.0 * rate / lag;
        let octaves = (bpm / 120.0).log2();
        (-0.5 * (octaves / 0.9).powi(2)).exp()
    };
    let mut best = (0usize, f32::MIN);
    for (i, lag) in (shortest..=longest).enumerate() {
        let v = values[i + 1] * weight(lag as f32);
        if v > best.1 {
            best = (i + 1, v);
        }
    }
    let (i, score) = best;
    // A beat must stand out against the envelope's own energy.
    if score <= 0.1 * energy / centred.len() as f32 {
        return 0.0;
    }
    let (a, b, c) = (values[i - 1], values[i], values[i + 1]);
    let shift = {
        let d = a - 2.0 * b + c;
        if d.abs() > 1e-12 {
            (0.5 * (a - c) / d).clamp(-0.5, 0.5)
        } else {
            0.0
        }
    };
    let lag = (shortest + i - 1) as f32 + shift;
    60.0 * rate / lag
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 44_100;

    fn tone(hz: f32, seconds: f32, amplitude: f32) -> Vec<f32> {
        (0..(seconds * RATE as f32) as usize)
            .map(|i| amplitude * (std::f32::consts::TAU * hz * i as f32 / RATE as f32).sin())
            .collect()
    }

    /// Short bursts of noise, `bpm` a minute.
    fn clicks(bpm: f32, seconds: f32) -> Vec<f32> {
        let period = (60.0 / bpm * RATE as f32) as usize;
        let mut seed = 1u32;
        (0..(seconds * RATE as f32) as usize)
            .map(|i| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                if i % period < RATE as usize / 50 {
                    noise
                } else {
                    0.0
                }
            })
            .collect()
    }

    #[test]
    fn the_tempo_of_a_click_track_is_found() {
        for bpm in [72.0, 100.0, 128.0, 160.0] {
            let f = analyse(&clicks(bpm, 20.0), RATE, 1);
            assert!(
                (f.tempo_bpm - bpm).abs() < 2.5,
                "{bpm} BPM found as {}",
                f.tempo_bpm
            );
        }
    }

    #[test]
    fn brightness_noisiness_and_loudness_tell_sounds_apart() {
        let low = analyse(&tone(220.0, 5.0, 0.5), RATE, 1);
        let high = analyse(&tone(3000.0, 5.0, 0.5), RATE, 1);
        assert!(
            low.centroid_hz < 400.0 && high.centroid_hz > 2500.0,
            "{low:?} {high:?}"
        );
        assert!(low.rolloff_hz < high.rolloff_hz);
        assert!(low.bands[0] + low.bands[1] + low.bands[2] > 0.9, "{low:?}");
        let sum: f32 = high.bands.iter().sum();
        assert!((sum - 1.0).abs() < 1e-3, "{high:?}");
        // A held tone has no beat; noise is flat, a tone is not.
        assert_eq!(low.tempo_bpm, 0.0);
        let noise = analyse(&clicks(6000.0, 5.0), RATE, 1);
        assert!(noise.flatness > 10.0 * low.flatness, "{noise:?} {low:?}");
        // Half the amplitude is 6 dB quieter.
        let quiet = analyse(&tone(220.0, 5.0, 0.25), RATE, 1);
        assert!((low.loudness_db - quiet.loudness_db - 6.02).abs() < 0.1);
        assert!((low.zero_crossings - 440.0).abs() < 5.0, "{low:?}");
    }

    #[test]
    fn stereo_is_heard_as_mono_and_odd_input_gives_numbers() {
        let mono = tone(440.0, 3.0, 0.5);
        let stereo: Vec<f32> = mono.iter().flat_map(|s| [*s, *s]).collect();
        let (a, b) = (analyse(&mono, RATE, 1), analyse(&stereo, RATE, 2));
        assert!((a.centroid_hz - b.centroid_hz).abs() < 1.0);
        for odd in [vec![], vec![0.0; 100], vec![0.0; 50_000], vec![1.0; 50_000]] {
            let f = analyse(&odd, RATE, 2);
            assert!(f.to_vec().iter().all(|x| x.is_finite()), "{f:?}");
        }
        let silence = analyse(&vec![0.0; 100_000], RATE, 1);
        assert_eq!((silence.tempo_bpm, silence.bands), (0.0, [0.0; BANDS]));
    }

    #[test]
    fn files_of_every_format_are_analysed_and_broken_ones_say_which() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut analysed = 0;
        for entry in walkdir::WalkDir::new(root.join("library")) {
            let path = entry.unwrap().into_path();
            let audio = [
                "mp3", "flac", "ogg", "opus", "m4a", "wav", "aiff", "ape", "wv", "mpc", "spx",
                "aac",
            ];
            if !path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| audio.contains(&e))
            {
                continue;
            }
            // Formats decoded by system libraries may be missing here; the rest must work.
            match analyse_file(&path) {
                Ok(f) => {
                    assert!(f.to_vec().iter().all(|x| x.is_finite()), "{path:?}: {f:?}");
                    analysed += 1;
                }
                Err(e) => assert!(format!("{e:#}").contains("cannot"), "{path:?}: {e:#}"),
            }
        }
        assert!(analysed >= 10, "only {analysed} fixtures analysed");
        for entry in std::fs::read_dir(root.join("broken")).unwrap() {
            let path = entry.unwrap().path();
            if let Err(e) = analyse_file(&path) {
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                assert!(format!("{e:#}").contains(&name), "{e:#}");
            }
        }
    }
}

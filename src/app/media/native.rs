//! Decoders for the formats symphonia does not read, through the system's C libraries loaded at
//! run time (as for libopus: their Rust bindings build them with CMake, which a fresh machine
//! does not have): WavPack (`libwavpack.so.1`, Debian's `libwavpack1`), Musepack
//! (`libmpcdec.so.6`, `libmpcdec6`) and Speex in Ogg (`libspeex.so.1`, `libspeex1`; mono, the
//! only kind Speex files here come in). A machine without the library answers transcodes of
//! those files with an error naming the package; raw streaming never needs them. Monkey's Audio
//! has no library in Debian: the pure-Rust `ape-decoder` crate reads it.

use std::ffi::{c_char, c_int, c_void, CString};
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Result};

/// What [`super::decode::Source`] needs of a decoder it does not own.
pub trait Native: Send {
    fn rate(&self) -> u32;
    fn channels(&self) -> usize;
    /// Appends the next block of interleaved samples; `Ok(false)` at the end.
    fn next_block(&mut self, out: &mut Vec<f32>) -> Result<bool>;
    /// Moves to `seconds` from the start, exactly.
    fn seek(&mut self, seconds: f64) -> Result<()>;
}

/// The decoder for a file with `suffix`, if a library here reads it.
pub fn open(path: &Path, suffix: &str) -> Option<Result<Box<dyn Native>>> {
    match suffix {
        "wv" => Some(WavPack::open(path).map(|d| Box::new(d) as Box<dyn Native>)),
        "mpc" => Some(Musepack::open(path).map(|d| Box::new(d) as Box<dyn Native>)),
        "spx" => Some(Speex::open(path).map(|d| Box::new(d) as Box<dyn Native>)),
        "ape" => Some(Ape::open(path).map(|d| Box::new(d) as Box<dyn Native>)),
        _ => None,
    }
}

/// Whether a file with `suffix` can be decoded by a library loaded here.
pub fn available(suffix: &str) -> bool {
    match suffix {
        "wv" => wavpack().is_ok(),
        "mpc" => mpcdec().is_ok(),
        "spx" => speex().is_ok(),
        "ape" => true,
        _ => false,
    }
}

fn c_path(path: &Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes()).map_err(|_| anyhow!("a path with a NUL byte"))
}

macro_rules! library {
    ($fn_name:ident, $lib:ident, $file:literal, $package:literal, { $($field:ident: $ty:ty = $sym:literal),* $(,)? }) => {
        struct $lib {
            _lib: libloading::Library,
            $($field: $ty,)*
        }

        fn $fn_name() -> Result<&'static $lib> {
            static LIB: OnceLock<Result<$lib, String>> = OnceLock::new();
            LIB.get_or_init(|| {
                // SAFETY: the library runs no code when loaded; each symbol is given its C type.
                unsafe {
                    let lib = libloading::Library::new($file).map_err(|e| {
                        format!(concat!($file, " is not installed ({}); install the package ", $package), e)
                    })?;
                    Ok($lib {
                        $($field: *lib
                            .get::<$ty>($sym)
                            .map_err(|e| format!(concat!($file, " lacks a function: {}"), e))?,)*
                        _lib: lib,
                    })
                }
            })
            .as_ref()
            .map_err(|e| anyhow!("{e}"))
        }
    };
}

library!(wavpack, WavPackLib, "libwavpack.so.1", "libwavpack1", {
    open_input: unsafe extern "C" fn(*const c_char, *mut c_char, c_int, c_int) -> *mut c_void = b"WavpackOpenFileInput\0",
    channels: unsafe extern "C" fn(*mut c_void) -> c_int = b"WavpackGetNumChannels\0",
    sample_rate: unsafe extern "C" fn(*mut c_void) -> u32 = b"WavpackGetSampleRate\0",
    bits: unsafe extern "C" fn(*mut c_void) -> c_int = b"WavpackGetBitsPerSample\0",
    mode: unsafe extern "C" fn(*mut c_void) -> c_int = b"WavpackGetMode\0",
    unpack: unsafe extern "C" fn(*mut c_void, *mut i32, u32) -> u32 = b"WavpackUnpackSamples\0",
    seek_sample: unsafe extern "C" fn(*mut c_void, u32) -> c_int = b"WavpackSeekSample\0",
    close: unsafe extern "C" fn(*mut c_void) -> *mut c_void = b"WavpackCloseFile\0",
});

const WAVPACK_OPEN_NORMALIZE: c_int = 0x10;
const WAVPACK_MODE_FLOAT: c_int = 0x8;
/// Samples per channel unpacked at a time.
const WAVPACK_BLOCK: usize = 4096;

struct WavPack {
    lib: &'static WavPackLib,
    ctx: *mut c_void,
    rate: u32,
    channels: usize,
    float: bool,
    scale: f32,
    ints: Vec<i32>,
}

// SAFETY: the context is owned by this value and used by one thread at a time.
unsafe impl Send for WavPack {}

impl WavPack {
    fn open(path: &Path) -> Result<WavPack> {
        let lib = wavpack()?;
        let name = c_path(path)?;
        let mut error = [0 as c_char; 128];
        // SAFETY: a NUL-terminated path and an error buffer larger than the 80 bytes it needs.
        let ctx = unsafe {
            (lib.open_input)(name.as_ptr(), error.as_mut_ptr(), WAVPACK_OPEN_NORMALIZE, 0)
        };
        if ctx.is_null() {
            // SAFETY: the library wrote a NUL-terminated message into the buffer.
            let message = unsafe { std::ffi::CStr::from_ptr(error.as_ptr()) };
            bail!(
                "libwavpack cannot read the file: {}",
                message.to_string_lossy()
            );
        }
        // SAFETY: a valid context for each call.
        let (channels, rate, bits, mode) = unsafe {
            (
                (lib.channels)(ctx),
                (lib.sample_rate)(ctx),
                (lib.bits)(ctx),
                (lib.mode)(ctx),
            )
        };
        let decoder = WavPack {
            lib,
            ctx,
            rate,
            channels: channels.max(1) as usize,
            float: mode & WAVPACK_MODE_FLOAT != 0,
            scale: 1.0 / (1u64 << (bits.clamp(1, 32) - 1)) as f32,
            ints: Vec::new(),
        };
        if channels < 1 || rate == 0 {
            bail!("libwavpack reports {channels} channels at {rate} Hz");
        }
        Ok(decoder)
    }
}

impl Native for WavPack {
    fn rate(&self) -> u32 {
        self.rate
    }
    fn channels(&self) -> usize {
        self.channels
    }
    fn next_block(&mut self, out: &mut Vec<f32>) -> Result<bool> {
        self.ints.resize(WAVPACK_BLOCK * self.channels, 0);
        // SAFETY: the buffer holds WAVPACK_BLOCK samples for every channel.
        let n = unsafe { (self.lib.unpack)(self.ctx, self.ints.as_mut_ptr(), WAVPACK_BLOCK as u32) }
            as usize;
        if n == 0 {
            return Ok(false);
        }
        let samples = &self.ints[..n * self.channels];
        if self.float {
            out.extend(samples.iter().map(|s| f32::from_bits(*s as u32)));
        } else {
            out.extend(samples.iter().map(|s| *s as f32 * self.scale));
        }
        Ok(true)
    }
    fn seek(&mut self, seconds: f64) -> Result<()> {
        let sample = (seconds * self.rate as f64) as u32;
        // SAFETY: a valid context.
        if unsafe { (self.lib.seek_sample)(self.ctx, sample) } == 0 {
            bail!("libwavpack cannot seek to {seconds} s");
        }
        Ok(())
    }
}

impl Drop for WavPack {
    fn drop(&mut self) {
        // SAFETY: opened by WavpackOpenFileInput and closed once.
        unsafe { (self.lib.close)(self.ctx) };
    }
}

library!(mpcdec, MpcLib, "libmpcdec.so.6", "libmpcdec6", {
    reader_init: unsafe extern "C" fn(*mut MpcReader, *const c_char) -> c_int = b"mpc_reader_init_stdio\0",
    reader_exit: unsafe extern "C" fn(*mut MpcReader) = b"mpc_reader_exit_stdio\0",
    demux_init: unsafe extern "C" fn(*mut MpcReader) -> *mut c_void = b"mpc_demux_init\0",
    demux_exit: unsafe extern "C" fn(*mut c_void) = b"mpc_demux_exit\0",
    demux_info: unsafe extern "C" fn(*mut c_void, *mut u8) = b"mpc_demux_get_info\0",
    demux_decode: unsafe extern "C" fn(*mut c_void, *mut MpcFrame) -> c_int = b"mpc_demux_decode\0",
    demux_seek: unsafe extern "C" fn(*mut c_void, u64) -> c_int = b"mpc_demux_seek_sample\0",
});

/// `mpc_reader`: five callbacks and their data (filled by `mpc_reader_init_stdio`).
#[repr(C)]
struct MpcReader {
    callbacks: [*mut c_void; 5],
    data: *mut c_void,
}

/// `mpc_frame_info`.
#[repr(C)]
struct MpcFrame {
    samples: u32,
    bits: i32,
    buffer: *mut f32,
    is_key_frame: u8,
}

/// Room for one decoded frame: 1,152 samples for each of at most 2 channels, with margin.
const MPC_BUFFER: usize = 1152 * 2 * 4;

struct Musepack {
    lib: &'static MpcLib,
    // Boxed: the demuxer keeps a pointer to the reader.
    reader: Box<MpcReader>,
    demux: *mut c_void,
    rate: u32,
    channels: usize,
    buffer: Vec<f32>,
}

// SAFETY: the reader and demuxer are owned by this value and used by one thread at a time.
unsafe impl Send for Musepack {}

impl Musepack {
    fn open(path: &Path) -> Result<Musepack> {
        let lib = mpcdec()?;
        let name = c_path(path)?;
        let mut reader = Box::new(MpcReader {
            callbacks: [std::ptr::null_mut(); 5],
            data: std::ptr::null_mut(),
        });
        // SAFETY: a NUL-terminated path and a reader the library fills.
        if unsafe { (lib.reader_init)(&mut *reader, name.as_ptr()) } != 0 {
            bail!("libmpcdec cannot open the file");
        }
        // SAFETY: an initialised reader that outlives the demuxer (both dropped together).
        let demux = unsafe { (lib.demux_init)(&mut *reader) };
        if demux.is_null() {
            // SAFETY: initialised above, closed once.
            unsafe { (lib.reader_exit)(&mut *reader) };
            bail!("libmpcdec cannot read the file as Musepack");
        }
        // mpc_streaminfo starts with the sample rate and the channel count (two u32s); the
        // buffer is far larger than the whole struct.
        let mut info = vec![0u8; 4096];
        // SAFETY: a valid demuxer and a buffer larger than mpc_streaminfo.
        unsafe { (lib.demux_info)(demux, info.as_mut_ptr()) };
        let rate = u32::from_ne_bytes([info[0], info[1], info[2], info[3]]);
        let channels = u32::from_ne_bytes([info[4], info[5], info[6], info[7]]) as usize;
        let decoder = Musepack {
            lib,
            reader,
            demux,
            rate,
            channels,
            buffer: vec![0.0; MPC_BUFFER],
        };
        if !(1..=2).contains(&channels) || rate == 0 {
            bail!("libmpcdec reports {channels} channels at {rate} Hz");
        }
        Ok(decoder)
    }
}

impl Native for Musepack {
    fn rate(&self) -> u32 {
        self.rate
    }
    fn channels(&self) -> usize {
        self.channels
    }
    fn next_block(&mut self, out: &mut Vec<f32>) -> Result<bool> {
        let mut frame = MpcFrame {
            samples: 0,
            bits: 0,
            buffer: self.buffer.as_mut_ptr(),
            is_key_frame: 0,
        };
        // SAFETY: a valid demuxer and a buffer larger than one decoded frame.
        let status = unsafe { (self.lib.demux_decode)(self.demux, &mut frame) };
        if status != 0 {
            bail!("the file is damaged (libmpcdec status {status})");
        }
        if frame.bits == -1 {
            return Ok(false);
        }
        let n = (frame.samples as usize * self.channels).min(self.buffer.len());
        out.extend_from_slice(&self.buffer[..n]);
        Ok(true)
    }
    fn seek(&mut self, seconds: f64) -> Result<()> {
        let sample = (seconds * self.rate as f64) as u64;
        // SAFETY: a valid demuxer.
        if unsafe { (self.lib.demux_seek)(self.demux, sample) } != 0 {
            bail!("libmpcdec cannot seek to {seconds} s");
        }
        Ok(())
    }
}

impl Drop for Musepack {
    fn drop(&mut self) {
        // SAFETY: made in `open`, each released once, the demuxer before its reader.
        unsafe {
            (self.lib.demux_exit)(self.demux);
            (self.lib.reader_exit)(&mut *self.reader);
        }
    }
}

library!(speex, SpeexLib, "libspeex.so.1", "libspeex1", {
    get_mode: unsafe extern "C" fn(c_int) -> *const c_void = b"speex_lib_get_mode\0",
    decoder_init: unsafe extern "C" fn(*const c_void) -> *mut c_void = b"speex_decoder_init\0",
    decoder_ctl: unsafe extern "C" fn(*mut c_void, c_int, *mut c_void) -> c_int = b"speex_decoder_ctl\0",
    decoder_destroy: unsafe extern "C" fn(*mut c_void) = b"speex_decoder_destroy\0",
    bits_init: unsafe extern "C" fn(*mut SpeexBits) = b"speex_bits_init\0",
    bits_destroy: unsafe extern "C" fn(*mut SpeexBits) = b"speex_bits_destroy\0",
    bits_read_from: unsafe extern "C" fn(*mut SpeexBits, *const c_char, c_int) = b"speex_bits_read_from\0",
    decode: unsafe extern "C" fn(*mut c_void, *mut SpeexBits, *mut f32) -> c_int = b"speex_decode\0",
});

/// `SpeexBits` is 48 bytes on 64-bit Linux; this leaves room and keeps pointer alignment.
#[repr(C, align(8))]
struct SpeexBits([u8; 128]);

const SPEEX_GET_FRAME_SIZE: c_int = 3;

struct Speex {
    lib: &'static SpeexLib,
    packets: ogg::reading::PacketReader<std::io::BufReader<std::fs::File>>,
    state: *mut c_void,
    bits: Box<SpeexBits>,
    rate: u32,
    frames_per_packet: usize,
    frame: Vec<f32>,
    /// Samples to drop: the rest of a seek, which decodes from the start.
    skip: usize,
}

// SAFETY: the decoder state is owned by this value and used by one thread at a time.
unsafe impl Send for Speex {}

impl Speex {
    fn open(path: &Path) -> Result<Speex> {
        let lib = speex()?;
        let file = std::fs::File::open(path)?;
        let mut packets = ogg::reading::PacketReader::new(std::io::BufReader::new(file));
        let header = packets
            .read_packet()
            .map_err(|e| anyhow!("not an Ogg file: {e}"))?
            .ok_or_else(|| anyhow!("an empty Ogg file"))?;
        let h = &header.data;
        if h.len() < 80 || !h.starts_with(b"Speex   ") {
            bail!("not a Speex stream");
        }
        let field = |at: usize| i32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        let (rate, mode, channels, frames_per_packet) =
            (field(36), field(40), field(48), field(64));
        if channels != 1 {
            bail!("stereo Speex is not decoded here (only mono)");
        }
        if !(0..=2).contains(&mode) || !(1..=192_000).contains(&rate) {
            bail!("a Speex header with mode {mode} at {rate} Hz");
        }
        // The comment header.
        packets
            .read_packet()
            .map_err(|e| anyhow!("a damaged Speex header: {e}"))?;
        // SAFETY: a mode number the library defines (checked above).
        let state = unsafe { (lib.decoder_init)((lib.get_mode)(mode)) };
        if state.is_null() {
            bail!("libspeex could not make a decoder");
        }
        let mut frame_size: c_int = 0;
        let mut bits = Box::new(SpeexBits([0; 128]));
        // SAFETY: a valid state; the request writes one int; the bits struct has room.
        unsafe {
            (lib.decoder_ctl)(
                state,
                SPEEX_GET_FRAME_SIZE,
                (&mut frame_size as *mut c_int).cast(),
            );
            (lib.bits_init)(&mut *bits);
        }
        let frame_size = frame_size.clamp(1, 4096) as usize;
        Ok(Speex {
            lib,
            packets,
            state,
            bits,
            rate: rate as u32,
            frames_per_packet: frames_per_packet.clamp(1, 64) as usize,
            frame: vec![0.0; frame_size],
            skip: 0,
        })
    }
}

impl Native for Speex {
    fn rate(&self) -> u32 {
        self.rate
    }
    fn channels(&self) -> usize {
        1
    }
    fn next_block(&mut self, out: &mut Vec<f32>) -> Result<bool> {
        let packet = match self.packets.read_packet() {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(false),
            Err(e) => bail!("the file is damaged: {e}"),
        };
        let len = packet.data.len().min(c_int::MAX as usize) as c_int;
        // SAFETY: the bits struct was initialised; the packet outlives the call (it is copied).
        unsafe { (self.lib.bits_read_from)(&mut *self.bits, packet.data.as_ptr().cast(), len) };
        let start = out.len();
        for _ in 0..self.frames_per_packet {
            // SAFETY: a valid state, initialised bits and a buffer of one frame.
            let rc =
                unsafe { (self.lib.decode)(self.state, &mut *self.bits, self.frame.as_mut_ptr()) };
            if rc != 0 {
                break;
            }
            // libspeex gives floats on the 16-bit scale.
            out.extend(self.frame.iter().map(|s| s / 32768.0));
        }
        let drop = self.skip.min(out.len() - start);
        out.drain(start..start + drop);
        self.skip -= drop;
        Ok(true)
    }
    fn seek(&mut self, seconds: f64) -> Result<()> {
        // Speex in Ogg has no index: decode from here and drop what comes before the time.
        self.skip = (seconds * self.rate as f64) as usize;
        Ok(())
    }
}

impl Drop for Speex {
    fn drop(&mut self) {
        // SAFETY: made in `open`, each released once.
        unsafe {
            (self.lib.bits_destroy)(&mut *self.bits);
            (self.lib.decoder_destroy)(self.state);
        }
    }
}

/// Monkey's Audio through the pure-Rust `ape-decoder` (no system library has it).
struct Ape {
    decoder: ape_decoder::ApeDecoder<std::io::BufReader<std::fs::File>>,
    rate: u32,
    channels: usize,
    bits: u16,
    float: bool,
    signed_8bit: bool,
    next_frame: u32,
    /// Samples per channel to drop from the next frame (the rest of a seek).
    skip: usize,
}

impl Ape {
    fn open(path: &Path) -> Result<Ape> {
        let file = std::io::BufReader::new(std::fs::File::open(path)?);
        let decoder = ape_decoder::ApeDecoder::new(file)
            .map_err(|e| anyhow!("not a Monkey's Audio file: {e}"))?;
        let info = decoder.info().clone();
        if info.channels == 0
            || info.sample_rate == 0
            || ![8, 16, 24, 32].contains(&info.bits_per_sample)
        {
            bail!(
                "a Monkey's Audio file with {} channels, {} Hz, {} bits",
                info.channels,
                info.sample_rate,
                info.bits_per_sample
            );
        }
        Ok(Ape {
            decoder,
            rate: info.sample_rate,
            channels: info.channels as usize,
            bits: info.bits_per_sample,
            float: info.is_floating_point,
            signed_8bit: info.is_signed_8bit,
            next_frame: 0,
            skip: 0,
        })
    }
}

impl Native for Ape {
    fn rate(&self) -> u32 {
        self.rate
    }
    fn channels(&self) -> usize {
        self.channels
    }
    fn next_block(&mut self, out: &mut Vec<f32>) -> Result<bool> {
        if self.next_frame >= self.decoder.total_frames() {
            return Ok(false);
        }
        let bytes = self
            .decoder
            .decode_frame(self.next_frame)
            .map_err(|e| anyhow!("the file is damaged: {e}"))?;
        self.next_frame += 1;
        let start = out.len();
        match self.bits {
            8 if self.signed_8bit => out.extend(bytes.iter().map(|b| *b as i8 as f32 / 128.0)),
            8 => out.extend(bytes.iter().map(|b| (*b as f32 - 128.0) / 128.0)),
            16 => out.extend(
                bytes
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0),
            ),
            24 => out.extend(
                bytes
                    .chunks_exact(3)
                    .map(|b| (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f32 / 8_388_608.0),
            ),
            _ if self.float => out.extend(
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            ),
            _ => out.extend(
                bytes
                    .chunks_exact(4)
                    .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0),
            ),
        }
        let drop = (self.skip * self.channels).min(out.len() - start);
        out.drain(start..start + drop);
        self.skip -= drop / self.channels;
        Ok(true)
    }
    fn seek(&mut self, seconds: f64) -> Result<()> {
        let sample = (seconds * self.rate as f64) as u64;
        let at = self
            .decoder
            .seek(sample)
            .map_err(|e| anyhow!("cannot seek to {seconds} s: {e}"))?;
        self.next_frame = at.frame_index;
        self.skip = at.skip_samples as usize;
        Ok(())
    }
}

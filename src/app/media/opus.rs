//! libopus, loaded at run time (`libopus.so.0`, Debian's `libopus0`).
//!
//! Every Rust binding of libopus builds it with CMake, which a fresh machine does not have, so
//! Houseband opens the system library instead: the binary builds with cargo alone, and a machine
//! without libopus still runs everything else, answering Opus requests with an error that says
//! which package to install.

use std::ffi::{c_int, c_void};
use std::sync::OnceLock;

use anyhow::{anyhow, Result};

type EncoderCreate = unsafe extern "C" fn(i32, c_int, c_int, *mut c_int) -> *mut c_void;
type EncoderCtl = unsafe extern "C" fn(*mut c_void, c_int, ...) -> c_int;
type EncodeFloat = unsafe extern "C" fn(*mut c_void, *const f32, c_int, *mut u8, i32) -> i32;
type Destroy = unsafe extern "C" fn(*mut c_void);
type DecoderCreate = unsafe extern "C" fn(i32, c_int, *mut c_int) -> *mut c_void;
type DecodeFloat =
    unsafe extern "C" fn(*mut c_void, *const u8, i32, *mut f32, c_int, c_int) -> c_int;

const OPUS_APPLICATION_AUDIO: c_int = 2049;
const OPUS_SET_BITRATE_REQUEST: c_int = 4002;
const OPUS_GET_LOOKAHEAD_REQUEST: c_int = 4027;

struct Lib {
    // Kept open for as long as the function pointers below are used: the whole process.
    _lib: libloading::Library,
    encoder_create: EncoderCreate,
    encoder_ctl: EncoderCtl,
    encode_float: EncodeFloat,
    encoder_destroy: Destroy,
    decoder_create: DecoderCreate,
    decode_float: DecodeFloat,
    decoder_destroy: Destroy,
}

fn load() -> Result<Lib, String> {
    // SAFETY: libopus runs no code when loaded, and each symbol is given its documented C type.
    unsafe {
        let lib = libloading::Library::new("libopus.so.0")
            .map_err(|e| format!("libopus is not installed ({e}); install the package libopus0"))?;
        macro_rules! sym {
            ($name:literal) => {
                *lib.get($name)
                    .map_err(|e| format!("libopus lacks a function: {e}"))?
            };
        }
        Ok(Lib {
            encoder_create: sym!(b"opus_encoder_create\0"),
            encoder_ctl: sym!(b"opus_encoder_ctl\0"),
            encode_float: sym!(b"opus_encode_float\0"),
            encoder_destroy: sym!(b"opus_encoder_destroy\0"),
            decoder_create: sym!(b"opus_decoder_create\0"),
            decode_float: sym!(b"opus_decode_float\0"),
            decoder_destroy: sym!(b"opus_decoder_destroy\0"),
            _lib: lib,
        })
    }
}

fn lib() -> Result<&'static Lib> {
    static LIB: OnceLock<Result<Lib, String>> = OnceLock::new();
    LIB.get_or_init(load).as_ref().map_err(|e| anyhow!("{e}"))
}

/// Whether Opus can be encoded and decoded on this machine.
pub fn available() -> bool {
    lib().is_ok()
}

/// An Opus encoder at 48 kHz.
pub struct Encoder {
    lib: &'static Lib,
    state: *mut c_void,
    channels: usize,
}

// SAFETY: the encoder state is owned by this value and used by one thread at a time.
unsafe impl Send for Encoder {}

impl Encoder {
    pub fn new(channels: usize, bitrate: u32) -> Result<Encoder> {
        let lib = lib()?;
        let mut err: c_int = 0;
        // SAFETY: valid arguments; the result is checked before use.
        let state = unsafe {
            (lib.encoder_create)(48_000, channels as c_int, OPUS_APPLICATION_AUDIO, &mut err)
        };
        if state.is_null() || err != 0 {
            return Err(anyhow!("libopus could not make an encoder (error {err})"));
        }
        let enc = Encoder {
            lib,
            state,
            channels,
        };
        // SAFETY: the request takes one opus_int32 argument.
        let rc = unsafe { (lib.encoder_ctl)(state, OPUS_SET_BITRATE_REQUEST, bitrate as i32) };
        if rc != 0 {
            return Err(anyhow!(
                "libopus refused the bit rate {bitrate} (error {rc})"
            ));
        }
        Ok(enc)
    }

    /// Samples per channel the encoder delays its output by (the Ogg header's pre-skip).
    pub fn lookahead(&self) -> u16 {
        let mut value: i32 = 0;
        // SAFETY: the request takes one opus_int32 pointer.
        unsafe { (self.lib.encoder_ctl)(self.state, OPUS_GET_LOOKAHEAD_REQUEST, &mut value) };
        value.clamp(0, u16::MAX as i32) as u16
    }

    /// Encodes one frame (`pcm` holds 20 ms: 960 samples per channel, interleaved).
    pub fn encode(&mut self, pcm: &[f32], out: &mut Vec<u8>) -> Result<()> {
        let frames = pcm.len() / self.channels;
        out.resize(4000, 0);
        // SAFETY: `pcm` holds `frames` samples per channel; `out` has room for 4,000 bytes.
        let n = unsafe {
            (self.lib.encode_float)(
                self.state,
                pcm.as_ptr(),
                frames as c_int,
                out.as_mut_ptr(),
                out.len() as i32,
            )
        };
        if n < 0 {
            return Err(anyhow!("libopus could not encode a frame (error {n})"));
        }
        out.truncate(n as usize);
        Ok(())
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: made by opus_encoder_create and destroyed once.
        unsafe { (self.lib.encoder_destroy)(self.state) }
    }
}

/// An Opus decoder at 48 kHz.
pub struct Decoder {
    lib: &'static Lib,
    state: *mut c_void,
    channels: usize,
}

// SAFETY: as for the encoder.
unsafe impl Send for Decoder {}

impl Decoder {
    pub fn new(channels: usize) -> Result<Decoder> {
        let lib = lib()?;
        let mut err: c_int = 0;
        // SAFETY: valid arguments; the result is checked before use.
        let state = unsafe { (lib.decoder_create)(48_000, channels as c_int, &mut err) };
        if state.is_null() || err != 0 {
            return Err(anyhow!("libopus could not make a decoder (error {err})"));
        }
        Ok(Decoder {
            lib,
            state,
            channels,
        })
    }

    /// Decodes one packet into interleaved samples appended to `out`.
    pub fn decode(&mut self, packet: &[u8], out: &mut Vec<f32>) -> Result<()> {
        // 120 ms is the longest an Opus packet can hold.
        const MAX_FRAMES: usize = 5760;
        let start = out.len();
        out.resize(start + MAX_FRAMES * self.channels, 0.0);
        // SAFETY: `out` has room for MAX_FRAMES samples per channel after `start`.
        let n = unsafe {
            (self.lib.decode_float)(
                self.state,
                packet.as_ptr(),
                packet.len() as i32,
                out[start..].as_mut_ptr(),
                MAX_FRAMES as c_int,
                0,
            )
        };
        if n < 0 {
            out.truncate(start);
            return Err(anyhow!("libopus could not decode a packet (error {n})"));
        }
        out.truncate(start + n as usize * self.channels);
        Ok(())
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: made by opus_decoder_create and destroyed once.
        unsafe { (self.lib.decoder_destroy)(self.state) }
    }
}

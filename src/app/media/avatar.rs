//! User avatars: a picture a user uploads (shrunk to 512 px, kept as PNG in `<data>/avatars`),
//! or else a default made from the user name: a symmetric 5x5 pattern in a colour of its own,
//! the same for a name every time, so each person in the house is told apart at a glance.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use image::{ImageFormat, Rgb, RgbImage};
use xxhash_rust::xxh3::xxh3_64;

/// The largest upload accepted.
pub const MAX_UPLOAD: usize = 8 * 1024 * 1024;
/// Edge of stored avatars and of the default ones.
const EDGE: u32 = 512;
const DEFAULT_EDGE: u32 = 250;

pub struct Avatars {
    dir: PathBuf,
}

impl Avatars {
    pub fn new(dir: PathBuf) -> Avatars {
        Avatars { dir }
    }

    fn path(&self, user: i64) -> PathBuf {
        self.dir.join(format!("{user}.png"))
    }

    /// Stores `bytes` (any image the `image` crate reads) as the user's avatar.
    pub fn set(&self, user: i64, bytes: &[u8]) -> Result<()> {
        if bytes.len() > MAX_UPLOAD {
            return Err(anyhow!("the picture is over {} MB", MAX_UPLOAD >> 20));
        }
        let image = image::load_from_memory(bytes).map_err(|e| {
            anyhow!("the upload is not a picture this server reads (JPEG, PNG, WebP, GIF): {e}")
        })?;
        let image = if image.width() > EDGE || image.height() > EDGE {
            image.thumbnail(EDGE, EDGE)
        } else {
            image
        };
        let mut png = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .context("cannot write the avatar")?;
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let part = self.dir.join(format!("{user}.png.part"));
        std::fs::write(&part, &png)
            .and_then(|()| std::fs::rename(&part, self.path(user)))
            .map_err(|e| {
                let _ = std::fs::remove_file(&part);
                anyhow!("cannot save the avatar in {}: {e}", self.dir.display())
            })
    }

    pub fn remove(&self, user: i64) -> Result<()> {
        match std::fs::remove_file(self.path(user)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// The user's avatar file: the uploaded one, else the default for `name` (made once).
    pub fn get(&self, user: i64, name: &str) -> Result<PathBuf> {
        let own = self.path(user);
        if own.is_file() {
            return Ok(own);
        }
        let default = self
            .dir
            .join(format!("default-{:016x}.png", xxh3_64(name.as_bytes())));
        if !default.is_file() {
            std::fs::create_dir_all(&self.dir)
                .with_context(|| format!("cannot create {}", self.dir.display()))?;
            write_default(&default, name)?;
        }
        Ok(default)
    }
}

fn write_default(path: &Path, name: &str) -> Result<()> {
    let hash = xxh3_64(name.as_bytes());
    // A saturated colour from the hash's top bits; cells from the low 15 bits.
    let hue = (hash >> 48) as f32 / 65536.0 * 6.0;
    let x = 1.0 - (hue % 2.0 - 1.0).abs();
    let (r, g, b) = match hue as u32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    let ink = Rgb([
        (60.0 + r * 150.0) as u8,
        (60.0 + g * 150.0) as u8,
        (60.0 + b * 150.0) as u8,
    ]);
    let paper = Rgb([240, 240, 240]);
    let cell = DEFAULT_EDGE / 5;
    let image = RgbImage::from_fn(cell * 5, cell * 5, |px, py| {
        let (cx, cy) = ((px / cell) as u64, (py / cell) as u64);
        // Mirror the left three columns onto the right two.
        let col = if cx > 2 { 4 - cx } else { cx };
        if hash >> (col * 5 + cy) & 1 == 1 {
            ink
        } else {
            paper
        }
    });
    let part = path.with_extension("png.part");
    image
        .save_with_format(&part, ImageFormat::Png)
        .map_err(|e| anyhow!("cannot write a default avatar: {e}"))?;
    std::fs::rename(&part, path).context("cannot keep a default avatar")
}

//! Cover art: images from folders (`cover.jpg`...) and pictures embedded in songs, the original
//! or resized, and 2x2 mosaics for playlists. Everything is sent from disk: extracted and
//! resized images are kept in `<data>/cache/art`, named by their source (path, size and change
//! time) so an edited cover makes a new entry.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView, ImageFormat};
use xxhash_rust::xxh3::xxh3_64;

/// Where a picture comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// An image file in the music folders.
    File(PathBuf),
    /// The front cover (or else the first picture) embedded in a song's tags.
    Embedded(PathBuf),
    /// Up to four pictures in a 2x2 grid.
    Mosaic(Vec<Source>),
}

impl From<crate::app::library::browse::ArtRow> for Source {
    fn from(row: crate::app::library::browse::ArtRow) -> Source {
        match (row.file, row.embedded) {
            (Some(file), _) => Source::File(file.into()),
            (None, Some(song)) => Source::Embedded(song.into()),
            (None, None) => unreachable!("art rows have a file or a song"),
        }
    }
}

/// The image format of resized output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Jpeg,
    WebP,
}

/// The largest edge a resized image gets; bigger asks get the original's size at most.
pub const MAX_SIZE: u32 = 2048;
/// Edge of a mosaic without a size asked for.
const MOSAIC_SIZE: u32 = 600;

pub struct Art {
    dir: PathBuf,
}

impl Art {
    pub fn new(dir: PathBuf) -> Art {
        Art { dir }
    }

    /// The picture as a file to send, with its content type: the original when `size` is
    /// `None` (a folder image as it is; an embedded one extracted once), else resized to fit
    /// `size` x `size` (never enlarged).
    pub fn get(
        &self,
        source: &Source,
        size: Option<u32>,
        output: Output,
    ) -> Result<(PathBuf, String)> {
        if let (Source::File(path), None) = (source, size) {
            return Ok((path.clone(), mime_of_path(path)));
        }
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create the art cache {}", self.dir.display()))?;
        let resized = size.is_some() || matches!(source, Source::Mosaic(_));
        let suffix = match (resized, output) {
            (false, _) => "orig",
            (true, Output::Jpeg) => "jpg",
            (true, Output::WebP) => "webp",
        };
        let name = format!(
            "{:016x}.{suffix}",
            xxh3_64(identity(source, size).as_bytes())
        );
        let path = self.dir.join(&name);
        if !resized {
            // An embedded picture as it is.
            let Source::Embedded(song) = source else {
                unreachable!("files are sent directly, mosaics are always made")
            };
            let (bytes, mime) = embedded(song)?;
            if !path.exists() {
                write_atomically(&path, &bytes)?;
            }
            return Ok((path, mime));
        }
        let mime = match output {
            Output::Jpeg => "image/jpeg",
            Output::WebP => "image/webp",
        };
        if path.exists() {
            return Ok((path, mime.to_string()));
        }
        let image = match source {
            Source::Mosaic(parts) => mosaic(parts, size.unwrap_or(MOSAIC_SIZE))?,
            other => fit(load(other)?, size.unwrap_or(MAX_SIZE)),
        };
        let mut bytes = Vec::new();
        match output {
            Output::Jpeg => {
                let rgb = DynamicImage::ImageRgb8(image.to_rgb8());
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
                    .encode_image(&rgb)
                    .context("cannot write the JPEG")?;
            }
            Output::WebP => image
                .write_to(&mut Cursor::new(&mut bytes), ImageFormat::WebP)
                .context("cannot write the WebP")?,
        }
        write_atomically(&path, &bytes)?;
        Ok((path, mime.to_string()))
    }
}

/// What makes a picture unique: its sources' paths, sizes and change times, and the size asked.
fn identity(source: &Source, size: Option<u32>) -> String {
    fn stamp(path: &Path) -> String {
        let meta = std::fs::metadata(path).ok();
        let changed = meta
            .as_ref()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        format!(
            "{}:{}:{changed}",
            path.display(),
            meta.map_or(0, |m| m.len())
        )
    }
    let what = match source {
        Source::File(p) => format!("file {}", stamp(p)),
        Source::Embedded(p) => format!("embedded {}", stamp(p)),
        Source::Mosaic(parts) => format!(
            "mosaic {}",
            parts
                .iter()
                .map(|p| identity(p, None))
                .collect::<Vec<_>>()
                .join("|")
        ),
    };
    format!("{what} size {size:?}")
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let part = path.with_extension(format!("{}.part", rand::random::<u32>()));
    std::fs::write(&part, bytes)
        .and_then(|()| std::fs::rename(&part, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&part);
            anyhow!("cannot write to the art cache {}: {e}", path.display())
        })
}

fn mime_of_path(path: &Path) -> String {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
        .as_str()
    {
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        _ => "image/jpeg",
    }
    .to_string()
}

/// The front cover embedded in a song, else its first picture: bytes and content type.
fn embedded(song: &Path) -> Result<(Vec<u8>, String)> {
    use lofty::file::TaggedFileExt;
    use lofty::picture::PictureType;
    let tagged = crate::app::library::tags::guarded(|| {
        lofty::read_from_path(song).map_err(|e| e.to_string())
    })
    .map_err(|e| anyhow!("cannot read the tags of {}: {e}", song.display()))?;
    let pictures: Vec<&lofty::picture::Picture> =
        tagged.tags().iter().flat_map(|t| t.pictures()).collect();
    let picture = pictures
        .iter()
        .find(|p| p.pic_type() == PictureType::CoverFront)
        .or_else(|| pictures.first())
        .ok_or_else(|| anyhow!("{} has no embedded picture", song.display()))?;
    let mime = picture
        .mime_type()
        .map(|m| m.as_str().to_string())
        .filter(|m| m.starts_with("image/"))
        .unwrap_or_else(|| "image/jpeg".into());
    Ok((picture.data().to_vec(), mime))
}

fn load(source: &Source) -> Result<DynamicImage> {
    let bytes = match source {
        Source::File(p) => {
            std::fs::read(p).with_context(|| format!("cannot read the image {}", p.display()))?
        }
        Source::Embedded(p) => embedded(p)?.0,
        Source::Mosaic(_) => return Err(anyhow!("a mosaic inside a mosaic")),
    };
    image::load_from_memory(&bytes)
        .map_err(|e| anyhow!("the image is damaged or of an unknown type: {e}"))
}

/// `image` shrunk to fit in `size` x `size` (never enlarged), keeping its shape.
fn fit(image: DynamicImage, size: u32) -> DynamicImage {
    let (w, h) = image.dimensions();
    if w <= size && h <= size {
        image
    } else {
        image.thumbnail(size, size)
    }
}

/// Up to four pictures in a 2x2 grid of `size` x `size` (one picture alone fills it; two or
/// three repeat to fill the grid). Damaged parts are left out.
fn mosaic(parts: &[Source], size: u32) -> Result<DynamicImage> {
    let images: Vec<DynamicImage> = parts.iter().take(4).filter_map(|p| load(p).ok()).collect();
    let size = size.clamp(2, MAX_SIZE);
    match images.len() {
        0 => Err(anyhow!("none of the playlist's covers could be read")),
        1 => Ok(images[0].resize_to_fill(size, size, FilterType::Triangle)),
        n => {
            let half = size / 2;
            let mut grid = image::RgbImage::new(half * 2, half * 2);
            for (i, (x, y)) in [(0, 0), (half, 0), (0, half), (half, half)]
                .into_iter()
                .enumerate()
            {
                let tile = images[i % n]
                    .resize_to_fill(half, half, FilterType::Triangle)
                    .to_rgb8();
                image::imageops::replace(&mut grid, &tile, x as i64, y as i64);
            }
            Ok(DynamicImage::ImageRgb8(grid))
        }
    }
}
/// The picture embedded in a song file, taken out, decoded and shrunk as cover art requests
/// do (what the fuzz targets run on files they make up): its size once shrunk.
pub(crate) fn embedded_picture(song: &Path) -> Result<(u32, u32)> {
    let image = load(&Source::Embedded(song.to_path_buf()))?;
    Ok(fit(image, 300).dimensions())
}

//! Thumbnails of pictures, embedded in the manifest so the receiver shows something before (or
//! without) fetching the file.
//!
//! A picture from a file someone chose can still be hostile (a PNG that claims 100 000 × 100 000
//! pixels, a JPEG bomb). So the whole source is read only up to [`MAX_SOURCE_BYTES`], its
//! dimensions are checked from the header before any pixel is allocated ([`MAX_SOURCE_SIDE`]), the
//! decoder may allocate at most [`MAX_DECODE_BYTES`], and the result must fit in
//! [`MAX_THUMBNAIL_BYTES`]. Any failure means no thumbnail, never a failed send.

use std::fmt;
use std::io::{Cursor, Read};

use image::codecs::jpeg::JpegEncoder;
use image::{
    DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, Rgb, RgbImage,
};

use crate::mime::{SNIFF_LEN, sniff};

/// Longest side of a thumbnail, in pixels.
pub const MAX_THUMBNAIL_SIDE: u32 = 128;
/// Largest encoded thumbnail, in bytes.
pub const MAX_THUMBNAIL_BYTES: usize = 16 * 1024;
/// Largest picture file a thumbnail is made from, in bytes.
pub const MAX_SOURCE_BYTES: u64 = 32 * 1024 * 1024;
/// Widest and tallest picture decoded, in pixels.
pub const MAX_SOURCE_SIDE: u32 = 12_000;
/// Most memory the decoder may use (a 40-megapixel RGB photo fits).
pub const MAX_DECODE_BYTES: u64 = 128 * 1024 * 1024;
/// JPEG qualities tried in turn until the thumbnail fits in [`MAX_THUMBNAIL_BYTES`].
const QUALITIES: [u8; 3] = [70, 50, 30];

/// Why no thumbnail came out of a file. (A picture that ends early is [`ThumbnailError::Invalid`]:
/// it is decoded from memory.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ThumbnailError {
    /// The file could not be read.
    #[error("could not read the picture: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a PNG or JPEG picture.
    #[error("not a PNG or JPEG picture")]
    NotAPicture,
    /// The file or the picture is larger than the limits.
    #[error("the picture is too large for a thumbnail: {reason}")]
    TooLarge { reason: String },
    /// The picture is damaged or uses a feature the decoder does not support.
    #[error("the picture could not be decoded: {reason}")]
    Invalid { reason: String },
}

/// A small JPEG picture: at most [`MAX_THUMBNAIL_SIDE`] pixels on a side and
/// [`MAX_THUMBNAIL_BYTES`] long.
#[derive(Clone, PartialEq, Eq)]
pub struct Thumbnail {
    pub(crate) width: u16,
    pub(crate) height: u16,
    pub(crate) jpeg: Vec<u8>,
}

impl fmt::Debug for Thumbnail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            width,
            height,
            jpeg,
        } = self;
        f.debug_struct("Thumbnail")
            .field("width", width)
            .field("height", height)
            .field("jpeg_len", &jpeg.len())
            .finish()
    }
}

impl Thumbnail {
    /// Makes the thumbnail of a PNG or JPEG picture read from `reader` (the whole file; at most
    /// [`MAX_SOURCE_BYTES`] are read). The picture is turned upright (EXIF orientation), shrunk
    /// to fit in [`MAX_THUMBNAIL_SIDE`] × [`MAX_THUMBNAIL_SIDE`], laid on white where it is
    /// transparent and encoded as JPEG.
    /// Anything that does not start like a PNG or JPEG is refused after its first bytes.
    pub fn from_reader(reader: impl Read) -> Result<Thumbnail, ThumbnailError> {
        let mut reader = reader.take(MAX_SOURCE_BYTES + 1);
        let mut bytes = Vec::new();
        (&mut reader)
            .take(SNIFF_LEN as u64)
            .read_to_end(&mut bytes)?;
        if !matches!(sniff(&bytes), Some("image/png" | "image/jpeg")) {
            return Err(ThumbnailError::NotAPicture);
        }
        reader.read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_SOURCE_BYTES {
            return Err(ThumbnailError::TooLarge {
                reason: format!("the file is over {} MiB", MAX_SOURCE_BYTES / (1024 * 1024)),
            });
        }
        Thumbnail::from_bytes(&bytes)
    }

    /// [`Thumbnail::from_reader`] for a picture already in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Thumbnail, ThumbnailError> {
        let picture = decode(bytes)?;
        // `DynamicImage::thumbnail` would also enlarge a picture smaller than the box.
        let small =
            if picture.width() <= MAX_THUMBNAIL_SIDE && picture.height() <= MAX_THUMBNAIL_SIDE {
                picture
            } else {
                picture.thumbnail(MAX_THUMBNAIL_SIDE, MAX_THUMBNAIL_SIDE)
            };
        let flat = on_white(&small);
        let (Ok(width), Ok(height)) = (u16::try_from(flat.width()), u16::try_from(flat.height()))
        else {
            return Err(ThumbnailError::Invalid {
                reason: "thumbnail dimensions out of range".to_owned(),
            });
        };
        for quality in QUALITIES {
            let mut jpeg = Vec::new();
            JpegEncoder::new_with_quality(&mut jpeg, quality)
                .encode_image(&flat)
                .map_err(|error| ThumbnailError::Invalid {
                    reason: error.to_string(),
                })?;
            if jpeg.len() <= MAX_THUMBNAIL_BYTES {
                return Ok(Thumbnail {
                    width,
                    height,
                    jpeg,
                });
            }
        }
        Err(ThumbnailError::TooLarge {
            reason: format!("the thumbnail does not fit in {MAX_THUMBNAIL_BYTES} bytes"),
        })
    }

    /// Width in pixels (1 ..= [`MAX_THUMBNAIL_SIDE`]).
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Height in pixels (1 ..= [`MAX_THUMBNAIL_SIDE`]).
    pub fn height(&self) -> u16 {
        self.height
    }

    /// The JPEG file. It comes from the sender: decode it under limits of
    /// [`MAX_THUMBNAIL_SIDE`] pixels on a side, as the manifest only checks the declared size.
    pub fn jpeg(&self) -> &[u8] {
        &self.jpeg
    }
}

fn decode(bytes: &[u8]) -> Result<DynamicImage, ThumbnailError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(ThumbnailError::Io)?;
    if !matches!(reader.format(), Some(ImageFormat::Png | ImageFormat::Jpeg)) {
        return Err(ThumbnailError::NotAPicture);
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SOURCE_SIDE);
    limits.max_image_height = Some(MAX_SOURCE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = reader;
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(image_error)?;
    if decoder.total_bytes() > MAX_DECODE_BYTES {
        return Err(ThumbnailError::TooLarge {
            reason: format!(
                "{} × {} pixels would take {} MiB decoded (at most {} MiB)",
                decoder.dimensions().0,
                decoder.dimensions().1,
                decoder.total_bytes() / (1024 * 1024),
                MAX_DECODE_BYTES / (1024 * 1024)
            ),
        });
    }
    let orientation = decoder.orientation().map_err(image_error)?;
    let mut picture = DynamicImage::from_decoder(decoder).map_err(image_error)?;
    picture.apply_orientation(orientation);
    Ok(picture)
}

fn image_error(error: ImageError) -> ThumbnailError {
    match error {
        ImageError::Limits(_) => ThumbnailError::TooLarge {
            reason: format!(
                "{error} (at most {MAX_SOURCE_SIDE} pixels on a side and {} MiB decoded)",
                MAX_DECODE_BYTES / (1024 * 1024)
            ),
        },
        error => ThumbnailError::Invalid {
            reason: error.to_string(),
        },
    }
}

/// The picture in RGB, its transparent parts laid on white.
fn on_white(picture: &DynamicImage) -> RgbImage {
    if !picture.color().has_alpha() {
        return picture.to_rgb8();
    }
    let rgba = picture.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let blend = |channel: u8| {
            let alpha = u16::from(a);
            // channel·α + 255·(255 − α), divided by 255 with rounding; at most 255.
            ((u16::from(channel) * alpha + 255 * (255 - alpha) + 127) / 255) as u8
        };
        Rgb([blend(r), blend(g), blend(b)])
    })
}

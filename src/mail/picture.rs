//! Pictures attached to mail, decoded for showing: PNG, JPEG and GIF only,
//! with limits on the size a header may claim and on memory, and scaled
//! down to what a window shows. A picture that breaks a limit or does not
//! decode is simply not shown (its attachment can still be saved).

use std::io::Cursor;

/// Largest width or height accepted from a picture's header.
pub const MAX_SIDE_PIXELS: u32 = 12_000;
/// Most memory one decode may take.
pub const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;

/// Straight (not premultiplied) RGBA pixels, row by row.
#[derive(Clone, PartialEq, Eq)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl std::fmt::Debug for Picture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Picture({}x{})", self.width, self.height)
    }
}

/// Decodes `bytes` and scales the picture down to fit `fit` x `fit`
/// pixels (never up).
pub fn decode(bytes: &[u8], fit: u32) -> Result<Picture, String> {
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE_PIXELS);
    limits.max_image_height = Some(MAX_SIDE_PIXELS);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| e.to_string())?;
    let image = if image.width() > fit || image.height() > fit {
        image.thumbnail(fit, fit)
    } else {
        image
    };
    let rgba = image.to_rgba8();
    Ok(Picture {
        width: rgba.width(),
        height: rgba.height(),
        rgba: rgba.into_raw(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        image::RgbaImage::from_pixel(width, height, image::Rgba([10, 20, 30, 255]))
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn pictures_are_scaled_down_to_fit() {
        let small = decode(&png(40, 20), 800).unwrap();
        assert_eq!((small.width, small.height), (40, 20));
        assert_eq!(&small.rgba[..4], &[10, 20, 30, 255]);
        let big = decode(&png(1600, 400), 800).unwrap();
        assert_eq!((big.width, big.height), (800, 200));
        assert_eq!(big.rgba.len(), 800 * 200 * 4);
    }

    #[test]
    fn broken_and_oversized_pictures_are_refused() {
        assert!(decode(b"not a picture", 800).is_err());
        let mut truncated = png(100, 100);
        truncated.truncate(truncated.len() / 2);
        assert!(decode(&truncated, 800).is_err());
        // A PNG header claiming 100,000 x 100,000 pixels.
        let mut huge = png(1, 1);
        huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        huge[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(decode(&huge, 800).is_err());
    }
}

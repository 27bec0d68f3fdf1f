//! Whole messages retrieved only to preview them, on servers without TOP.
//! Kept by message key so that a later Download takes the copy already
//! here instead of fetching it again. Nothing is ever deleted on the
//! server because of a file here: a download from this cache goes through
//! the Maildir like any other. But a server may delete or hide what was
//! retrieved without saying so (no EXPIRE in CAPA), so each copy is made
//! durable (flushed) before it counts, and the engine moves the copy of a
//! message that vanished from the server into the Maildir instead of
//! dropping it. A file that is cut short or damaged is never taken for the
//! message.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use super::StoreError;

/// Marks a cache file of this format; a file without it is ignored.
const MAGIC: &[u8; 8] = b"LBXRETR1";

#[derive(Debug)]
pub struct RetrievedCache {
    dir: PathBuf,
}

impl RetrievedCache {
    pub fn new(dir: &Path) -> RetrievedCache {
        RetrievedCache {
            dir: dir.to_owned(),
        }
    }

    /// Keys can be any printable text: the file is named by their hash.
    fn path(&self, key: &str) -> PathBuf {
        let digest = sha2::Sha256::digest(key.as_bytes());
        let name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}.msg"))
    }

    /// Keeps `bytes` for `key`: the key, a checksum and the length are
    /// stored with them, so a damaged or foreign file is never taken for
    /// the message.
    pub fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        crate::fsutil::create_private_dir(&self.dir)?;
        let path = self.path(key);
        let tmp = path.with_extension("part");
        let result = (|| {
            let _ = fs::remove_file(&tmp);
            let mut file = crate::fsutil::create_private(&tmp)?;
            file.write_all(&header(key, bytes))?;
            file.write_all(bytes)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&tmp, &path)
        })();
        result.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            StoreError::io("save", &path, e)
        })?;
        Ok(crate::fsutil::sync_dir(&self.dir)?)
    }

    /// The message kept for `key`, if there is an intact copy.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut data = fs::read(self.path(key)).ok()?;
        let head_len = HEADER_LEN;
        let length_bytes: [u8; 8] = data.get(MAGIC.len()..MAGIC.len() + 8)?.try_into().ok()?;
        let body_len = usize::try_from(u64::from_be_bytes(length_bytes)).ok()?;
        if data.len() != head_len.checked_add(body_len)? {
            return None;
        }
        let (head, body) = data.split_at(head_len);
        if head != header(key, body).as_slice() {
            return None;
        }
        data.drain(..head_len);
        Some(data)
    }

    /// Bytes taken by the kept copies.
    pub fn total_bytes(&self) -> u64 {
        fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.path(key).exists()
    }

    pub fn remove(&self, key: &str) {
        let _ = fs::remove_file(self.path(key));
    }

    /// Drops every copy whose key `keep` refuses (messages gone from the
    /// server, or downloaded since).
    pub fn retain<'a>(&self, keep: impl IntoIterator<Item = &'a str>) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let wanted: std::collections::HashSet<PathBuf> =
            keep.into_iter().map(|k| self.path(k)).collect();
        for entry in entries.flatten() {
            let path = entry.path();
            if !wanted.contains(&path) {
                let _ = fs::remove_file(path);
            }
        }
    }
}

/// Magic, length (8 bytes) and SHA-256 (32 bytes).
const HEADER_LEN: usize = 8 + 8 + 32;

fn header(key: &str, body: &[u8]) -> Vec<u8> {
    let mut hasher = sha2::Sha256::new();
    hasher.update(key.as_bytes());
    hasher.update(b"\0");
    hasher.update(body);
    let mut head = MAGIC.to_vec();
    head.extend_from_slice(&(body.len() as u64).to_be_bytes());
    head.extend_from_slice(&hasher.finalize());
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_intact_copies_and_ignores_damage() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RetrievedCache::new(&dir.path().join("retrieved"));
        assert_eq!(cache.get("k"), None);
        cache.put("k/../../x", b"abc").unwrap();
        cache.put("other", b"hello").unwrap();
        assert_eq!(cache.get("k/../../x").as_deref(), Some(&b"abc"[..]));
        assert_eq!(cache.get("other").as_deref(), Some(&b"hello"[..]));
        assert_eq!(cache.total_bytes(), 2 * HEADER_LEN as u64 + 8);
        // Cut short, or flipped bytes: ignored.
        let path = cache.path("other");
        let mut data = fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 1;
        fs::write(&path, &data).unwrap();
        assert_eq!(cache.get("other"), None);
        fs::write(&path, &data[..data.len() - 2]).unwrap();
        assert_eq!(cache.get("other"), None);
        // A copy kept under another key is not this key's message.
        fs::copy(cache.path("k/../../x"), &path).unwrap();
        assert_eq!(cache.get("other"), None);
        cache.retain(["k/../../x"]);
        assert!(!path.exists());
        assert!(cache.contains("k/../../x"));
        cache.remove("k/../../x");
        assert!(!cache.contains("k/../../x"));
    }
}

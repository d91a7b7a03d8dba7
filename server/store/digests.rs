//! The three digests PyPI keeps for every file (MD5, SHA-256, BLAKE2b-256), computed
//! in one pass over each chunk. Hashing is most of an upload's CPU: these are the
//! fastest implementations measured here (MD5 in assembly, BLAKE2b with AVX2).

use md5::Md5;
use sha2::{Digest, Sha256};

/// Digests of a file, lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digests {
    pub size: u64,
    pub md5: String,
    pub sha256: String,
    pub blake2_256: String,
}

fn blake2b_256() -> blake2b_simd::State {
    blake2b_simd::Params::new().hash_length(32).to_state()
}

/// BLAKE2b with a 32-byte output, lowercase hex.
pub fn blake2_256_hex(bytes: &[u8]) -> String {
    blake2b_256().update(bytes).finalize().to_hex().to_string()
}

/// Which of the digests one worker computes (see the staging writer in `blobs.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Share {
    All,
    Md5,
    ShaAndBlake2,
}

/// A running hash of some of the digests.
pub(crate) struct Hasher {
    size: u64,
    md5: Option<Md5>,
    sha256: Option<Sha256>,
    blake2: Option<blake2b_simd::State>,
}

/// What one hasher found; merged with the others' into [`Digests`].
#[derive(Default)]
pub(crate) struct Partial {
    pub size: u64,
    pub md5: Option<String>,
    pub sha256: Option<String>,
    pub blake2_256: Option<String>,
}

impl Hasher {
    pub(crate) fn new(share: Share) -> Self {
        let md5 = matches!(share, Share::All | Share::Md5);
        let rest = matches!(share, Share::All | Share::ShaAndBlake2);
        Self {
            size: 0,
            md5: md5.then(Md5::new),
            sha256: rest.then(Sha256::new),
            blake2: rest.then(blake2b_256),
        }
    }

    pub(crate) fn update(&mut self, chunk: &[u8]) {
        self.size += chunk.len() as u64;
        if let Some(h) = &mut self.md5 {
            h.update(chunk);
        }
        if let Some(h) = &mut self.sha256 {
            h.update(chunk);
        }
        if let Some(h) = &mut self.blake2 {
            h.update(chunk);
        }
    }

    pub(crate) fn finish(self) -> Partial {
        Partial {
            size: self.size,
            md5: self.md5.map(|h| hex::encode(h.finalize())),
            sha256: self.sha256.map(|h| hex::encode(h.finalize())),
            blake2_256: self.blake2.map(|h| h.finalize().to_hex().to_string()),
        }
    }
}

impl Partial {
    pub(crate) fn merge(self, other: Partial) -> Partial {
        Partial {
            size: self.size.max(other.size),
            md5: self.md5.or(other.md5),
            sha256: self.sha256.or(other.sha256),
            blake2_256: self.blake2_256.or(other.blake2_256),
        }
    }

    pub(crate) fn complete(self) -> std::io::Result<Digests> {
        match (self.md5, self.sha256, self.blake2_256) {
            (Some(md5), Some(sha256), Some(blake2_256)) => Ok(Digests {
                size: self.size,
                md5,
                sha256,
                blake2_256,
            }),
            _ => Err(std::io::Error::other("a digest was not computed")),
        }
    }
}

/// All three digests of `bytes` (a small file: it stays in cache for each pass).
pub fn digests(bytes: &[u8]) -> Digests {
    Digests {
        size: bytes.len() as u64,
        md5: hex::encode(Md5::digest(bytes)),
        sha256: hex::encode(Sha256::digest(bytes)),
        blake2_256: blake2_256_hex(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // Reference values from Python's hashlib (md5, sha256, blake2b(digest_size=32)).
        let d = digests(b"abc");
        assert_eq!(d.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            d.blake2_256,
            "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"
        );
        assert_eq!(d.size, 3);
        assert_eq!(blake2_256_hex(b"abc"), d.blake2_256);
    }
}

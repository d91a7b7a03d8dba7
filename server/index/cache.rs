//! Rendered simple pages, kept until the store's counters for them move on. Installers
//! hammer these pages; rendering needs three queries, serving from here needs none.

use std::collections::HashMap;
use std::sync::RwLock;

use bytes::Bytes;

/// Bound on cached pages (three media types per project); past it the cache restarts.
const MAX_PAGES: usize = 30_000;

/// The store's counters a page was rendered at (see `store::changes`).
type Stamp = (u64, u64);

#[derive(Clone)]
pub struct CachedPage {
    generation: Stamp,
    pub serial: i64,
    pub body: Bytes,
}

#[derive(Default)]
pub struct PageCache {
    pages: RwLock<HashMap<(String, &'static str), CachedPage>>,
}

impl PageCache {
    /// The page for `key` in `media`, if rendered at this generation.
    pub fn get(&self, key: &str, media: &'static str, generation: Stamp) -> Option<CachedPage> {
        let pages = self.pages.read().ok()?;
        pages
            .get(&(key.to_owned(), media))
            .filter(|p| p.generation == generation)
            .cloned()
    }

    /// Keep a page rendered from data read at `generation` (read before the queries,
    /// so a write racing the render leaves a stale tag, never a stale page).
    pub fn put(&self, key: &str, media: &'static str, generation: Stamp, serial: i64, body: Bytes) {
        if let Ok(mut pages) = self.pages.write() {
            if pages.len() >= MAX_PAGES {
                pages.clear();
            }
            pages.insert(
                (key.to_owned(), media),
                CachedPage {
                    generation,
                    serial,
                    body,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_expire_with_the_generation() {
        let cache = PageCache::default();
        cache.put("demo", "text/html", (1, 4), 7, Bytes::from_static(b"page"));
        assert_eq!(
            cache.get("demo", "text/html", (1, 4)).map(|p| p.serial),
            Some(7)
        );
        // Either counter moving on (any write; a file of this project) expires it.
        assert!(cache.get("demo", "text/html", (2, 4)).is_none());
        assert!(cache.get("demo", "text/html", (1, 5)).is_none());
        assert!(
            cache
                .get("demo", "application/vnd.pypi.simple.v1+json", (1, 4))
                .is_none()
        );
    }
}

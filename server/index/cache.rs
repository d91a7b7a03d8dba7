//! Rendered simple pages, kept until the store's write generation moves on. Installers
//! hammer these pages; rendering needs three queries, serving from here needs none.

use std::collections::HashMap;
use std::sync::RwLock;

use bytes::Bytes;

/// Bound on cached pages (three media types per project); past it the cache restarts.
const MAX_PAGES: usize = 30_000;

#[derive(Clone)]
pub struct CachedPage {
    generation: u64,
    pub serial: i64,
    pub body: Bytes,
}

#[derive(Default)]
pub struct PageCache {
    pages: RwLock<HashMap<(String, &'static str), CachedPage>>,
}

impl PageCache {
    /// The page for `key` in `media`, if rendered at this generation.
    pub fn get(&self, key: &str, media: &'static str, generation: u64) -> Option<CachedPage> {
        let pages = self.pages.read().ok()?;
        pages
            .get(&(key.to_owned(), media))
            .filter(|p| p.generation == generation)
            .cloned()
    }

    /// Keep a page rendered from data read at `generation` (read before the queries,
    /// so a write racing the render leaves a stale tag, never a stale page).
    pub fn put(&self, key: &str, media: &'static str, generation: u64, serial: i64, body: Bytes) {
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
        cache.put("demo", "text/html", 1, 7, Bytes::from_static(b"page"));
        assert_eq!(cache.get("demo", "text/html", 1).map(|p| p.serial), Some(7));
        assert!(cache.get("demo", "text/html", 2).is_none());
        assert!(
            cache
                .get("demo", "application/vnd.pypi.simple.v1+json", 1)
                .is_none()
        );
    }
}

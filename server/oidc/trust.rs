//! The exchange's one read: the trusted issuer for an `iss` (the allowlist) and every
//! publisher of its provider, parsed once and kept until the store's change counter
//! moves (any replica's write moves it).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::publisher::Publisher;
use crate::provider::Provider;
use crate::store::{Store, StoreResult, TrustedIssuerRow};

/// A trusted issuer with its provider's publishers (pending and not).
#[derive(Clone, Debug)]
pub struct Trusted {
    pub issuer: TrustedIssuerRow,
    /// `None` for a provider this version does not know (refused as `not-enabled`).
    pub provider: Option<Provider>,
    pub publishers: Vec<Publisher>,
}

type Entry = Arc<Option<Trusted>>;

/// Bound on cached `iss` values: unknown ones are cached too, so spraying made-up
/// issuers cannot grow it without end.
const MAX_ENTRIES: usize = 1024;

#[derive(Default)]
pub struct TrustCache {
    entries: RwLock<HashMap<String, (u64, Entry)>>,
}

impl TrustCache {
    /// The issuer and publishers for `iss`, from memory while nothing changed.
    pub async fn lookup(&self, store: &Store, iss: &str) -> StoreResult<Entry> {
        // Read the counter before the query: a change racing it leaves an old tag.
        let generation = store.generation();
        if let Some(g) = generation
            && let Ok(entries) = self.entries.read()
            && let Some((tag, hit)) = entries.get(iss)
            && *tag == g
        {
            return Ok(hit.clone());
        }
        let fresh = Arc::new(Self::read(store, iss).await?);
        if let Some(g) = generation
            && let Ok(mut entries) = self.entries.write()
        {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(iss.to_owned(), (g, fresh.clone()));
        }
        Ok(fresh)
    }

    /// The same, bypassing the cache (after a write this exchange raced).
    pub async fn read(store: &Store, iss: &str) -> StoreResult<Option<Trusted>> {
        let mut found = store.issuer_with_publishers(iss).await?;
        // Not an exact one: a pattern issuer this `iss` fits (checked again, with the
        // token's `iss`, by the exchange's standard-claim rules).
        if found.is_none() && !iss.contains('*') {
            for pattern in store.pattern_issuers().await? {
                if issuer_fits(&pattern, iss) {
                    found = store.issuer_with_publishers(&pattern).await?;
                    break;
                }
            }
        }
        Ok(found.map(|(issuer, records)| Trusted {
            provider: issuer.provider.parse().ok(),
            issuer,
            publishers: Publisher::parse_all(records),
        }))
    }
}

/// Whether `iss` fits a trusted issuer's URL, which may hold one `*` standing for one
/// name (a Semaphore organisation: `https://*.semaphoreci.com`).
pub fn issuer_fits(pattern: &str, iss: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == iss,
        Some((prefix, suffix)) => {
            iss.len() > prefix.len() + suffix.len()
                && iss.starts_with(prefix)
                && iss.ends_with(suffix)
                && {
                    let middle = &iss[prefix.len()..iss.len() - suffix.len()];
                    !middle.is_empty()
                        && middle
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                }
        }
    }
}

//! RFC 6962 / RFC 9162 Merkle trees: leaf and node hashes, audit paths, and checking
//! an inclusion proof.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two smaller than `n` (n > 1).
fn split(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The root of the tree over `leaves` (at least one).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path of leaf `m` in the tree over `leaves`, bottom-up (RFC 6962 PATH).
pub fn audit_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut path = audit_path(m, &leaves[..k]);
        path.push(root(&leaves[k..]));
        path
    } else {
        let mut path = audit_path(m - k, &leaves[k..]);
        path.push(root(&leaves[..k]));
        path
    }
}

/// RFC 9162 2.1.3.2: does `path` prove leaf `index` of a tree of `size` under `root`?
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    path: &[Hash],
    expected_root: &Hash,
) -> Result<(), String> {
    if index >= size {
        return Err(format!(
            "log index {index} is not below the tree size {size}"
        ));
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if snode == 0 {
            return Err("the inclusion proof is longer than the tree is deep".into());
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err("the inclusion proof is too short for the tree".into());
    }
    if &r != expected_root {
        return Err("the inclusion proof does not lead to the root hash".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_of_trees_up_to_17_proves_and_tampering_fails() {
        for n in 1..=17usize {
            let leaves: Vec<Hash> = (0..n)
                .map(|i| leaf_hash(format!("e{i}").as_bytes()))
                .collect();
            let r = root(&leaves);
            for m in 0..n {
                let path = audit_path(m, &leaves);
                assert_eq!(
                    verify_inclusion(&leaves[m], m as u64, n as u64, &path, &r),
                    Ok(()),
                    "{m}/{n}"
                );
                if n > 1 {
                    let wrong = (m + 1) % n;
                    assert!(
                        verify_inclusion(&leaves[wrong], m as u64, n as u64, &path, &r).is_err()
                    );
                    let mut bad = path.clone();
                    bad[0][0] ^= 1;
                    assert!(verify_inclusion(&leaves[m], m as u64, n as u64, &bad, &r).is_err());
                    // The leaf's index is part of what the path proves.
                    assert!(verify_inclusion(&leaves[m], n as u64, n as u64, &path, &r).is_err());
                }
            }
        }
    }
}

//! Settings from flags, the file and defaults.

use super::*;

#[test]
fn sizes_parse() {
    assert_eq!(parse_size("100MiB"), Ok(100 << 20));
    assert_eq!(parse_size("1GiB"), Ok(1 << 30));
    assert_eq!(parse_size("2048"), Ok(2048));
    assert!(parse_size("12 parsecs").is_err());
}

#[test]
fn flags_beat_file_beat_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[server]\naudience = \"file-aud\"\ntoken_lifetime = 60\nmax_upload_size = \"1MiB\"\ndata_dir = \"d\"\n").unwrap();
    let args = ServeArgs {
        config: Some(path),
        audience: Some("flag-aud".into()),
        ..Default::default()
    };
    let s = Settings::resolve(&args).unwrap();
    assert_eq!(s.audience, "flag-aud");
    assert_eq!(s.token_lifetime, 60);
    assert_eq!(s.max_upload_bytes, 1 << 20);
    assert_eq!(s.data_dir, dir.path().join("d"));
    assert_eq!(s.listen, DEFAULT_LISTEN.parse().unwrap());
}

#[test]
fn unknown_file_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[server]\naudiance = \"typo\"\n").unwrap();
    let err = Settings::resolve(&ServeArgs {
        config: Some(path),
        ..Default::default()
    })
    .unwrap_err();
    assert!(format!("{err:#}").contains("audiance"), "{err:#}");
}

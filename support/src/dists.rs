//! Real wheels and sdists, built in the test (no network, no build backend).

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};

pub struct Dists {
    pub wheel: PathBuf,
    pub sdist: PathBuf,
}

fn metadata(name: &str, version: &str, metadata_version: &str) -> String {
    format!(
        "Metadata-Version: {metadata_version}\nName: {name}\nVersion: {version}\nSummary: A test package built by mock-pypi's tests\nRequires-Python: >=3.8\n\n"
    )
}

/// The import name: the normalized project name with underscores.
pub fn module(name: &str) -> String {
    name.to_lowercase().replace(['-', '.'], "_")
}

/// Build `<module>-<version>-py3-none-any.whl` and `<module>-<version>.tar.gz` in `dir`.
/// The package's `__init__.py` defines `VERSION`.
pub fn build(dir: &Path, name: &str, version: &str) -> Dists {
    build_sized(dir, name, version, 0)
}

/// [`build`], the wheel carrying `payload` more bytes that do not compress (a data
/// file in the package), to make it as large as a test needs.
pub fn build_sized(dir: &Path, name: &str, version: &str, payload: usize) -> Dists {
    std::fs::create_dir_all(dir).expect("dist dir");
    let module = module(name);
    let init = format!("VERSION = {version:?}\n");
    let dist_info = format!("{module}-{version}.dist-info");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ payload as u64;
    let data: Vec<u8> = (0..payload)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (format!("{module}/__init__.py"), init.clone().into_bytes()),
        (format!("{dist_info}/METADATA"), metadata(name, version, "2.1").into_bytes()),
        (format!("{dist_info}/WHEEL"), b"Wheel-Version: 1.0\nGenerator: mock-pypi-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec()),
    ];
    if payload > 0 {
        files.push((format!("{module}/data.bin"), data));
    }
    let mut record = String::new();
    for (path, bytes) in &files {
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes));
        record += &format!("{path},sha256={digest},{}\n", bytes.len());
    }
    record += &format!("{dist_info}/RECORD,,\n");
    let wheel = dir.join(format!("{module}-{version}-py3-none-any.whl"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&wheel).expect("wheel"));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (path, bytes) in files.iter().chain(std::iter::once(&(
        format!("{dist_info}/RECORD"),
        record.into_bytes(),
    ))) {
        zip.start_file(path.as_str(), options).expect("zip entry");
        zip.write_all(bytes).expect("zip write");
    }
    zip.finish().expect("zip finish");

    let top = format!("{module}-{version}");
    let sdist = dir.join(format!("{top}.tar.gz"));
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&sdist).expect("sdist"),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
    let pyproject = format!("[project]\nname = \"{name}\"\nversion = \"{version}\"\n");
    for (path, bytes) in [
        (
            format!("{top}/PKG-INFO"),
            metadata(name, version, "2.1").into_bytes(),
        ),
        (format!("{top}/pyproject.toml"), pyproject.into_bytes()),
        (format!("{top}/{module}/__init__.py"), init.into_bytes()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, path, bytes.as_slice())
            .expect("tar entry");
    }
    tar.into_inner().expect("tar").finish().expect("gzip");
    Dists { wheel, sdist }
}

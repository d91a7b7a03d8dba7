//! A database of its own on the PostgreSQL test cluster, per server data directory.

use std::path::Path;

/// The PostgreSQL test run's database for a data directory (created on first use; the
/// same directory always maps to the same database, so restarts find their data).
pub fn postgres_database(data_dir: &Path) -> Option<String> {
    let admin = std::env::var("MOCK_PYPI_TEST_DATABASE_URL").ok()?;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let name = format!("mp_{}", hex::encode(&digest[..10]));
    let base = admin
        .rsplit_once('/')
        .expect("an admin URL ending in /DATABASE")
        .0
        .to_owned();
    let create = format!("CREATE DATABASE {name}");
    // The tests run inside a runtime; the one-off connection gets its own thread.
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::postgres::PgConnection::connect(&admin)
                    .await
                    .expect("connecting to MOCK_PYPI_TEST_DATABASE_URL");
                if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                    .execute(&mut conn)
                    .await
                    && !e.to_string().contains("already exists")
                {
                    panic!("creating a test database: {e}");
                }
            })
    })
    .join()
    .expect("creating the test database");
    Some(format!("{base}/{name}"))
}

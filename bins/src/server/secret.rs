//! The JWT signing secret: configured, or generated once and kept in a file so that a
//! zero-configuration server's tokens survive its restart.

use std::io::Write;
use std::path::Path;

use rand::RngCore;

use crate::config::AuthSettings;

/// Why no secret could be had.
#[derive(Debug, thiserror::Error)]
#[error("JWT secret file {path}: {source}")]
pub struct SecretError {
    path: String,
    #[source]
    source: std::io::Error,
}

/// The configured secret, or the one in `secret_file` (made on first start).
pub fn load_or_create(auth: &AuthSettings) -> Result<String, SecretError> {
    if let Some(secret) = &auth.jwt_secret {
        return Ok(secret.clone());
    }
    let path = &auth.secret_file;
    let err = |source| SecretError {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().len() >= 32 => return Ok(s.trim().to_owned()),
        Ok(_) => {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "holds fewer than 32 characters",
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(path, &secret).map_err(err)?;
    tracing::info!(path = %path.display(), "generated a JWT signing secret");
    Ok(secret)
}

fn write_private(path: &Path, secret: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(secret.as_bytes())
}

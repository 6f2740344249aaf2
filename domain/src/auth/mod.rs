//! Passwords (argon2id) and access tokens (JWT, HS256).

mod password;
mod token;

pub use password::{HashParams, PasswordHasher};
pub use token::{AccessClaims, IssuedToken, TokenIssuer};

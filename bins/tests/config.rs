//! Settings: defaults, then a TOML file, then `SOCIAL_IM_*` variables; bad files,
//! variables and values stop the server with an error naming the setting.
//!
//! `figment::Jail` gives each case its own working directory and environment, and runs
//! the cases one at a time, so they do not see each other's variables.

// Tests may panic on what they did not expect.
// figment::Jail's closures return figment's (large) error type.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]

use std::path::Path;

use bins::config::{BrokerSettings, ConfigError, Settings};
use figment::Jail;

fn load(file: Option<&str>) -> Result<Settings, ConfigError> {
    Settings::load(file.map(Path::new))
}

fn err_text(result: Result<Settings, ConfigError>) -> String {
    match result {
        Ok(s) => panic!("expected an error, got {s:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn zero_configuration_gives_the_embedded_defaults() {
    Jail::expect_with(|_| {
        let s = load(None).map_err(|e| e.to_string())?;
        assert_eq!(s.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database.url, "sqlite://social-im.db?mode=rwc");
        assert!(matches!(s.broker, BrokerSettings::Memory));
        assert!(s.auth.jwt_secret.is_none());
        assert_eq!(s.auth.token_ttl_secs, 86_400);
        Ok(())
    });
}

#[test]
fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "custom.toml",
            r#"
            [http]
            listen = "0.0.0.0:8181"
            body_limit = 1024

            [database]
            url = "mysql://root@127.0.0.1:3306/test"

            [broker]
            kind = "kafka"
            brokers = "127.0.0.1:9092"
            fetch_wait_ms = 10

            [im]
            push_routing = "broadcast"
            "#,
        )?;
        jail.set_env("SOCIAL_IM_HTTP__BODY_LIMIT", "2048");
        jail.set_env(
            "SOCIAL_IM_AUTH__JWT_SECRET",
            "a-secret-of-at-least-thirty-two-bytes!!",
        );
        let s = load(Some("custom.toml")).map_err(|e| e.to_string())?;
        assert_eq!(s.http.listen.to_string(), "0.0.0.0:8181", "from the file");
        assert_eq!(
            s.http.body_limit, 2048,
            "the environment wins over the file"
        );
        assert_eq!(s.http.request_timeout_ms, 10_000, "untouched: the default");
        assert_eq!(s.database.url, "mysql://root@127.0.0.1:3306/test");
        assert!(
            matches!(&s.broker, BrokerSettings::Kafka { brokers, fetch_wait_ms: Some(10), linger_ms: None, .. } if brokers == "127.0.0.1:9092")
        );
        assert_eq!(s.im.push_routing, bins::config::PushRouting::Broadcast);
        assert_eq!(
            s.auth.jwt_secret.as_deref(),
            Some("a-secret-of-at-least-thirty-two-bytes!!")
        );
        Ok(())
    });
}

#[test]
fn social_im_toml_in_the_working_directory_and_social_im_config_are_read() {
    Jail::expect_with(|jail| {
        jail.create_file("social-im.toml", "[grpc]\nlisten = \"127.0.0.1:9999\"\n")?;
        let s = load(None).map_err(|e| e.to_string())?;
        assert_eq!(s.grpc.listen.to_string(), "127.0.0.1:9999");
        jail.create_file("other.toml", "[grpc]\nlisten = \"127.0.0.1:7777\"\n")?;
        jail.set_env("SOCIAL_IM_CONFIG", "other.toml");
        let s = load(None).map_err(|e| e.to_string())?;
        assert_eq!(
            s.grpc.listen.to_string(),
            "127.0.0.1:7777",
            "SOCIAL_IM_CONFIG wins"
        );
        Ok(())
    });
}

#[test]
fn bad_files_are_refused_with_the_setting_named() {
    Jail::expect_with(|jail| {
        let cases = [
            ("[http]\nlisten = \"127.0.0.1:8080\"\nlisen = 1\n", "lisen"),
            ("[htp]\nlisten = \"127.0.0.1:8080\"\n", "htp"),
            ("[http]\nbody_limit = \"big\"\n", "body_limit"),
            ("[http]\nlisten = \"not an address\"\n", "listen"),
            ("[broker]\nkind = \"rabbit\"\n", "rabbit"),
            ("[broker]\nkind = \"redis\"\n", "url"),
            ("[http]\nlisten = \n", "custom.toml"),
        ];
        for (text, named) in cases {
            jail.create_file("custom.toml", text)?;
            let err = err_text(load(Some("custom.toml")));
            assert!(err.contains(named), "{text:?}: {err}");
        }
        Ok(())
    });
}

#[test]
fn bad_values_are_refused_with_the_setting_named() {
    let cases = [
        ("SOCIAL_IM_HTTP__BODY_LIMIT", "0", "http.body_limit"),
        (
            "SOCIAL_IM_HTTP__REQUEST_TIMEOUT_MS",
            "0",
            "http.request_timeout_ms",
        ),
        ("SOCIAL_IM_DATABASE__URL", "postgres://x", "database.url"),
        ("SOCIAL_IM_AUTH__JWT_SECRET", "short", "auth.jwt_secret"),
        ("SOCIAL_IM_AUTH__ISSUER", "  ", "auth.issuer"),
        ("SOCIAL_IM_AUTH__TOKEN_TTL_SECS", "0", "auth.token_ttl_secs"),
        ("SOCIAL_IM_HTTP__BODY_LIMIT", "lots", "body_limit"),
        ("SOCIAL_IM_IM__PUSH_ROUTING", "everywhere", "push_routing"),
    ];
    for (var, value, named) in cases {
        Jail::expect_with(|jail| {
            jail.set_env(var, value);
            let err = err_text(load(None));
            // figment names keys from the environment in upper case.
            assert!(err.to_lowercase().contains(named), "{var}={value}: {err}");
            Ok(())
        });
    }
}

#[test]
fn a_named_file_that_does_not_exist_is_an_error() {
    Jail::expect_with(|_| {
        let err = err_text(load(Some("missing.toml")));
        assert!(
            err.contains("missing.toml") && err.contains("does not exist"),
            "{err}"
        );
        Ok(())
    });
}

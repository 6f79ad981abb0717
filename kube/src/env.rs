//! environment and env_file -> the container's env. Variables from an env file that looks
//! like it holds secrets go into a Secret the container reads them from.

use crate::container::escape;
use crate::generate::Ctx;
use crate::{names, Error};
use berth_compose::loader::model::EnvFileSource;
use berth_compose::loader::Service;
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, Secret, SecretKeySelector};
use k8s_openapi::ByteString;
use std::collections::BTreeMap;

const SECRET_FILE_WORDS: &[&str] = &[
    "secret",
    "password",
    "passwd",
    "token",
    "credential",
    "private",
];
const SECRET_VAR_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "APIKEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
];

/// Does this env file look like it holds secrets: by its name (`db.secret.env`,
/// `passwords.env`, `tls.key`) or by one of its variables (`DB_PASSWORD`, `API_TOKEN`)?
pub(crate) fn looks_secret(f: &EnvFileSource) -> bool {
    let name = f
        .path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    SECRET_FILE_WORDS.iter().any(|w| name.contains(w))
        || name.ends_with(".key")
        || f.variables.keys().any(|k| {
            let k = k.to_ascii_uppercase();
            SECRET_VAR_WORDS.iter().any(|w| k.contains(w))
        })
}

pub(crate) fn container_env(cx: &mut Ctx, s: &str, svc: &Service) -> Result<Vec<EnvVar>, Error> {
    // variable -> the Secret holding it: the last secret-looking file that set it, if the
    // value the service ends up with is that file's (an inline value wins over env_file).
    let mut from_secret: BTreeMap<String, String> = BTreeMap::new();
    let files = cx.p.env_file_sources.get(s).cloned().unwrap_or_default();
    for f in files.iter().filter(|f| looks_secret(f)) {
        let stem = f
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = names::subdomain(&format!("{}-{}", cx.names[s], stem)).ok_or_else(|| {
            Error::Invalid(format!(
                "service {s}: env file {}: no usable Secret name",
                f.path.display()
            ))
        })?;
        let mut data = BTreeMap::new();
        for (k, v) in &f.variables {
            let effective = svc.environment.get(k).and_then(|v| v.as_deref());
            if effective == Some(v.as_str()) && names::data_key(k) == *k {
                data.insert(k.clone(), ByteString(v.clone().into_bytes()));
                from_secret.insert(k.clone(), name.clone());
            }
        }
        if data.is_empty() {
            continue;
        }
        let meta = cx.meta(&name, Some(s));
        cx.push(Secret {
            metadata: meta,
            data: Some(data),
            type_: Some("Opaque".into()),
            ..Secret::default()
        });
    }
    let mut out = vec![];
    for (k, v) in &svc.environment {
        // A variable without a value (and none in the environment) is unset, as in Compose.
        let Some(v) = v else { continue };
        if let Some(secret) = from_secret.get(k) {
            out.push(EnvVar {
                name: k.clone(),
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: secret.clone(),
                        key: k.clone(),
                        optional: None,
                    }),
                    ..EnvVarSource::default()
                }),
                ..EnvVar::default()
            });
        } else {
            out.push(EnvVar {
                name: k.clone(),
                value: Some(escape(v)),
                ..EnvVar::default()
            });
        }
    }
    Ok(out)
}

//! Manifests as YAML: one multi-document stream, or one file per object in a directory.

use crate::{Error, Object};
use std::path::{Path, PathBuf};

/// One object as a YAML document (without the `---` line).
pub fn to_yaml(o: &Object) -> Result<String, Error> {
    let v = serde_json::to_value(o).map_err(|error| Error::Render {
        kind: o.kind(),
        name: o.name().to_string(),
        error,
    })?;
    // kubectl's layout: go-yaml's quoting, sequences at their key's column.
    Ok(berth_compose::render::to_yaml(
        &v,
        berth_compose::render::Sequences::AtKey,
    ))
}

/// Every object as one multi-document YAML stream, in apply order.
pub fn to_yaml_stream(objects: &[Object]) -> Result<String, Error> {
    let mut out = String::new();
    for o in objects {
        out.push_str("---\n");
        out.push_str(&to_yaml(o)?);
    }
    Ok(out)
}

/// The file an object gets in a directory: numbered by kind so that `kubectl apply -f DIR`
/// (which reads files in name order) makes what others refer to first.
pub fn file_name(o: &Object) -> String {
    format!(
        "{:02}-{}-{}.yaml",
        o.rank(),
        o.kind().to_ascii_lowercase(),
        o.name()
    )
}

/// Is `path` meant as a single file (`.yaml`/`.yml`) rather than a directory?
pub fn is_file_target(path: &Path) -> bool {
    !path.is_dir() && path.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

/// Writes the objects to `path`: one file per object if it is a directory (made if missing),
/// or one stream if it names a `.yaml`/`.yml` file. Returns the files written.
pub fn write(objects: &[Object], path: &Path) -> Result<Vec<PathBuf>, Error> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| Error::Write { path, error }
    };
    if is_file_target(path) {
        if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(d).map_err(io(d))?;
        }
        std::fs::write(path, to_yaml_stream(objects)?).map_err(io(path))?;
        return Ok(vec![path.to_path_buf()]);
    }
    std::fs::create_dir_all(path).map_err(io(path))?;
    let mut written = vec![];
    for o in objects {
        let f = path.join(file_name(o));
        std::fs::write(&f, to_yaml(o)?).map_err(io(&f))?;
        written.push(f);
    }
    Ok(written)
}

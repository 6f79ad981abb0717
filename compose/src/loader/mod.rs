//! The Compose loader: stack files -> the normalized project model.

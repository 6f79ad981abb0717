//! Image store: content-addressed OCI blobs, an index of name:tag -> manifest, and unpacked layers.

//! OCI distribution-spec v1.1 registry server over lading's content store.
#![deny(missing_docs)]

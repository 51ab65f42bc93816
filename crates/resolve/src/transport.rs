//! How a request reached the server: the one transport type of the workspace (the registry,
//! the metrics and the logs all name it).

use core::fmt;

/// How a request reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Transport {
    /// TFTP (UDP 69).
    #[default]
    Tftp,
    /// HTTP (TCP 6970 on CUCM-era phones, or a Multiplatform phone's profile rule).
    Http,
    /// HTTPS (TCP 6971).
    Https,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tftp => "tftp",
            Self::Http => "http",
            Self::Https => "https",
        })
    }
}

//! The process's file descriptor limit: a provisioning server holds a socket per transfer and
//! a file per firmware download, and the usual soft limit of 1024 (or a service manager's 256)
//! runs out long before the server's own limits do.

/// The soft descriptor limit before and after [`raise_open_file_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    /// The soft limit found (`None`: unlimited or unknown).
    pub before: Option<u64>,
    /// The soft limit now.
    pub after: Option<u64>,
}

impl OpenFileLimit {
    /// "raised from 1024 to 524288" when the limit moved, for a start-up line.
    #[must_use]
    pub fn raised(&self) -> Option<String> {
        let before = self.before?;
        (self.after != Some(before)).then(|| {
            let after = self.after.map_or_else(|| "unlimited".to_owned(), |a| a.to_string());
            format!("raised from {before} to {after}")
        })
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, as servers that hold many sockets do
/// (any process may, without privileges).
///
/// # Errors
/// The `setrlimit` error; the limit is then unchanged.
#[cfg(unix)]
pub fn raise_open_file_limit() -> std::io::Result<OpenFileLimit> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        return Ok(OpenFileLimit { before: limit.current, after: limit.current });
    }
    setrlimit(Resource::Nofile, rustix::process::Rlimit { current: limit.maximum, ..limit })?;
    Ok(OpenFileLimit { before: limit.current, after: getrlimit(Resource::Nofile).current })
}

/// Elsewhere there is nothing to raise.
///
/// # Errors
/// Never.
#[cfg(not(unix))]
pub fn raise_open_file_limit() -> std::io::Result<OpenFileLimit> {
    Ok(OpenFileLimit { before: None, after: None })
}

/// The soft descriptor limit now (`None`: unlimited or unknown), for log lines about running
/// out.
#[must_use]
pub fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Whether `error` is EMFILE or ENFILE: the process or the system is out of file descriptors.
/// A server turns such requests away unanswered ([`Refusal::Unanswered`](super::Refusal::Unanswered)): the client's
/// retransmission comes when descriptors may be free again.
#[must_use]
pub fn is_out_of_descriptors(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(23 | 24))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let limit = raise_open_file_limit().unwrap();
        let now = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(limit.after, now.current);
        assert_eq!(now.current, now.maximum);
        assert_eq!(open_file_limit(), now.current);
    }
}

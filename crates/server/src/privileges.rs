//! Least privilege: the server binds its ports (69, 80, 443 need root or
//! `CAP_NET_BIND_SERVICE`) and then runs as an unprivileged user, never keeping root.

use crate::Error;

/// An unprivileged user to run as, looked up before anything is bound so that a wrong name
/// is a start-up error; [`RunsAs::switch`] once the ports are bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsAs {
    /// The user's name.
    pub user: String,
    /// Its user id.
    pub uid: u32,
    /// Its primary group, the only group the process keeps.
    pub gid: u32,
}

impl RunsAs {
    /// Looks `user` up and checks that this process may become it (it runs as root, or as
    /// that user already).
    ///
    /// # Errors
    /// [`Error::Privileges`]: no such user, root itself, or a process that cannot switch.
    #[cfg(unix)]
    pub fn lookup(user: &str) -> Result<Self, Error> {
        use nix::unistd::{User, getuid};
        let failed =
            |reason: &str| Error::Privileges { user: user.to_owned(), reason: reason.to_owned() };
        let account = User::from_name(user)
            .map_err(|e| failed(&e.to_string()))?
            .ok_or_else(|| failed("no such user"))?;
        if account.uid.is_root() {
            return Err(failed("that is root: name an unprivileged user"));
        }
        if !getuid().is_root() && getuid() != account.uid {
            return Err(failed("only root can switch users (start as root, or run as that user)"));
        }
        Ok(Self { user: user.to_owned(), uid: account.uid.as_raw(), gid: account.gid.as_raw() })
    }

    /// Switches the whole process (every thread) to this user, with its primary group and no
    /// other. Files written afterwards (the state file's directory, the mirror's cache, upload
    /// areas) must be writable by that user.
    ///
    /// # Errors
    /// [`Error::Privileges`] when a switch fails, or the process could still become root.
    #[cfg(unix)]
    pub fn switch(&self) -> Result<(), Error> {
        use nix::unistd::{Gid, Uid, geteuid, getuid, setgid, setgroups, setuid};
        let failed = |reason: String| Error::Privileges { user: self.user.clone(), reason };
        let (uid, gid) = (Uid::from_raw(self.uid), Gid::from_raw(self.gid));
        if getuid() == uid && geteuid() == uid {
            return Ok(());
        }
        // Groups first: once the user id is no longer root, they cannot change.
        setgroups(&[gid]).map_err(|e| failed(format!("setgroups: {e}")))?;
        setgid(gid).map_err(|e| failed(format!("setgid: {e}")))?;
        setuid(uid).map_err(|e| failed(format!("setuid: {e}")))?;
        // From root, setuid sets the real, effective and saved ids: root is gone for good.
        if getuid().is_root() || geteuid().is_root() || setuid(Uid::from_raw(0)).is_ok() {
            return Err(failed("still able to become root after setuid".to_owned()));
        }
        Ok(())
    }

    /// Not available here: only Unix has users to switch to.
    ///
    /// # Errors
    /// Always [`Error::Privileges`].
    #[cfg(not(unix))]
    pub fn lookup(user: &str) -> Result<Self, Error> {
        Err(Error::Privileges { user: user.to_owned(), reason: "not supported here".to_owned() })
    }

    /// Not available here.
    ///
    /// # Errors
    /// Always [`Error::Privileges`].
    #[cfg(not(unix))]
    pub fn switch(&self) -> Result<(), Error> {
        Err(Error::Privileges { user: self.user.clone(), reason: "not supported here".to_owned() })
    }
}

/// Whether the process runs with root's effective user id.
#[must_use]
pub fn runs_as_root() -> bool {
    #[cfg(unix)]
    return nix::unistd::geteuid().is_root();
    #[cfg(not(unix))]
    return false;
}

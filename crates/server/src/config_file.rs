//! The server's configuration file: TOML whose keys are the long command-line flags, turned
//! into the arguments they stand for, each remembered with its line so that a problem names
//! the line and the key.

use std::collections::BTreeMap;
use std::path::Path;

use crate::Error;

/// What a flag takes, as the file spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// A switch: `true` gives the flag, `false` leaves it out.
    Switch,
    /// One value: a string or a number.
    Value,
    /// Any number of values: a string or a number, or an array of them.
    Values,
}

/// One argument from the file, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileArg {
    /// `--name` or a value.
    pub arg: String,
    /// The key it came from.
    pub key: String,
    /// Its line (1-based).
    pub line: usize,
}

/// Reads `text` (the file at `path`) as TOML whose keys are long flags (`bind = "0.0.0.0:69"`,
/// `single-port = true`, `upload-dir = ["logs", "crash"]`): the arguments they stand for, in
/// the file's order. `flags` says which keys exist and what each takes.
///
/// ```
/// use cnfkit_server::{FlagKind, config_file_args};
/// let flags = [("root", FlagKind::Value), ("max-transfers", FlagKind::Value), ("single-port", FlagKind::Switch)];
/// let args = config_file_args("server.toml".as_ref(), "root = \"/srv/tftp\"\nmax-transfers = 4096\nsingle-port = true\n", &flags)?;
/// let args: Vec<&str> = args.iter().map(|a| a.arg.as_str()).collect();
/// assert_eq!(args, ["--root", "/srv/tftp", "--max-transfers", "4096", "--single-port"]);
///
/// let unknown = config_file_args("server.toml".as_ref(), "root = \"/srv\"\nbnid = \"0.0.0.0:69\"\n", &flags).unwrap_err();
/// assert_eq!(unknown.to_string(), "server.toml, line 2, `bnid`: no such key (the keys are the long flags of --help)");
/// # Ok::<(), cnfkit_server::Error>(())
/// ```
///
/// # Errors
/// [`Error::ConfigFile`] naming the line (and the key): TOML that does not parse, an unknown
/// key, a table, a value of the wrong type.
pub fn config_file_args(
    path: &Path,
    text: &str,
    flags: &[(&str, FlagKind)],
) -> Result<Vec<FileArg>, Error> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let fail = |line: usize, key: Option<&str>, reason: String| Error::ConfigFile {
        path: path.to_owned(),
        line,
        key: key.map(str::to_owned),
        reason,
    };
    type Spanned<T> = toml::Spanned<T>;
    let table: BTreeMap<Spanned<String>, Spanned<toml::Value>> =
        toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |span| line_of(span.start));
            fail(line, None, e.message().to_owned())
        })?;
    let mut entries: Vec<_> = table.into_iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    let mut args = Vec::new();
    for (key, value) in entries {
        let line = line_of(key.span().start);
        let name = key.get_ref().as_str();
        let Some((_, kind)) = flags.iter().find(|(flag, _)| *flag == name) else {
            let reason = "no such key (the keys are the long flags of --help)".to_owned();
            return Err(fail(line, Some(name), reason));
        };
        let push = |args: &mut Vec<FileArg>, arg: String| {
            args.push(FileArg { arg, key: name.to_owned(), line });
        };
        let scalar = |value: &toml::Value| match value {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Integer(n) => Some(n.to_string()),
            toml::Value::Float(x) => Some(x.to_string()),
            _ => None,
        };
        match (kind, value.get_ref()) {
            (FlagKind::Switch, toml::Value::Boolean(on)) => {
                if *on {
                    push(&mut args, format!("--{name}"));
                }
            }
            (FlagKind::Switch, _) => {
                return Err(fail(line, Some(name), "takes true or false".to_owned()));
            }
            (FlagKind::Values, toml::Value::Array(items)) => {
                for item in items {
                    let Some(item) = scalar(item) else {
                        let reason = "takes strings or numbers".to_owned();
                        return Err(fail(line, Some(name), reason));
                    };
                    push(&mut args, format!("--{name}"));
                    push(&mut args, item);
                }
            }
            (_, other) => {
                let Some(item) = scalar(other) else {
                    let reason = match kind {
                        FlagKind::Values => "takes a string or a number, or an array of them",
                        _ => "takes a string or a number",
                    };
                    return Err(fail(line, Some(name), reason.to_owned()));
                };
                push(&mut args, format!("--{name}"));
                push(&mut args, item);
            }
        }
    }
    Ok(args)
}

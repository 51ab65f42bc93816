use cnfkit_config::{Assignment, ConfigFile, Error, ParseOptions, binary_byte};

/// `config_file`: the first line is a file name (or an edit), the rest the file. Telling cnf.xml
/// from SIP `.cnf` never panics; binary input is refused exactly when `binary_byte` finds a
/// control byte (UTF-16 aside, which goes to the XML parser); what is accepted writes back byte
/// for byte; an edit that parses prints back to itself.
pub fn config_file(data: &[u8]) {
    let (first, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let name = String::from_utf8_lossy(first);
    let utf16 = body.starts_with(&[0xFF, 0xFE]) || body.starts_with(&[0xFE, 0xFF]);
    let binary = !utf16 && binary_byte(body, false).is_some();
    match ConfigFile::parse(&name, body.to_vec(), ParseOptions::strict()) {
        Err(Error::NotText { .. }) => assert!(binary, "text refused as binary"),
        Err(_) => assert!(!binary, "binary input reached a parser"),
        Ok(file) => {
            assert!(!binary, "binary input accepted");
            assert_eq!(file.into_bytes(), body, "into_bytes(parse(x)) == x");
        }
    }
    if let Ok(assignment) = name.parse::<Assignment>() {
        let again: Assignment = assignment.to_string().parse().expect("a printed edit parses");
        assert_eq!(again, assignment, "parse(display(a)) == a");
    }
}

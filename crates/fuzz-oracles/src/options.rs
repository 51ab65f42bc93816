use cnfkit_tftp_wire::{BadValue, KnownOption, Options};

/// `options`: the typed view over arbitrary pairs never panics, every accepted value lies in its
/// RFC range, every out-of-range report lies outside it, and the counts add up.
///
/// Input: pairs separated by NUL (`name NUL value NUL ...`); a trailing odd field is dropped.
pub fn options(data: &[u8]) {
    let fields: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    let pairs: Vec<(&[u8], &[u8])> = fields.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    let typed = Options::from_pairs(&pairs).typed();

    let check = |option: KnownOption, value: Option<Result<u64, BadValue>>| {
        let (min, max) = option.range();
        match value {
            Some(Ok(v)) => assert!((min..=max).contains(&v), "{option} {v} accepted"),
            Some(Err(BadValue::OutOfRange { value })) => {
                assert!(!(min..=max).contains(&value), "{option} {value} refused");
            }
            Some(Err(BadValue::NotANumber | BadValue::TooLarge)) | None => {}
            Some(Err(_)) => unreachable!("a new BadValue variant needs an oracle"),
        }
        // Present in the typed view exactly when some pair names it.
        let named = pairs.iter().any(|(n, _)| KnownOption::from_name(n) == Some(option));
        assert_eq!(value.is_some(), named, "{option} presence");
    };
    check(KnownOption::Blksize, typed.blksize.map(|r| r.map(u64::from)));
    check(KnownOption::Timeout, typed.timeout.map(|r| r.map(u64::from)));
    check(KnownOption::Tsize, typed.tsize);
    check(KnownOption::Windowsize, typed.windowsize.map(|r| r.map(u64::from)));
    check(KnownOption::Rollover, typed.rollover.map(|r| r.map(u64::from)));

    let unknown = pairs.iter().filter(|(n, _)| KnownOption::from_name(n).is_none()).count();
    assert_eq!(typed.unknown, unknown);
    let distinct = (0..pairs.len())
        .filter(|&i| !pairs[..i].iter().any(|(n, _)| n.eq_ignore_ascii_case(pairs[i].0)))
        .count();
    assert_eq!(typed.duplicates, pairs.len() - distinct);
}

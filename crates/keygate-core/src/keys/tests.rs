use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn demo(kind: KeyKind, env: Environment) -> String {
    key_from_entropy(kind, env, &[42; 32])
}

#[test]
fn generated_keys_have_the_documented_shape() {
    let random = crate::testing::Seeded::new(7);
    for kind in [KeyKind::Secret, KeyKind::Product] {
        for env in Environment::ALL {
            let key = IssuedKey::generate(kind, env, &random).unwrap().text;
            assert_eq!(key.len(), KEY_LEN);
            assert!(key.starts_with(&format!("{}_{}_", kind.prefix(), env.as_str())));
            let parsed = parse_key(&key).unwrap();
            assert_eq!(parsed.kind(), kind);
            assert_eq!(parsed.environment(), env);
            assert_eq!(parsed.as_str(), key);
        }
    }
    assert_ne!(
        IssuedKey::generate(KeyKind::Secret, Environment::Test, &random)
            .unwrap()
            .text,
        IssuedKey::generate(KeyKind::Secret, Environment::Test, &random)
            .unwrap()
            .text
    );
}

#[test]
fn key_pattern_says_38_characters_after_the_prefix() {
    assert_eq!(BODY_LEN + CHECKSUM_LEN, 38);
    assert!(KEY_PATTERN.contains("{38}"));
}

#[test]
fn seeded_keys_are_deterministic_and_valid() {
    let a = demo(KeyKind::Secret, Environment::Test);
    assert_eq!(a, demo(KeyKind::Secret, Environment::Test));
    assert_ne!(
        a,
        key_from_entropy(KeyKind::Secret, Environment::Test, &[43; 32])
    );
    // The body does not depend on kind or environment; the checksum does.
    let pk = demo(KeyKind::Product, Environment::Test);
    assert_eq!(
        a[PREFIX_LEN..KEY_LEN - CHECKSUM_LEN],
        pk[PREFIX_LEN..KEY_LEN - CHECKSUM_LEN]
    );
    assert_ne!(a[KEY_LEN - CHECKSUM_LEN..], pk[KEY_LEN - CHECKSUM_LEN..]);
    parse_key(&pk).unwrap();
}

#[test]
fn fragments_and_hash() {
    let key = demo(KeyKind::Secret, Environment::Live);
    let parsed = parse_key(&key).unwrap();
    assert_eq!(parsed.start(), key[..12]);
    assert!(parsed.start().starts_with("sk_live_"));
    assert_eq!(parsed.end(), key[42..]);
    assert_eq!(parsed.hash(), KeyHash::of(&key));
    let issued = IssuedKey::from_entropy(KeyKind::Secret, Environment::Live, &[42; 32]);
    assert_eq!(issued.text, key);
    assert_eq!(issued.hash, parsed.hash());
    assert_eq!(issued.start, parsed.start());
    assert_eq!(issued.end, parsed.end());
}

#[test]
fn wrong_prefix() {
    for bad in [
        "",
        "sk",
        "sk_test",
        "SK_TEST_aaaa",
        "rk_test_",
        "sk_prod_x",
        "sk-test-x",
        "é",
    ] {
        let e = parse_key(bad).unwrap_err();
        assert_eq!(e.status, 401);
        assert!(
            e.message.contains("does not start with"),
            "{bad}: {}",
            e.message
        );
    }
    // A multi-byte character straddling the prefix boundary must not panic.
    assert_eq!(parse_key("sk_test_\u{e9}").unwrap_err().status, 401);
    assert_eq!(parse_key("sk_tes\u{e9}xxxxxxxx").unwrap_err().status, 401);
}

#[test]
fn wrong_length() {
    let key = demo(KeyKind::Secret, Environment::Test);
    for bad in [&key[..KEY_LEN - 1], &format!("{key}A"), "sk_test_"] {
        let e = parse_key(bad).unwrap_err();
        assert_eq!(e.status, 401);
        assert!(e.message.contains("characters long"), "{}", e.message);
        assert!(!e.message.contains(&key[8..20]));
    }
}

#[test]
fn bad_alphabet() {
    let key = demo(KeyKind::Secret, Environment::Test);
    for replacement in ["-", "_", " ", "\"", "+", "\u{0}"] {
        let bad = format!("{}{}{}", &key[..20], replacement, &key[21..]);
        let e = parse_key(&bad).unwrap_err();
        assert_eq!(e.status, 401);
        assert!(e.message.contains("cannot occur"), "{}", e.message);
    }
    // Same number of characters, more bytes: rejected as alphabet, not sliced mid-char.
    let bad = format!("{}é{}", &key[..20], &key[21..]);
    assert!(
        parse_key(&bad)
            .unwrap_err()
            .message
            .contains("cannot occur")
    );
}

#[test]
fn checksum_mismatch() {
    let key = demo(KeyKind::Secret, Environment::Test);
    let mut bytes = key.clone().into_bytes();
    bytes[10] = if bytes[10] == b'a' { b'b' } else { b'a' };
    let bad = String::from_utf8(bytes).unwrap();
    let e = parse_key(&bad).unwrap_err();
    assert_eq!(e.status, 401);
    assert!(e.message.contains("checksum"), "{}", e.message);
    assert!(e.message.contains("copy-paste"));
    // Changing the environment invalidates the checksum too: the prefix is covered.
    let relabelled = key.replacen("sk_test_", "sk_live_", 1);
    assert!(
        parse_key(&relabelled)
            .unwrap_err()
            .message
            .contains("checksum")
    );
    let relabelled = key.replacen("sk_", "pk_", 1);
    assert!(
        parse_key(&relabelled)
            .unwrap_err()
            .message
            .contains("checksum")
    );
}

/// Exhaustive, so it runs in the browser too (proptest runs natively only): every position,
/// every base62 symbol and a few non-alphabet characters, and every adjacent transposition,
/// for keys of each kind.
#[test]
fn every_single_substitution_or_adjacent_swap_is_rejected() {
    let others = ['-', '_', ' ', '/', '+', '=', '\u{e9}'];
    for (kind, env, seed) in [
        (KeyKind::Secret, Environment::Test, 3u8),
        (KeyKind::Product, Environment::Live, 4),
    ] {
        let key = key_from_entropy(kind, env, &[seed; 32]);
        for position in 0..KEY_LEN {
            let original = char::from(key.as_bytes()[position]);
            let replacements = base62::ALPHABET
                .iter()
                .map(|&b| char::from(b))
                .chain(others);
            for replacement in replacements.filter(|&c| c != original) {
                let mut edited: Vec<char> = key.chars().collect();
                edited[position] = replacement;
                let edited: String = edited.into_iter().collect();
                assert!(parse_key(&edited).is_err(), "{position} -> {replacement:?}");
            }
            if position + 1 < KEY_LEN && key.as_bytes()[position] != key.as_bytes()[position + 1] {
                let mut swapped = key.clone().into_bytes();
                swapped.swap(position, position + 1);
                let swapped = String::from_utf8(swapped).unwrap();
                assert!(parse_key(&swapped).is_err(), "swap at {position}");
            }
        }
    }
}

#[test]
fn hash_hex_round_trip_and_strictness() {
    let h = KeyHash::of("sk_test_x");
    let hex = h.to_hex();
    assert_eq!(hex.len(), 64);
    assert!(
        hex.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(KeyHash::from_hex(&hex), Some(h));
    assert_eq!(KeyHash::from_hex(&hex.to_uppercase()), None);
    assert_eq!(KeyHash::from_hex(&hex[..63]), None);
    assert_eq!(KeyHash::from_hex(&format!("{}g", &hex[..63])), None);
    assert_eq!(KeyHash::from_hex(&format!("{}é", &hex[..62])), None);
    // SHA-256("abc"), the FIPS 180-2 test vector.
    assert_eq!(
        KeyHash::of("abc").to_hex(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn hash_serde_is_a_hex_string() {
    let h = KeyHash::of("k");
    let json = serde_json::to_string(&h).unwrap();
    assert_eq!(json, format!("\"{}\"", h.to_hex()));
    assert_eq!(serde_json::from_str::<KeyHash>(&json).unwrap(), h);
    assert!(serde_json::from_str::<KeyHash>("\"abc\"").is_err());
    assert!(serde_json::from_str::<KeyHash>("42").is_err());
}

#[test]
fn debug_output_never_contains_the_key() {
    let issued = IssuedKey::from_entropy(KeyKind::Secret, Environment::Test, &[9; 32]);
    let parsed = parse_key(&issued.text).unwrap();
    let body = &issued.text[PREFIX_LEN..];
    for rendered in [
        format!("{issued:?}"),
        format!("{parsed:?}"),
        format!("{issued:#?}"),
    ] {
        assert!(!rendered.contains(body), "{rendered}");
        assert!(!rendered.contains(&issued.text[12..30]), "{rendered}");
        assert!(rendered.contains(&issued.start));
    }
}

#[test]
fn environment_serde_and_parse() {
    assert_eq!(
        serde_json::to_string(&Environment::Live).unwrap(),
        "\"live\""
    );
    assert_eq!(
        serde_json::from_str::<Environment>("\"test\"").unwrap(),
        Environment::Test
    );
    assert!(serde_json::from_str::<Environment>("\"Test\"").is_err());
    assert_eq!(Environment::parse("live"), Some(Environment::Live));
    assert_eq!(Environment::parse("prod"), None);
}

#[test]
fn constant_time_eq_semantics() {
    assert!(constant_time_eq(b"token", b"token"));
    assert!(!constant_time_eq(b"token", b"tokem"));
    assert!(!constant_time_eq(b"token", b"token2"));
    assert!(!constant_time_eq(b"", b"x"));
    assert!(constant_time_eq(b"", b""));
}

#[cfg(not(target_arch = "wasm32"))]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn kind() -> impl Strategy<Value = KeyKind> {
        prop_oneof![Just(KeyKind::Secret), Just(KeyKind::Product)]
    }
    fn env() -> impl Strategy<Value = Environment> {
        prop_oneof![Just(Environment::Test), Just(Environment::Live)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn generated_keys_parse_back(kind in kind(), env in env(), seed in any::<[u8; 32]>()) {
            let key = key_from_entropy(kind, env, &seed);
            let parsed = parse_key(&key).unwrap();
            prop_assert_eq!(parsed.kind(), kind);
            prop_assert_eq!(parsed.environment(), env);
            prop_assert_eq!(parsed.hash(), KeyHash::of(&key));
            prop_assert_eq!(parsed.hash(), parse_key(&key).unwrap().hash());
            let re = regex::Regex::new(KEY_PATTERN).unwrap();
            let haystack = format!("token = \"{key}\";");
            prop_assert_eq!(re.find(&haystack).map(|m| m.as_str()), Some(key.as_str()));
        }

        /// CRC32 detects every single-symbol error in a message this short, and a substitution
        /// outside the alphabet or in the prefix fails earlier checks: no edit slips through.
        #[test]
        fn any_single_substitution_is_rejected(
            kind in kind(), env in env(), seed in any::<[u8; 32]>(),
            position in 0..KEY_LEN, replacement in any::<char>(),
        ) {
            let key = key_from_entropy(kind, env, &seed);
            let original = key.as_bytes()[position] as char;
            prop_assume!(replacement != original);
            let mut edited: Vec<char> = key.chars().collect();
            edited[position] = replacement;
            let edited: String = edited.into_iter().collect();
            let e = parse_key(&edited).unwrap_err();
            prop_assert_eq!(e.status, 401);
        }

        #[test]
        fn every_base62_substitution_is_rejected_by_the_checksum(
            seed in any::<[u8; 32]>(), position in PREFIX_LEN..KEY_LEN, symbol in 0usize..62,
        ) {
            let key = key_from_entropy(KeyKind::Secret, Environment::Live, &seed);
            let mut bytes = key.clone().into_bytes();
            prop_assume!(bytes[position] != base62::ALPHABET[symbol]);
            bytes[position] = base62::ALPHABET[symbol];
            let edited = String::from_utf8(bytes).unwrap();
            prop_assert!(parse_key(&edited).unwrap_err().message.contains("checksum"));
        }

        #[test]
        fn random_strings_are_rejected(text in ".{0,60}") {
            prop_assert!(parse_key(&text).is_err());
        }

        #[test]
        fn random_well_shaped_strings_are_rejected(
            prefix in prop_oneof![Just("sk_test_"), Just("sk_live_"), Just("pk_test_"), Just("pk_live_")],
            rest in "[0-9A-Za-z]{38}",
        ) {
            // A random body passes the checksum with probability 2^-32: treat a pass as a bug.
            let text = format!("{prefix}{rest}");
            prop_assert!(parse_key(&text).unwrap_err().message.contains("checksum"));
        }
    }
}

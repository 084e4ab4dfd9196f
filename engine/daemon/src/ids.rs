//! Container IDs and Docker-style generated names.

/// A new 64-hex-character container ID that does not start with a run of digits only
/// (Docker avoids IDs that look like numbers, which `ps -q` users may confuse with PIDs).
pub fn new_container_id() -> String {
    loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the kernel's random source is available");
        let id = hex::encode(bytes);
        if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
            return id;
        }
    }
}

const ADJECTIVES: &[&str] = &[
    "admiring", "agile", "bold", "brave", "busy", "calm", "clever", "cool", "eager", "elated",
    "epic", "focused", "gallant", "gentle", "happy", "hopeful", "jolly", "keen", "kind", "loving",
    "lucid", "modest", "nifty", "noble", "quirky", "relaxed", "serene", "sharp", "stoic", "sweet",
    "tender", "upbeat", "vibrant", "wizardly", "zealous",
];

const SCIENTISTS: &[&str] = &[
    "archimedes",
    "babbage",
    "bohr",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euler",
    "faraday",
    "feynman",
    "galileo",
    "gauss",
    "hopper",
    "hypatia",
    "kepler",
    "knuth",
    "lamport",
    "lovelace",
    "maxwell",
    "meitner",
    "newton",
    "noether",
    "pascal",
    "planck",
    "ritchie",
    "shannon",
    "tesla",
    "thompson",
    "turing",
    "wozniak",
];

/// `adjective_scientist`, like Docker's generated names.
/// `attempt` is how many names were drawn before and found taken: that many random digits
/// are appended, so that a busy daemon still finds a free name quickly.
pub fn random_name(attempt: u32) -> String {
    let mut bytes = [0u8; 2];
    getrandom::fill(&mut bytes).expect("the kernel's random source is available");
    let mut name = format!(
        "{}_{}",
        ADJECTIVES[bytes[0] as usize % ADJECTIVES.len()],
        SCIENTISTS[bytes[1] as usize % SCIENTISTS.len()]
    );
    for _ in 0..attempt {
        let mut digit = [0u8; 1];
        getrandom::fill(&mut digit).expect("the kernel's random source is available");
        name.push(char::from(b'0' + digit[0] % 10));
    }
    name
}

/// How many generated names `create` tries before it reports the conflict.
pub const NAME_ATTEMPTS: u32 = 10;

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_64_hex() {
        let id = super::new_container_id();
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn names_are_valid_container_names() {
        let name = super::random_name(0);
        assert!(crate::container::create::validate_name(&name).is_ok());
        let retried = super::random_name(3);
        assert!(crate::container::create::validate_name(&retried).is_ok());
        let digits = retried
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .count();
        assert_eq!(digits, 3, "{retried}");
    }
}
